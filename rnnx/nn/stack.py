"""Layers x directions: runs the generic loop for each, wiring outputs to inputs.

Layout here is always time-major: x (T, B, I), y (T, B, D*R), states (L*D, B, .) with
index ``l * D + d`` as in PyTorch (R: the size of h, H or an LSTM's proj_size).  Per layer
and direction, for any cell's :class:`~rnnx.cells.spec.Kernel`:

    a_x = x W_ih^T + b_x                  one (T*B, I) x (I, G*H) product before the loop
    (loop)                                only h W_hh^T and the cell per step
    dW_ih = da_x^T x,  dx = da_x W_ih,  the kernel's weight_grads (dW_hh = da_h^T h_prev...)
                                          one product each after the backward loop

Dropout between layers (training): layer l > 0 takes ``mask_l * y_{l-1}``, the mask drawn
from (seed, l) by :mod:`rnnx.random`, and the backward multiplies the gradient into its
input by the same mask (kept in the cache).

Memory-bounded BPTT (``checkpoint=k``): the forward keeps only the state at the start of
every k-step segment (and each layer's input); the backward recomputes one segment at a
time, backpropagates through it, and adds that segment's weight-gradient products.  The
cache then holds O(T/k) states instead of O(T) states and gate activations, and the
backward holds O(k) of them at once; the price is a second forward pass.
"""

from __future__ import annotations

import math
from typing import Any

import array_api_compat as compat

from rnnx._xp import matrix_t, outer_sum, rows_product, where
from rnnx.nn.loop import project_in_step, run, run_back
from rnnx.random import dropout_mask

__all__ = ["segment_length", "forward", "COLLECT", "backward", "cache_nbytes"]


def _mm_time(a: Any, w_t: Any, *, xp: Any) -> Any:
    """(T, B, K) x (K, N) -> (T, B, N) as one 2-D product (K = 1, e.g. one input feature:
    a broadcast multiply, 2.8x faster than OpenBLAS's K=1 product at (4375, 1) x (1, 400))."""
    if a.shape[-1] == 1:
        return a * w_t[0, :]
    return rows_product(a, w_t, xp=xp)


def segment_length(checkpoint: Any, T: int) -> int | None:
    """``None``/``0`` (keep everything), an int k >= 1, or ``"sqrt"`` (k = ceil(sqrt(T)))."""
    if checkpoint is None or checkpoint is False or checkpoint == 0:
        return None
    if checkpoint == "sqrt":
        return max(1, math.ceil(math.sqrt(T)))
    if isinstance(checkpoint, bool) or not isinstance(checkpoint, int) or checkpoint < 1:
        raise ValueError(f"checkpoint: expected None, a segment length >= 1 or 'sqrt', got {checkpoint!r}")
    return checkpoint


def _segments(T: int, k: int | None) -> list[tuple[int, int]]:
    k = T if k is None else k
    return [(a, min(a + k, T)) for a in range(0, T, k)]


