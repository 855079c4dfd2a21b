"""Run in a fresh process (4 forced host devices, float64): rnnx.training.distributed against one
device.  Prints one JSON line per check:

- ``grads``: :func:`rnnx.training.distributed.loss_and_grad` (batch split over 4 devices) against
  ``Model.loss_and_grad`` on one, and the collectives of its compiled program;
- ``jit``: plain ``jax.jit`` of ``Model.loss_and_grad`` with x batch-sharded and the
  params replicated (no shard_map): the gradients and the program's collectives;
- ``fit``: three epochs (Adam, clip-norm, lengths, a validation split, a short last batch
  that does not split over 4 and is padded) with ``DataParallel(4)`` against one device,
  the trainer's update program's collectives (and the all-reduce's operand size), and a
  run stopped after two epochs and resumed from its checkpoint against the uninterrupted one.

``python data_parallel.py [grads|jit|fit] [CASE ...]``: with no case names, every case.
"""

import os
import sys

os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"

import json  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import tempfile  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import Mesh, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import rnnx  # noqa: E402
from rnnx.training import distributed  # noqa: E402
from rnnx import optim  # noqa: E402
from rnnx.training.strategies import make_apply
from rnnx.training import strategies  # noqa: E402

#: 5 cells (rnn tanh and relu, lstm, lstm with a projection, gru) x layers, directions,
#: lengths, many-to-one / many-to-many, memory checkpointing.
CASES = {
    "rnn-tanh": dict(cell="rnn"),
    "rnn-relu-L2-lengths": dict(cell="rnn", nonlinearity="relu", num_layers=2, lengths=True),
    "lstm-bi-m2m-lengths": dict(cell="lstm", bidirectional=True, objective="many-to-many", lengths=True),
    "lstm-proj-L2-ckpt": dict(cell="lstm", proj_size=3, num_layers=2, checkpoint=4),
    "gru-L2-bi-lengths": dict(cell="gru", num_layers=2, bidirectional=True, lengths=True),
    "gru-m2m-ckpt": dict(cell="gru", objective="many-to-many", checkpoint=3),
    "lstm-proj-bi-m2m": dict(cell="lstm", proj_size=2, bidirectional=True, objective="many-to-many"),
    "rnn-relu-bi-m2m-lengths-ckpt": dict(cell="rnn", nonlinearity="relu", bidirectional=True,
                                         objective="many-to-many", lengths=True, checkpoint=5),
}
T, B, I, H, O = 12, 16, 3, 5, 2
KINDS = ("all-gather", "all-reduce", "all-to-all", "collective-permute", "reduce-scatter")


def _ops(text: str, kind: str) -> list[str]:
    """The instructions of opcode ``kind`` (``kind(`` or ``kind-start(`` after the result shape)."""
    return [line for line in text.splitlines() if re.search(r"[\])}] " + kind + r"(?:-start)?\(", line)]


def collectives(text: str) -> dict:
    """How many of each collective the optimised HLO holds."""
    return {k: len(_ops(text, k)) for k in KINDS}


def all_reduce_sizes(text: str) -> list[int]:
    """The element counts of every all-reduce operand (f64[6,15] -> 90)."""
    sizes = []
    for line in _ops(text, "all-reduce"):
        shapes = line.split("=", 1)[1].split(" all-reduce", 1)[0]
        sizes += [math.prod(int(d) for d in dims.split(",") if d) for dims in re.findall(r"\[([0-9,]*)\]", shapes)]
    return sizes


def data(spec: dict, n: int = B, seed: int = 0):
    spec = dict(spec)
    lengths = spec.pop("lengths", False)
    model = rnnx.Model(spec.pop("cell"), I, H, O, **spec)
    rng = np.random.default_rng(seed)
    m2m = model.objective == "many-to-many"
    x = jnp.asarray(rng.standard_normal((T, n, I)))
    y = jnp.asarray(rng.standard_normal((T, n, O) if m2m else (n, O)))
    ln = jnp.asarray(rng.integers(3, T + 1, size=n)) if lengths else None
    return model, x, y, ln


def worst(a: dict, b: dict) -> tuple[float, float]:
    """max |a - b| over every parameter, and max |b| (the scale)."""
    return (max(float(np.max(np.abs(np.asarray(a[k]) - np.asarray(b[k])))) for k in b),
            max(float(jnp.max(jnp.abs(jnp.asarray(b[k])))) for k in b))


