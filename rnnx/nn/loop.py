"""The generic time loop: runs any :class:`~rnnx.cells.Cell` over a sequence, forward or
reversed, and its generic backward (BPTT) loop.

Only what the recurrence forces happens per step: the input projections of all steps
arrive precomputed, and the weight gradients are formed after the backward loop from the
per-step pre-activation gradients this module returns.

Variable lengths use a mask ``m`` (T, B, 1), True where ``t < length[b]``:

    s_t = where(m_t, cell(a_t, s_{t-1}), s_{t-1})

so a finished sequence keeps its last valid state, and in reversed time a sequence stays at
its initial state until its last valid step, which is where it starts: a packed sequence.
"""

from __future__ import annotations

from typing import Any, Callable

from rnnx._xp import reshaper, where
from rnnx.backends import capabilities

__all__ = ["project_in_step", "scan", "previous", "run", "run_back"]

Arrays = tuple[Any, ...]


def scan_for(xs: Arrays, xp: Any) -> Callable:
    """The loop to run: the backend's compiled one (``lax.scan``, from its capability record)
    while it stages a program, e.g. under ``jax.jit``, so compile time does not grow with T;
    else :func:`scan` (eager, also eager ``jax.vjp``, where a fresh ``lax.scan`` would
    compile every call)."""
    caps = capabilities(xp)
    if caps.scan is not None and caps.staged(xs[0]):
        return caps.scan
    return scan


def project_in_step(x: Any, xp: Any) -> bool:
    """Whether the input projection ``x_t W_ih^T + b`` goes inside the step instead of being
    hoisted into one product before the loop: a backend's choice (``in_step_projection``),
    made where its compiler does better that way (XLA on CPU), never in eager code."""
    caps = capabilities(xp)
    return caps.staged(x) and caps.in_step_projection()


def scan(
    f: Callable[[Any, Arrays], tuple[Any, Arrays]],
    carry: Any,
    xs: Arrays,
    *,
    reverse: bool = False,
    xp: Any,
) -> tuple[Any, Arrays]:
    """Loop ``carry, y_t = f(carry, x_t)`` over the leading axis of every array in ``xs``.

    The semantics of ``jax.lax.scan``: returns the last carry and the per-step outputs
    stacked along a new leading axis, in time order even when ``reverse=True``.
    """
    split = capabilities(xp).steps  # the backend's, where unstack is slow (eager JAX)
    steps = [xp.unstack(a, axis=0) if split is None else split(a) for a in xs]  # torch: 0.5 us a view, 1.3 indexing
    x_ts = zip(*steps)  # step t's tuple (xs[0][t], xs[1][t], ...), formed in C
    ys = []
    append = ys.append
    for x_t in reversed(list(x_ts)) if reverse else x_ts:
        carry, y = f(carry, x_t)
        append(y)
    if reverse:
        ys.reverse()
    return carry, tuple(_stack(list(col), xp=xp) for col in zip(*ys))


def _steps(a: Any, xp: Any) -> Any:
    """The slices ``a[0], ..., a[T-1]`` the eager loop steps through (as :func:`scan`)."""
    split = capabilities(xp).steps
    return xp.unstack(a, axis=0) if split is None else split(a)


def _stack(arrays: list, *, xp: Any) -> Any:
    """``xp.stack(arrays)`` as one concat and a reshape (NumPy's stack expands every array
    first: 5.0 ms against 2.5 ms for 1000 arrays of (16, 512))."""
    a0 = arrays[0]
    if a0.ndim == 0:
        return xp.stack(arrays, axis=0)
    return reshaper(xp)(xp.concat(arrays, axis=0), (len(arrays), *a0.shape))


def previous(states: Arrays, state0: Arrays, *, reverse: bool, xp: Any) -> Arrays:
    """The state each step started from: s0 then s_0..s_{T-2} (mirrored when reversed);
    s0's new leading axis by indexing (``s0[None, ...]``, a view: no ``expand_dims`` call)."""
    out = []
    for s, s0 in zip(states, state0):
        s0 = s0[None, ...]
        out.append(xp.concat([s[1:, ...], s0]) if reverse else xp.concat([s0, s[:-1, ...]]))
    return tuple(out)