class _Direction:
    """One layer and direction: its kernel, its parameters (by base name) and orientation."""

    def __init__(self, kernel, params, keys: dict[str, str], reverse: bool, bias: bool, *, xp):
        self.kernel, self.xp, self.reverse, self.bias, self.keys = kernel, xp, reverse, bias, keys
        self.p = {base: params[key] for base, key in keys.items()}
        self._fw_cache: tuple[Any, Any, Any] | None = None

    @property
    def _fw(self) -> tuple[Any, Any, Any]:
        """What the forward uses, formed on its first use (a backward pass without
        recomputation needs none of it): W_ih^T times the kernel's exact column factors
        (if any), the bias folded into the hoisted projection, the recurrent parameters.
        (A plain attribute test: ``functools.cached_property`` takes a lock on Python 3.11.)"""
        if self._fw_cache is None:
            b_x, rec, scale = self.kernel.prepare(self.p, xp=self.xp, bias=self.bias)
            w_ih_t = matrix_t(self.p["weight_ih"], xp=self.xp)
            self._fw_cache = (w_ih_t if scale is None else w_ih_t * scale), b_x, rec
        return self._fw_cache

    def a_x(self, x):
        """Hoisted input projection of a span of steps: one product."""
        w_ih_t, b_x, _ = self._fw
        a = _mm_time(x, w_ih_t, xp=self.xp)
        return a if b_x is None else a + b_x

    def project(self, x_t):
        """One step's input projection, where the backend wants it inside the step."""
        w_ih_t, b_x, _ = self._fw
        a = x_t * w_ih_t[0, :] if x_t.shape[-1] == 1 else x_t @ w_ih_t  # I = 1: fuses into the step
        return a if b_x is None else a + b_x

    def forward(self, x, s0, mask, keep=True):
        rec = self._fw[2]
        if project_in_step(x, self.xp):
            return run(self.kernel, x, s0, rec, mask=mask, reverse=self.reverse, xp=self.xp, keep=keep,
                       project=self.project)
        return run(self.kernel, self.a_x(x), s0, rec, mask=mask, reverse=self.reverse, xp=self.xp, keep=keep)

    def backward(self, x, dy, states, saved, s0, ds, mask, flow=None, input_grad=True):
        """BPTT through a span whose forward gave ``states, saved``; returns dL/d(s0), the
        span's gradients (one product each) and its dx, None with ``input_grad=False`` (and,
        with ``flow``, the per-step flows :func:`rnnx.nn.loop.run_back` formed)."""
        xp, kernel = self.xp, self.kernel
        recb = kernel.prepare_back(self.p, xp=xp)
        ds0, da_x, extra, prev, *flows = run_back(kernel, dy, states, saved, s0, recb, ds, mask=mask,
                                                  reverse=self.reverse, xp=xp, flow=flow)
        g: dict[str, Any] = {}
        dw_ih, db_ih = outer_sum(da_x, x, xp=xp, bias=self.bias)  # dW_ih = sum_{t,b} da_x^T x, db_ih = sum_{t,b} da_x
        g["weight_ih"] = dw_ih
        if self.bias:
            g["bias_ih"] = db_ih
        g.update(kernel.weight_grads(da_x, tuple(extra), tuple(prev), tuple(saved), xp=xp, bias=self.bias))
        dx = rows_product(da_x, self.p["weight_ih"], xp=xp) if input_grad else None  # dx = da_x W_ih
        if flow is None:
            return ds0, {self.keys[b]: v for b, v in g.items()}, dx
        return ds0, {self.keys[b]: v for b, v in g.items()}, dx, flows[0]


def _stack0(arrays: list, *, xp) -> Any:
    """``xp.stack(arrays, axis=0)``; one array (one layer, one direction) as the view
    ``a[None, ...]`` (the standard's new axis by indexing), the same values without stack's
    per-array expansion and copy, nor NumPy's ``expand_dims`` axis normalisation (~2.5 us)."""
    return arrays[0][None, ...] if len(arrays) == 1 else xp.stack(arrays, axis=0)


def _sl(a, lo, hi):
    return None if a is None else a[lo:hi, ...]


def _dropout(a, seed, layer: int, p: float, *, xp):
    """The dropout mask of layer ``layer``'s input (T, B, F), drawn from (seed, layer)."""
    return dropout_mask(seed, layer, tuple(a.shape), p, xp=xp, dtype=a.dtype, device=compat.device(a))


