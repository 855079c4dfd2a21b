"""Layers x directions: runs the generic loop for each, wiring outputs to inputs.

Layout here is always time-major: x (T, B, I), y (T, B, D*H), states (L*D, B, H) with
index ``l * D + d`` as in PyTorch.  Per layer and direction:

    a_x = x W_ih^T + b_x                  one (T*B, I) x (I, G*H) product before the loop
    (loop)                                only h W_hh^T and the cell per step
    dW_ih = da_x^T x,  dW_hh = da_h^T h_prev,  dx = da_x W_ih
                                          one product each after the backward loop
"""

from __future__ import annotations

from typing import Any

from rnnx import params as P
from rnnx.loop import run, run_back


def _mm_time(a: Any, w_t: Any, *, xp: Any) -> Any:
    """(T, B, K) x (K, N) -> (T, B, N) as one 2-D product."""
    T, B, K = a.shape
    return xp.reshape(xp.reshape(a, (T * B, K)) @ w_t, (T, B, w_t.shape[-1]))


def forward(cell, params, x, state0, mask, *, num_layers, num_directions, bias, xp):
    """Returns y (T, B, D*H), final state (tuple of (L*D, B, H)) and the cache dict."""
    D = num_directions
    inp, layers = x, []
    finals: list[list[Any]] = [[] for _ in range(cell.state_size)]
    for layer in range(num_layers):
        outs, dirs = [], []
        for d in range(D):
            w_ih, w_hh, b_ih, b_hh = (params.get(k) for k in P.names(layer, d))
            a_x = _mm_time(inp, xp.matrix_transpose(w_ih), xp=xp)  # hoisted input projection
            b_h = None
            if bias:
                b_x, b_h = cell.split_bias(b_ih, b_hh, xp=xp)
                a_x = a_x + b_x
            s0 = tuple(s[layer * D + d, ...] for s in state0)
            final, states, saved = run(cell, a_x, s0, w_hh, b_h, mask=mask, reverse=d == 1, xp=xp)
            outs.append(states[0] if mask is None else xp.where(mask, states[0], 0.0))
            dirs.append({"state0": s0, "states": states, "saved": saved})
            for k, f in enumerate(final):
                finals[k].append(f)
        layers.append({"x": inp, "dirs": dirs})
        inp = outs[0] if D == 1 else xp.concat(outs, axis=-1)
    final_state = tuple(xp.stack(f, axis=0) for f in finals)
    return inp, final_state, {"layers": layers, "mask": mask}


def backward(cell, params, cache, dy, dstate, *, num_layers, num_directions, bias, xp):
    """Explicit BPTT through :func:`forward`.

    dy (T, B, D*H): dL/dy; dstate: tuple of (L*D, B, H), dL/d(final state).
    Returns (dparams keyed like params, dx (T, B, I), dstate0 tuple of (L*D, B, H)).
    """
    D, mask = num_directions, cache["mask"]
    H = dy.shape[-1] // D
    grads: dict[str, Any] = {}
    dstate0: list[list[Any]] = [[None] * (num_layers * D) for _ in range(cell.state_size)]
    dout = dy
    for layer in reversed(range(num_layers)):
        lc = cache["layers"][layer]
        inp, din = lc["x"], None
        T, B, n_in = inp.shape
        for d in range(D):
            dc = lc["dirs"][d]
            k_ih, k_hh, k_bih, k_bhh = P.names(layer, d)
            w_ih, w_hh = params[k_ih], params[k_hh]
            ds = tuple(s[layer * D + d, ...] for s in dstate)
            ds0, da_x, da_h, h_prev = run_back(
                cell, dout[..., d * H : (d + 1) * H], dc["states"], dc["saved"], dc["state0"],
                w_hh, ds, mask=mask, reverse=d == 1, xp=xp,
            )
            G = da_x.shape[-1]
            dax = xp.reshape(da_x, (T * B, G))
            dah = dax if da_h is da_x else xp.reshape(da_h, (T * B, G))
            grads[k_ih] = xp.matrix_transpose(dax) @ xp.reshape(inp, (T * B, n_in))  # dW_ih = sum da_x^T x
            hp = xp.reshape(h_prev, (T * B, H))
            if cell.weight_hh_grad is None:
                grads[k_hh] = xp.matrix_transpose(dah) @ hp  # dW_hh = sum da_h^T h_prev
            else:  # a recurrent product of something else than h (reset-before GRU)
                flat = tuple(xp.reshape(a, (T * B, a.shape[-1])) for a in dc["saved"])
                grads[k_hh] = cell.weight_hh_grad(dah, hp, flat, xp=xp)
            if bias:
                grads[k_bih] = xp.sum(dax, axis=0)  # db_ih = sum da_x
                grads[k_bhh] = xp.sum(dah, axis=0)  # db_hh = sum da_h
            dx = xp.reshape(dax @ w_ih, (T, B, n_in))  # dx = da_x W_ih
            din = dx if din is None else din + dx
            for k, g in enumerate(ds0):
                dstate0[k][layer * D + d] = g
        dout = din
    dparams = {k: grads[k] for k in params}
    return dparams, dout, tuple(xp.stack(g, axis=0) for g in dstate0)
