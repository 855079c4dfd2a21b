"""The explicit BPTT against ``jax.vjp`` of rnnx's own forward on JAX (float64, <= 1e-12),
and the JAX forward and backward under ``jax.jit`` against eager."""

from __future__ import annotations

import pytest

from rnnx.testing.harness import Case, assert_close, data, flatten, run_rnnx
from rnnx.testing.harness import hidden_state_cases as all_cases  # its zero states have size H
from rnnx.backends import Target

JAX = Target("jax", "cpu")
if JAX.unavailable():
    pytest.skip(f"jax unavailable: {JAX.unavailable()}", allow_module_level=True)
jnp = JAX.namespace()
import jax  # noqa: E402  (after the backend module has switched on float64)

TOL = 1e-12


def _conv(s):
    if s is None:
        return None
    return tuple(jnp.asarray(a) for a in s) if isinstance(s, tuple) else jnp.asarray(s)


def autodiff(case, d):
    """Gradients of <y, dy> + <state, dstate> by jax.vjp through rnnx's forward."""
    layer = case.layer()
    D = 2 if case.bidirectional else 1
    zeros = jnp.zeros((case.num_layers * D, 3, 3), dtype=jnp.float64)
    s0 = _conv(d.state0) if d.state0 is not None else ((zeros, zeros) if case.state_size == 2 else zeros)
    lengths = None if d.lengths is None else jnp.asarray(d.lengths)

    def f(params, x, s0):
        return layer(params, x, s0, lengths=lengths)

    params = {k: jnp.asarray(v) for k, v in d.params.items()}
    (y, state), vjp = jax.vjp(f, params, jnp.asarray(d.x), s0)
    dparams, dx, ds0 = vjp((jnp.asarray(d.dy), _conv(d.dstate)))
    return flatten(case, y, state, dparams, dx, ds0)


@pytest.mark.parametrize("case", all_cases(), ids=lambda c: c.id)
def test_explicit_bptt_matches_jax_vjp(case):
    d = data(case)
    got = run_rnnx(case, d, convert=jnp.asarray)
    assert_close(got, autodiff(case, d), out_tol=TOL, grad_tol=TOL, what=case.id)


JIT_CASES = [
    Case(c, num_layers=2, bidirectional=True, batch_first=bf, bias=b, state0=s, lengths=ln)
    for c in ("rnn_tanh", "rnn_relu", "lstm", "gru", "gru_reset_before")
    for bf, b, s, ln in ((False, True, True, True), (True, False, False, False))
]


@pytest.mark.parametrize("projection", ["in_step", "hoisted"])
@pytest.mark.parametrize("case", JIT_CASES, ids=lambda c: c.id)
def test_forward_and_backward_under_jit(case, projection, monkeypatch):
    """Traced end to end (no Python float()/bool() on arrays, cache as a pytree), with the
    input projection inside the compiled step (XLA CPU's default) or hoisted before it."""
    monkeypatch.setenv("RNNX_JAX_PROJECTION", projection)
    d = data(case)
    layer = case.layer()
    params = {k: jnp.asarray(v) for k, v in d.params.items()}
    lengths = None if d.lengths is None else jnp.asarray(d.lengths)
    fwd = jax.jit(lambda p, x, s0, n: layer.forward(p, x, s0, lengths=n))
    bwd = jax.jit(layer.backward)
    y, state, cache = fwd(params, jnp.asarray(d.x), _conv(d.state0), lengths)
    dparams, dx, ds0 = bwd(params, cache, jnp.asarray(d.dy), _conv(d.dstate))
    got = flatten(case, y, state, dparams, dx, ds0)
    eager = run_rnnx(case, d, convert=jnp.asarray)
    assert_close(got, eager, out_tol=1e-13, grad_tol=1e-13, what=case.id)


def test_jit_uses_lax_scan_so_the_program_does_not_grow_with_T():
    """Under jit the loop is a lax.scan: the traced program has the same size for T=5 and
    T=200, and gives the eager numbers."""
    import numpy as np

    import rnnx

    layer = rnnx.LSTM(3, 4, num_layers=2, bidirectional=True)
    p = layer.init_params(jnp, seed=1, dtype=jnp.float64)

    def size(T):
        x = jnp.ones((T, 2, 3))

        def f(p, x):
            y, s, cache = layer.forward(p, x)
            return layer.backward(p, cache, y)

        jaxpr = jax.make_jaxpr(f)(p, x)
        return len(jaxpr.eqns), str(jaxpr).count("scan")

    (n5, s5), (n200, s200) = size(5), size(200)
    assert n5 == n200 and s5 == s200 >= 8  # 2 layers x 2 directions x (forward + backward)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((9, 2, 3)))
    y_eager, _ = layer(p, x)
    y_jit, _ = jax.jit(layer.__call__)(p, x)
    assert float(jnp.max(jnp.abs(y_eager - y_jit))) <= 1e-14