def forward(kernel, params, keys, x, state0, mask, *, num_layers, num_directions, bias, xp, checkpoint=None,
            keep=True, dropout=0.0, seed=None):
    """Returns y (T, B, D*R), final state (tuple of (L*D, B, .)) and the cache dict
    (``keep=False``, inference: nothing kept for a backward pass, cache None).

    keys[layer][d]: that direction's parameter keys by base name.  ``dropout`` > 0 with a
    ``seed`` (training): every layer's input but the first is multiplied by a mask drawn
    from (seed, layer), ``1/(1-p)`` where kept, as torch's ``dropout=`` between layers."""
    D, T = num_directions, x.shape[0]
    k = segment_length(checkpoint, T)
    inp, layers = x, []
    finals: list[list[Any]] = [[] for _ in state0]
    for layer in range(num_layers):
        drop = None
        if layer > 0 and dropout > 0.0 and seed is not None:
            drop = _dropout(inp, seed, layer, dropout, xp=xp)
            inp = inp * drop  # h_{l-1} -> dropout -> layer l
        outs, dirs = [], []
        for d in range(D):
            run_d = _Direction(kernel, params, keys[layer][d], d == 1, bias, xp=xp)
            s0 = tuple(s[layer * D + d, ...] for s in state0)
            if not keep:  # inference: outputs and final state only
                final, (h,), _ = run_d.forward(inp, s0, mask, keep=False)
            elif k is None:  # keep every state and activation
                final, states, saved = run_d.forward(inp, s0, mask)
                h = states[0]
                dirs.append({"state0": s0, "states": states, "saved": saved})
            else:  # keep the state at each segment's start only
                segs = _segments(T, k)
                st, bounds, hs = s0, {}, {}
                for a, b in reversed(segs) if run_d.reverse else segs:
                    bounds[a] = st
                    st, (hs[a],), _ = run_d.forward(inp[a:b, ...], st, _sl(mask, a, b), keep=False)
                final, h = st, xp.concat([hs[a] for a, _ in segs], axis=0)
                dirs.append({"state0": s0, "bounds": [bounds[a] for a, _ in segs]})
            outs.append(h if mask is None else where(mask, h, 0.0, xp=xp))
            for j, f in enumerate(final):
                finals[j].append(f)
        layers.append({"x": inp, "dirs": dirs} if drop is None else {"x": inp, "dirs": dirs, "dropout": drop})
        inp = outs[0] if D == 1 else xp.concat(outs, axis=-1)
    final_state = tuple(_stack0(f, xp=xp) for f in finals)
    return inp, final_state, ({"layers": layers, "mask": mask} if keep else None)


COLLECT = ("norms", "units")


def _norm(a, *, xp):
    """Euclidean norm over the last axis: sqrt(sum a^2)."""
    return xp.sqrt(xp.sum(a * a, axis=-1))


def flow_function(collect: str, *, xp):
    """What :func:`rnnx.nn.loop.run_back` keeps per step and state component: each gradient's
    norm over its units (``"norms"``, (B,)) or the gradient itself (``"units"``, (B, n))."""
    if collect == "norms":
        return lambda ds: tuple(_norm(d, xp=xp) for d in ds)
    return tuple