def nonzero_state(model, seed=2):
    """Parameters with every bias non-zero (init draws them uniform: already non-zero)."""
    return model.init_params(jnp, seed=seed, dtype=jnp.float64, device=jax.devices()[0])


def layer_grads(spec: dict, sharded: bool) -> tuple[dict, dict]:
    """The recurrent layer's own BPTT with a non-zero initial state, ``checkpoint`` as the
    case says, L = sum(y * w): (one device's grads, 4 devices' grads under shard_map + psum)."""
    spec = dict(spec)
    k = spec.pop("checkpoint", None)
    spec.pop("objective", None)
    model, x, _, ln = data(spec)
    layer = model.layer
    rng = np.random.default_rng(7)
    p = {k_: v for k_, v in nonzero_state(model).items() if k_ not in ("weight_hy", "bias_y")}
    y0, st0, _ = layer.forward(p, x)
    w = jnp.asarray(rng.standard_normal(y0.shape))
    s0 = jax.tree.map(lambda a: jnp.asarray(rng.standard_normal(a.shape)), st0)

    def grads(p, x, s0, w, ln):
        y, _, cache = layer.forward(p, x, s0, lengths=ln, checkpoint=k)
        return layer.backward(p, cache, w)[0]

    g1 = grads(p, x, s0, w, ln)
    mesh = Mesh(np.array(jax.devices()), ("b",))
    local = lambda *a: jax.tree.map(lambda g: jax.lax.psum(g, "b"), grads(*a))  # noqa: E731
    spec_s0 = jax.tree.map(lambda _: P(None, "b", None), s0)
    f = jax.jit(jax.shard_map(local, mesh=mesh, in_specs=(P(), P(None, "b", None), spec_s0, P(None, "b", None),
                                                          P("b")), out_specs=P()))
    return g1, f(*jax.device_put((p, x, s0, w, ln), NamedSharding(mesh, P())))


def check_grads(name: str, spec: dict) -> dict:
    lg1, lg4 = layer_grads(spec, True)
    ld = worst(lg4, lg1)
    spec = {k: v for k, v in spec.items() if k != "checkpoint"}
    model, x, y, ln = data(spec)
    p = nonzero_state(model)
    l1, g1, _ = model.loss_and_grad(p, x, y, lengths=ln)
    strategy = distributed.DataParallel(4)
    l4, g4 = distributed.loss_and_grad(model, p, x, y, lengths=ln, distribution=strategy)
    par = distributed.plan(strategy, jnp, batch_size=B, tbptt=None, diagnostics=None, model=model, loss_name="mse")
    fn = rnnx.losses.for_training("mse")
    name_ = fn.name

    def local(p, x, y, lengths):
        return distributed._reduced(model, p, x, y, lengths, None, loss_name=name_, loss_fn=fn, seed=None, xp=jnp,
                                    all_sum=par.all_sum)

    y_axis = 1 if model.objective == "many-to-many" else 0
    run = par.data_parallel(local, par.devices, (None, 1, y_axis, 0))
    text = run.lower(*par.place((p, x, y, ln))).compile().as_text()
    d, scale = worst(g4, g1)
    n_params = sum(int(np.prod(s)) for s in model.param_shapes().values())
    return {"check": "grads", "case": name, "loss": abs(float(l4) - float(l1)), "grads": d, "scale": scale,
            "layer_grads": ld[0], "layer_scale": ld[1],
            "collectives": collectives(text), "all_reduce_sizes": all_reduce_sizes(text), "n_params": n_params}


def check_jit(name: str, spec: dict) -> dict:
    spec = {k: v for k, v in spec.items() if k != "checkpoint"}
    model, x, y, ln = data(spec)
    p = nonzero_state(model)
    l1, g1, _ = model.loss_and_grad(p, x, y, lengths=ln)
    mesh = Mesh(np.array(jax.devices()), ("b",))
    put = lambda a, s: None if a is None else jax.device_put(a, NamedSharding(mesh, s))  # noqa: E731
    m2m = model.objective == "many-to-many"
    args = (jax.device_put(p, NamedSharding(mesh, P())), put(x, P(None, "b", None)),
            put(y, P(None, "b", None) if m2m else P("b", None)), put(ln, P("b")))
    f = jax.jit(lambda p, x, y, ln: model.loss_and_grad(p, x, y, lengths=ln)[:2])
    l4, g4 = f(*args)
    text = f.lower(*args).compile().as_text()
    d, scale = worst(g4, g1)
    n_params = sum(int(np.prod(s)) for s in model.param_shapes().values())
    return {"check": "jit", "case": name, "loss": abs(float(l4) - float(l1)), "grads": d, "scale": scale,
            "collectives": collectives(text), "all_reduce_sizes": all_reduce_sizes(text), "n_params": n_params}