def run(kernel, a_x, state0, rec, *, mask, reverse, xp, keep=True, project=None):
    """Run ``kernel`` (a :class:`~rnnx.cells.spec.Kernel`) over all T steps of one direction.

    a_x (T, B, G*H): input projections with biases folded in (or, with ``project``, the
    inputs (T, B, I) and ``project(x_t)`` forms each step's (B, G*H)); state0: tuple of
    (B, .); rec: the kernel's prepared recurrent parameters; mask (T, B, 1) bool or None.
    Returns (final state, states (tuple of (T, B, .): the first ``kernel.kept`` components),
    saved (tuple of (T, B, ...))); with ``keep=False`` (inference) states holds h alone and
    saved is empty.
    """
    k = kernel.kept  # state components BPTT reads (fused LSTM: h only; its c lives on in ``saved``)
    step = kernel.step

    def f(state, x_t):
        a_t = x_t[0] if project is None else project(x_t[0])
        new, saved = step(a_t, state, rec, xp=xp, save=keep)
        if mask is not None:  # past a sequence's end, keep its state
            new = tuple(xp.where(x_t[1], n, s) for n, s in zip(new, state))
        return new, (new[:k] + saved if keep else new[:1])

    xs = (a_x,) if mask is None else (a_x, mask)
    loop = scan_for(xs, xp)
    if mask is None and project is None and keep and loop is scan:  # the common step, eager: the loop
        state, ys = tuple(state0), []  # written out (scan's f: one call a step fewer)
        append = ys.append
        a_ts = _steps(a_x, xp)
        for a_t in reversed(a_ts) if reverse else a_ts:
            state, saved = step(a_t, state, rec, xp=xp, save=True)
            append(state[:k] + saved)
        if reverse:
            ys.reverse()
        cols = tuple(_stack(list(col), xp=xp) for col in zip(*ys))
        return state, cols[:k], cols[k:]
    final, ys = loop(f, tuple(state0), xs, reverse=reverse, xp=xp)
    return final, ys[:k], ys[k:]


def run_back(kernel, dy, states, saved, state0, recb, dstate, *, mask, reverse, xp, flow=None):
    """Backpropagate through :func:`run` (one direction).

    dy (T, B, R): dL/dh_t from the outputs; states, saved, state0: what :func:`run` gave;
    recb: the kernel's backward parameters; dstate: tuple, dL/d(final state).  Returns
    (dL/d state0, da_x (T, B, G*H), extra (tuple of (T, B, ...): the kernel's further
    per-step arrays), prev (the kept components of the state before each step)); the weight
    gradients are then one product each (``dW_ih = sum da_x^T x``, the kernel's
    ``weight_grads``).

    ``flow`` (None: nothing more is formed): a function of ``ds_cell``, the tuple of
    dL/ds_t per state component that enters step t's cell (h: through the output and the
    next step; c: through the next step; 0 at padded steps), returning a tuple of arrays;
    they become further per-step outputs of the loop and a fifth result (tuple of
    (T, B, ...), in time order).
    """
    k = kernel.kept
    prev = previous(states, state0[:k], reverse=reverse, xp=xp)
    off = 1 if mask is None else 2
    step_back = kernel.step_back

    def g(ds, x_t):
        prev_t, new_t, saved_t = x_t[off : off + k], x_t[off + k : off + 2 * k], x_t[off + 2 * k :]
        ds_cell = (ds[0] + x_t[0],) + tuple(ds[1:])  # h_t feeds the output and the next step
        if mask is not None:  # padded steps: nothing enters the cell, the state passes through
            ds_cell = tuple(where(x_t[1], d, 0.0, xp=xp) for d in ds_cell)
        dprev, da_x, extra = step_back(ds_cell, prev_t, new_t, saved_t, recb, xp=xp)
        if mask is not None:
            dprev = tuple(p + where(x_t[1], 0.0, d, xp=xp) for p, d in zip(dprev, ds))
        if flow is None:
            return dprev, (da_x,) + tuple(extra)
        return dprev, (da_x,) + tuple(extra) + flow(ds_cell)

    xs = (dy,) + (() if mask is None else (mask,)) + prev + tuple(states) + tuple(saved)
    loop = scan_for(xs, xp)
    if mask is None and flow is None and loop is scan:  # the common step, eager: g's arithmetic in
        ds, ys = tuple(dstate), []  # the loop written out (no call of g, no test made per step)
        append = ys.append
        cols = [_steps(a, xp) for a in xs]
        if k == 1 and not saved:  # one kept component, nothing saved (RNN): no tuple slicing a step
            x_ts = list(zip(*cols))
            for dy_t, p_t, n_t in x_ts if reverse else reversed(x_ts):
                ds, da_x, extra = step_back((ds[0] + dy_t,) + tuple(ds[1:]), (p_t,), (n_t,), (), recb, xp=xp)
                append((da_x,) + tuple(extra))
        else:
            x_ts = list(zip(*cols))  # step t's (dy_t, prev_t..., new_t..., saved_t...)
            for x_t in x_ts if reverse else reversed(x_ts):
                ds, da_x, extra = step_back((ds[0] + x_t[0],) + tuple(ds[1:]), x_t[1 : 1 + k],
                                            x_t[1 + k : 1 + 2 * k], x_t[1 + 2 * k :], recb, xp=xp)
                append((da_x,) + tuple(extra))
        if not reverse:
            ys.reverse()
        das = tuple(_stack(list(col), xp=xp) for col in zip(*ys))
        return ds, das[0], das[1:], prev
    dstate0, das = loop(g, tuple(dstate), xs, reverse=not reverse, xp=xp)
    if flow is None:
        return dstate0, das[0], das[1:], prev
    n = len(dstate)
    return dstate0, das[0], das[1:-n], prev, das[-n:]