def backward(kernel, params, keys, cache, dy, dstate, *, num_layers, num_directions, bias, xp, checkpoint=None,
             collect=None, input_grad=True):
    """Explicit BPTT through :func:`forward`.

    dy (T, B, D*R): dL/dy; dstate: tuple of (L*D, B, .), dL/d(final state).
    Returns (dparams keyed like params, dx (T, B, I), dstate0 tuple of (L*D, B, .)).

    ``collect`` (``"norms"`` or ``"units"``; None forms nothing more): a fourth result, the
    gradient flow ``{"state": tuple per state component of (L, D, T, B) norms or
    (L, D, T, B, n) gradients, "x": per layer (D, T, B) norms or (D, T, B, I_l)
    gradients}`` (layer l's input: I_0 = I, else D*R), every direction in forward time
    order (checkpointed segments concatenated).

    ``input_grad=False`` (and no ``collect``): dx is not formed (None in its place), one
    product fewer per direction for a caller that discards it (:meth:`rnnx.nn.model.Model.loss_and_grad`).
    """
    D, mask, T = num_directions, cache["mask"], dy.shape[0]
    k = segment_length(checkpoint, T)
    R = dy.shape[-1] // D
    flow = None if collect is None else flow_function(collect, xp=xp)
    grads: dict[str, Any] = {}
    dstate0: list[list[Any]] = [[None] * (num_layers * D) for _ in dstate]
    if flow is not None:
        state_flow: list[list[Any]] = [[None] * (num_layers * D) for _ in dstate]  # [component][l * D + d]
        x_flow: list[Any] = [None] * num_layers
    dout = dy
    for layer in reversed(range(num_layers)):
        lc = cache["layers"][layer]
        inp, din, x_dirs = lc["x"], None, []
        need_dx = input_grad or layer > 0 or flow is not None
        for d in range(D):
            dc, run_d = lc["dirs"][d], _Direction(kernel, params, keys[layer][d], d == 1, bias, xp=xp)
            ds = tuple(s[layer * D + d, ...] for s in dstate)
            dy_d = dout[..., d * R : (d + 1) * R]
            if k is None:
                ds, g, dx, *fl = run_d.backward(inp, dy_d, dc["states"], dc["saved"], dc["state0"], ds, mask, flow,
                                                need_dx)
                fl = fl[0] if fl else None
            else:  # recompute one segment at a time, last processed first
                segs = list(enumerate(_segments(T, k)))
                g, dxs, fls = None, {}, {}
                for i, (a, b) in segs if run_d.reverse else reversed(segs):
                    s_a, m = dc["bounds"][i], _sl(mask, a, b)
                    _, states, saved = run_d.forward(inp[a:b, ...], s_a, m)
                    ds, gi, dxs[a], *fls[a] = run_d.backward(inp[a:b, ...], dy_d[a:b, ...], states, saved, s_a, ds,
                                                             m, flow, need_dx)
                    g = gi if g is None else {key: g[key] + gi[key] for key in g}
                dx = xp.concat([dxs[a] for _, (a, _) in segs], axis=0) if need_dx else None
                fl = None if flow is None else tuple(
                    xp.concat([fls[a][0][j] for _, (a, _) in segs], axis=0) for j in range(len(ds)))
            grads.update(g)
            din = dx if din is None or dx is None else din + dx
            for j, gj in enumerate(ds):
                dstate0[j][layer * D + d] = gj
                if fl is not None:
                    state_flow[j][layer * D + d] = fl[j]
            if flow is not None:
                x_dirs.append(_norm(dx, xp=xp) if collect == "norms" else dx)
        if flow is not None:
            x_flow[layer] = xp.stack(x_dirs, axis=0)
        if "dropout" in lc:
            din = din * lc["dropout"]  # back through the mask into the layer below's output
        dout = din
    dparams = {key: grads[key] for key in params}
    out = dparams, dout, tuple(_stack0(g, xp=xp) for g in dstate0)
    if flow is None:
        return out
    per_layer = lambda a: xp.reshape(a, (num_layers, D, *a.shape[1:]))  # noqa: E731  (L*D, ...) -> (L, D, ...)
    return (*out, {"state": tuple(per_layer(xp.stack(f, axis=0)) for f in state_flow), "x": tuple(x_flow)})


def _itemsize(a: Any) -> int:
    size = getattr(a.dtype, "itemsize", None)
    if isinstance(size, int):
        return size
    xp = compat.array_namespace(a)
    if xp.isdtype(a.dtype, "bool"):
        return 1
    info = xp.finfo if xp.isdtype(a.dtype, "real floating") else xp.iinfo
    return info(a.dtype).bits // 8


def cache_nbytes(data: dict, *, include_input: bool = False) -> int:
    """Bytes held by a forward cache's arrays (the caller's own x not counted by default)."""
    seen: set[int] = set()
    total = 0

    def walk(o: Any) -> None:
        nonlocal total
        if isinstance(o, dict):
            for v in o.values():
                walk(v)
        elif isinstance(o, (list, tuple)):
            for v in o:
                walk(v)
        elif o is not None and id(o) not in seen:
            seen.add(id(o))
            total += math.prod(o.shape) * _itemsize(o)

    layers = data["layers"]
    if include_input:
        walk(layers[0]["x"])
    walk([lay["dirs"] for lay in layers])
    walk([lay["x"] for lay in layers[1:]])
    walk(data["mask"])
    return total