def test_projection_placement_is_the_backends_choice(monkeypatch):
    """On CPU the compiled step forms x_t W_ih^T itself: no (T, B, G*H) projection of all
    steps in the program; hoisted on request; a bad override names the variable."""
    import rnnx

    T, B, I, H = 7, 2, 3, 5
    layer = rnnx.LSTM(I, H)
    p = layer.init_params(jnp, seed=0, dtype=jnp.float64)
    x = jnp.ones((T, B, I))

    def hoisted_shapes():
        jaxpr = jax.make_jaxpr(lambda p, x: layer(p, x)[0])(p, x)
        return [e for e in jaxpr.jaxpr.eqns if e.primitive.name == "dot_general"
                and tuple(e.outvars[0].aval.shape) in ((T * B, 4 * H), (T, B, 4 * H))]

    monkeypatch.setenv("RNNX_JAX_PROJECTION", "in_step")
    assert hoisted_shapes() == []
    monkeypatch.setenv("RNNX_JAX_PROJECTION", "hoisted")
    assert len(hoisted_shapes()) == 1
    monkeypatch.setenv("RNNX_JAX_PROJECTION", "inside")
    with pytest.raises(ValueError, match="RNNX_JAX_PROJECTION.*'inside'"):
        jax.jit(lambda p, x: layer(p, x)[0])(p, x)


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_one_input_feature_in_step_matches_eager(cls, monkeypatch):
    """I = 1 (the sine-wave workloads): the in-step projection is a broadcast multiply;
    forward and gradients under jit equal the eager (hoisted) ones."""
    import numpy as np

    import rnnx

    monkeypatch.setenv("RNNX_JAX_PROJECTION", "in_step")
    layer = getattr(rnnx, cls)(1, 6)
    p = layer.init_params(jnp, seed=3, dtype=jnp.float64)
    rng = np.random.default_rng(3)
    x, dy = jnp.asarray(rng.standard_normal((8, 4, 1))), jnp.asarray(rng.standard_normal((8, 4, 6)))

    def both(p, x, dy):
        y, _, cache = layer.forward(p, x)
        return y, layer.backward(p, cache, dy)

    eager, jitted = both(p, x, dy), jax.jit(both)(p, x, dy)
    for a, b in zip(jax.tree_util.tree_leaves(eager), jax.tree_util.tree_leaves(jitted)):
        assert float(jnp.max(jnp.abs(a - b))) <= 1e-13


def test_eager_loop_slices_steps_by_indexing_not_jnp_unstack(monkeypatch):
    """Eager JAX (issue 28): ``jnp.unstack`` compiles one T-output program per shape (7.8 s
    at T=500), so the eager loop takes its per-step slices from the backend's ``steps``
    (indexing); the slices equal ``jnp.unstack``'s, eager LSTM results and ``jax.vjp``
    through the forward stay as they were, and under ``jax.jit`` (one program) unstack is
    used and the results equal the eager ones."""
    import numpy as np

    import rnnx
    from rnnx.backends import capabilities

    steps = capabilities(jnp).steps
    a = jnp.asarray(np.random.default_rng(0).standard_normal((5, 2, 3)))
    want = jnp.unstack(a, axis=0)
    calls = []
    unstack = jnp.unstack

    def counted(*args, **kwargs):
        calls.append(args[0].shape)
        return unstack(*args, **kwargs)

    monkeypatch.setattr(jax.numpy, "unstack", counted)
    got = steps(a)
    assert len(got) == len(want) == 5 and calls == []
    for g, w in zip(got, want):
        assert g.shape == w.shape == (2, 3) and bool(jnp.all(g == w))

    layer = rnnx.LSTM(3, 4)
    p = layer.init_params(jnp, seed=2, dtype=jnp.float64)
    x = jnp.asarray(np.random.default_rng(1).standard_normal((6, 2, 3)))
    y, state, cache = layer.forward(p, x)
    dp, dx, ds0 = layer.backward(p, cache, y)
    y_vjp, vjp = jax.vjp(lambda p, x: layer(p, x)[0], p, x)
    vjp(y_vjp)
    assert calls == []  # the eager loop (forward, BPTT, and under an eager vjp) never called jnp.unstack
    assert float(jnp.max(jnp.abs(y_vjp - y))) == 0.0

    # staged: one program, unstack is cheap there and is what steps uses
    assert bool(jnp.all(jax.jit(lambda a: jnp.stack(steps(a)))(a) == a)) and calls == [(5, 2, 3)]
    y_jit, _, cache_jit = jax.jit(layer.forward)(p, x)
    dp_jit, dx_jit, _ = jax.jit(layer.backward)(p, cache_jit, y_jit)
    assert float(jnp.max(jnp.abs(y_jit - y))) <= 1e-14 and float(jnp.max(jnp.abs(dx_jit - dx))) <= 1e-13