def check_fit(name: str, spec: dict) -> dict:
    spec = {k: v for k, v in spec.items() if k != "checkpoint"}
    model, x, y, ln = data(spec, n=83, seed=1)  # 83 - 16 validation = 67 training = 4 x 16 + 3 (padded to 4)
    xb = jnp.swapaxes(x, 0, 1)
    yb = jnp.swapaxes(y, 0, 1) if model.objective == "many-to-many" else y
    kw = dict(lengths=ln, epochs=3, batch_size=16, optimizer=optim.Adam(lr=0.01), clip_norm=0.3,
              validation_split=0.2, seed=5)
    one = rnnx.fit(model, xb, yb, **kw)
    strategy = distributed.DataParallel(4)
    four = rnnx.fit(model, xb, yb, distribution=strategy, **kw)
    four_1 = rnnx.fit(model, xb, yb, distribution=strategy, steps_per_execution=1, **kw)
    d, scale = worst(four.params, one.params)
    hist = max(abs(a[k] - b[k]) for a, b in zip(one.history, four.history) for k in ("loss", "val_loss"))
    spe = worst(four_1.params, four.params)[0]
    with tempfile.TemporaryDirectory() as tmp:
        ck = os.path.join(tmp, "state.npz")
        rnnx.fit(model, xb, yb, distribution=strategy, checkpoint=ck, **{**kw, "epochs": 2})
        resumed = rnnx.fit(model, xb, yb, distribution=strategy, resume=ck, **kw)
    bits = all(bool(jnp.all(resumed.params[k] == four.params[k])) for k in four.params)
    bits = bits and [h["loss"] for h in resumed.history] == [h["loss"] for h in four.history]
    # the trainer's update program: the one it compiles (same functions, same arguments)
    par = distributed.plan(strategy, jnp, batch_size=16, tbptt=None, diagnostics=None, model=model,
                           loss_name="mse")
    fn = rnnx.losses.for_training("mse")
    name_ = fn.name
    opt = optim.Adam(lr=0.01)
    apply = make_apply(opt, clip_value=None, clip_norm=0.3, xp=jnp)
    step = distributed.make_step(model, apply, name_, fn, y_axis=1 if model.objective == "many-to-many" else 0,
                                 index_dtype=jnp.int64, xp=jnp, all_sum=par.all_sum)
    prog = strategies.spmd(par, step, split=(0, None))
    p = model.init_params(jnp, seed=5, dtype=jnp.float64, device=jax.devices()[0])
    s = optim.as_arrays(opt.init(p), xp=jnp, device=jax.devices()[0], params=p)
    zero = jnp.zeros((), jnp.float64)
    args = par.place((p, s, zero, jnp.zeros((), jnp.int64), x, y, ln, jnp.arange(16), None))
    text = prog.lower(*args).compile().as_text()
    n_params = sum(int(np.prod(v)) for v in model.param_shapes().values())
    return {"check": "fit", "case": name, "params": d, "scale": scale, "history": hist, "spe": spe,
            "resume_bits": bits, "collectives": collectives(text), "all_reduce_sizes": all_reduce_sizes(text),
            "n_params": n_params}


def check_errors(name: str, spec: dict) -> dict:
    """The refusals that need several devices: their messages."""
    model, x, y, ln = data(spec, n=24)
    xb = jnp.swapaxes(x, 0, 1)
    out = {}
    for key, kw in {"batch": dict(distribution=distributed.DataParallel(4), batch_size=6),
                    "too-many": dict(distribution=distributed.DataParallel(9), batch_size=8)}.items():
        try:
            rnnx.fit(model, xb, y, epochs=1, **kw)
            out[key] = None
        except Exception as e:  # noqa: BLE001 - the message is the result
            out[key] = f"{type(e).__name__}: {e}"
    return {"check": "errors", "case": name, **out}


CHECKS = {"grads": check_grads, "jit": check_jit, "fit": check_fit, "errors": check_errors}

if __name__ == "__main__":
    jax.config.update("jax_enable_x64", True)
    what = sys.argv[1:] or ["grads"]
    check, names = CHECKS[what[0]], what[1:] or list(CASES)
    for name in names:
        print(json.dumps(check(name, CASES[name])), flush=True)
