r"""Truncated BPTT in Williams and Peng's (k1, k2) form, for many-to-many training.

Every k1 steps, backpropagate the loss of those k1 newest steps through the last k2 steps
(k2 >= k1) and update; the state is carried forward across windows, and no gradient flows
into the state at a window's start.  With k1 = k2 = T it is one full-BPTT update.

The window with new steps [d, e), e = min(d + k1, T), covers [s, e) with
s = max(0, d + k1 - k2); its forward runs from the carried state at s in two segments,
[s, m) and [m, e), where m is where the next window starts, so the state carried to it
comes out of this forward (under the parameters before this window's update) without
recomputation.
"""

from __future__ import annotations

import random
from typing import Any, Callable

from rnnx._xp import namespace, zeros_before
from rnnx import losses as L

__all__ = ["run"]


def run(model, params: dict, x: Any, target: Any, *, k1: int, k2: int, update: Callable, loss: Any = "mse",
        seed: int | None = None):
    """Run truncated BPTT over one batch of sequences x (T, B, I), target (T, B, O).

    ``update(params, grads) -> params`` applies one optimizer step; ``loss`` is a name of
    :data:`rnnx.losses.LOSSES` or a loss function (:func:`rnnx.losses.get`).  Every forward is in
    training mode; with a model that has dropout, ``seed`` (an int) seeds its masks, each
    window segment's from (seed, window, segment).  Returns the final params and the list
    of window losses.
    """
    if seed is None and model.layer.dropout > 0:
        raise ValueError(f"seed: truncated BPTT of a model with dropout={model.layer.dropout} needs a seed")
    if model.objective != "many-to-many":
        raise ValueError("tbptt: truncated BPTT needs the many-to-many objective (a target at every step)")
    if not (isinstance(k1, int) and isinstance(k2, int) and 1 <= k1 <= k2):
        raise ValueError(f"tbptt: expected integers 1 <= k1 <= k2, got k1={k1!r}, k2={k2!r}")
    xp = namespace(x=x, target=target)
    T = x.shape[0]
    fn = L.get(loss) if isinstance(loss, str) else loss
    state, losses, done, window = None, [], 0, 0  # steps [0, done) have had their update
    while done < T:
        e = min(done + k1, T)  # this window's new steps are [done, e)
        s = max(0, done + k1 - k2)  # it backpropagates from e to s
        m = min(e, max(s, done + 2 * k1 - k2))  # the next window's start
        preds, caches, segs, st, carried = [], [], [], state, state
        for j, (a, b) in enumerate(((s, m), (m, e))):
            if b > a:
                sd = None if seed is None else random.Random(f"{seed}:{window}:{j}").getrandbits(31)
                pred, st, cache = model.forward(params, x[a:b, ...], st, train=True, seed=sd)
                preds.append(pred)
                caches.append(cache)
                segs.append((a, b))
                if b == m:
                    carried = st  # the state at m, detached: no gradient flows into it
        pred = preds[0] if len(preds) == 1 else xp.concat(preds, axis=0)
        first = done - s  # steps before `done` carry no loss
        value, dpred = fn(pred[first:, ...], target[done:e, ...], xp=xp)
        if first:
            dpred = zeros_before(dpred, first, xp=xp)
        grads, dstate = None, None
        for (a, b), cache in zip(reversed(segs), reversed(caches)):
            # backprop through the later segment first; its dstate0 is dL/d(state at a)
            g, _, dstate = model.backward(params, cache, dpred[a - s : b - s, ...], dstate)
            grads = g if grads is None else {k: grads[k] + g[k] for k in grads}
        losses.append(value)
        params = update(params, grads)
        state, done, window = carried, e, window + 1
    return params, losses

