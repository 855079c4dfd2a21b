"""Bits per character of rnnx's character model against a NumPy min-char-rnn.

    python bench/char_model.py [--updates 5000] [--hidden 100] [--seq-len 25] [--json FILE]

The text is :func:`rnnx.text.bundled_text` (the pydoc topics), split 90/10 as
``rnnx train --text`` splits it; the vocabulary is the whole text's.  Three runs, each
``--updates`` updates over the same chunks (:func:`rnnx.text.stream_chunks`, one stream,
the state carried from chunk to chunk):

- ``reference``: min-char-rnn's algorithm written here in NumPy from its description
  (Karpathy, 2015): W ~ 0.01 N(0, 1), zero biases; h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h),
  y_t = W_hy h_t + b_y, loss = sum_t -log softmax(y_t)[target_t]; BPTT over the chunk;
  every gradient clipped to [-5, 5]; Adagrad ``m += d^2``, ``p -= 0.1 d / sqrt(m + 1e-8)``.
- ``rnnx, min-char step``: :func:`rnnx.text.fit_text` (RNN tanh, clip 5) from the
  reference's initial weights (b_h as ``bias_ih_l0``, ``bias_hh_l0`` = 0) with
  :class:`MinCharAdagrad`, min-char-rnn's step as an optimizer object (eps inside the
  square root; ``bias_hh_l0`` kept at 0, as min-char-rnn has one hidden bias): the same
  algorithm, so it follows the reference until rounding differences grow (chaotic).
- ``rnnx, same init``: fit_text's default step, Adagrad(lr=0.1, eps=1e-8) of
  :mod:`rnnx.optim` (eps outside the square root; both hidden biases learn), from the
  reference's initial weights.
- ``rnnx, own init``: the same from ``model.init_params(seed=0)`` (U(-1/sqrt(H), 1/sqrt(H))).

Reported per run: min-char-rnn's smoothed loss (``smooth = 0.999 smooth + 0.001 loss``
from ``-log(1/V) * seq_len``) as bits per character every 1000 updates; the mean bits per
character of the last 1000 updates; the validation bits per character (carried state,
:func:`rnnx.text.evaluate_text`; the reference's by its own forward); seconds per update.
Also printed: the largest difference between the per-update losses of the reference and
of ``rnnx, min-char step`` over the first 1, 10, 100 and all updates (the same arithmetic:
it starts at rounding level and grows as the training is chaotic).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass

import numpy as np

import rnnx
from rnnx import text as T

LN2 = math.log(2.0)


# -- the reference: min-char-rnn's algorithm, in NumPy ------------------------------------------
def ref_init(v: int, h: int, seed: int) -> dict:
    """min-char-rnn's initial weights: 0.01 N(0, 1) matrices, zero biases."""
    rng = np.random.default_rng(seed)
    return {"Wxh": rng.standard_normal((h, v)) * 0.01, "Whh": rng.standard_normal((h, h)) * 0.01,
            "Why": rng.standard_normal((v, h)) * 0.01, "bh": np.zeros(h), "by": np.zeros(v)}


def ref_loss_and_grads(p: dict, xs: np.ndarray, ys: np.ndarray, h0: np.ndarray) -> tuple[float, dict, np.ndarray]:
    """Summed cross-entropy of one chunk (ids ``xs`` -> next ids ``ys``) from state ``h0``,
    its gradient by BPTT, and the last state."""
    steps, hs, probs = len(xs), [h0], []
    loss = 0.0
    for t in range(steps):
        h = np.tanh(p["Wxh"][:, xs[t]] + p["Whh"] @ hs[-1] + p["bh"])
        z = p["Why"] @ h + p["by"]
        e = np.exp(z - z.max())
        q = e / e.sum()
        loss -= math.log(q[ys[t]])
        hs.append(h)
        probs.append(q)
    g = {k: np.zeros_like(a) for k, a in p.items()}
    dh_next = np.zeros_like(h0)
    for t in reversed(range(steps)):
        dz = probs[t].copy()
        dz[ys[t]] -= 1.0
        g["Why"] += np.outer(dz, hs[t + 1])
        g["by"] += dz
        da = (1.0 - hs[t + 1] ** 2) * (p["Why"].T @ dz + dh_next)
        g["bh"] += da
        g["Wxh"][:, xs[t]] += da
        g["Whh"] += np.outer(da, hs[t])
        dh_next = p["Whh"].T @ da
    return loss, g, hs[-1]


def ref_train(p: dict, xs: np.ndarray, ys: np.ndarray, updates: int, lr: float = 0.1) -> tuple[dict, list[float]]:
    """``updates`` min-char-rnn updates over the chunks ``xs``/``ys`` (N, L); per-update loss."""
    p = {k: a.copy() for k, a in p.items()}
    mem = {k: np.zeros_like(a) for k, a in p.items()}
    h, losses = np.zeros(p["Whh"].shape[0]), []
    for n in range(updates):
        if n % len(xs) == 0:
            h = np.zeros_like(h)
        loss, g, h = ref_loss_and_grads(p, xs[n % len(xs)], ys[n % len(xs)], h)
        for k in p:
            d = np.clip(g[k], -5.0, 5.0)
            mem[k] += d * d
            p[k] -= lr * d / np.sqrt(mem[k] + 1e-8)
        losses.append(loss)
    return p, losses


def ref_bpc(p: dict, ids: np.ndarray) -> float:
    """Mean bits per character of the reference over ``ids``, one forward, state carried."""
    h, nll = np.zeros(p["Whh"].shape[0]), 0.0
    for t in range(len(ids) - 1):
        h = np.tanh(p["Wxh"][:, ids[t]] + p["Whh"] @ h + p["bh"])
        z = p["Why"] @ h + p["by"]
        nll += math.log(np.exp(z - z.max()).sum()) + z.max() - z[ids[t + 1]]
    return nll / (len(ids) - 1) / LN2


@dataclass(frozen=True)
class MinCharAdagrad:
    """min-char-rnn's step as an :mod:`rnnx.optim`-style object (NumPy):
    ``m += g^2``, ``p -= lr g / sqrt(m + 1e-8)``; the parameters named in ``fixed`` keep
    their values."""

    lr: float = 0.1
    fixed: tuple[str, ...] = ("bias_hh_l0",)

    def init(self, params: dict) -> dict:
        return {"step": 0, "slots": {"sum": {k: np.zeros_like(p) for k, p in params.items()}}}

    def step(self, params: dict, grads: dict, state: dict, *, xp) -> tuple[dict, dict]:
        new, sums = {}, {}
        for k, p in params.items():
            s = state["slots"]["sum"][k] + grads[k] * grads[k]
            sums[k] = s
            new[k] = p if k in self.fixed else p - self.lr * grads[k] / xp.sqrt(s + 1e-8)
        return new, {"step": state["step"] + 1, "slots": {"sum": sums}}


# -- the report ------------------------------------------------------------------------------------
def smoothed_bpc(losses: list[float], v: int, seq_len: int, every: int = 1000) -> dict[int, float]:
    """min-char-rnn's smoothed loss, as bits per character, after every ``every`` updates."""
    smooth, out = -math.log(1.0 / v) * seq_len, {}
    for n, loss in enumerate(losses, 1):
        smooth = 0.999 * smooth + 0.001 * loss
        if n % every == 0 or n == len(losses):
            out[n] = smooth / seq_len / LN2
    return out


def as_rnnx(p: dict) -> dict:
    """The reference's weights as an rnnx RNN + head's parameters."""
    return {"weight_ih_l0": p["Wxh"].copy(), "weight_hh_l0": p["Whh"].copy(), "bias_ih_l0": p["bh"].copy(),
            "bias_hh_l0": np.zeros_like(p["bh"]), "weight_hy": p["Why"].copy(), "bias_y": p["by"].copy()}


def rnnx_run(model, params: dict, train: np.ndarray, val: np.ndarray, updates: int, seq_len: int,
             optimizer=None) -> dict:
    t0 = time.perf_counter()
    params, hist = T.fit_text(model, params, train, seq_len=seq_len, max_updates=updates, optimizer=optimizer)
    seconds = time.perf_counter() - t0
    losses = [r["loss"] * seq_len for r in hist]  # nats per chunk, as min-char-rnn prints
    return {"losses": losses, "seconds": seconds,
            "val_bpc": T.evaluate_text(model, params, val, seq_len=seq_len, streams=1)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--updates", type=int, default=5000)
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--seq-len", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the figures to this JSON file")
    a = ap.parse_args(argv)
    name, text = T.bundled_text()
    vocab = T.Vocabulary.from_text(text)
    ids = vocab.encode(text)
    cut = int(len(ids) * 0.9)
    train, val = ids[:cut], ids[cut:]
    xs, ys = (c[..., 0] for c in T.stream_chunks(train, seq_len=a.seq_len, streams=1))
    v = vocab.size
    init = ref_init(v, a.hidden, a.seed)
    model = rnnx.Model("rnn", v, a.hidden, v, objective="many-to-many")

    t0 = time.perf_counter()
    ref_p, ref_losses = ref_train(init, xs, ys, a.updates)
    ref = {"losses": ref_losses, "seconds": time.perf_counter() - t0, "val_bpc": ref_bpc(ref_p, val)}
    step = rnnx_run(model, as_rnnx(init), train, val, a.updates, a.seq_len, optimizer=MinCharAdagrad())
    same = rnnx_run(model, as_rnnx(init), train, val, a.updates, a.seq_len)
    own = rnnx_run(model, model.init_params(np, seed=a.seed, dtype=np.float64), train, val, a.updates, a.seq_len)

    diff = [abs(x - y) for x, y in zip(step["losses"], ref["losses"])]
    first = {n: max(diff[:n]) for n in (1, 10, 100, len(diff))}
    report = {"text": name, "chars": len(ids), "vocabulary": v, "train_chars": cut, "val_chars": len(val),
              "updates": a.updates, "hidden": a.hidden, "seq_len": a.seq_len,
              "max_loss_difference_first_n_updates": first, "runs": {}}
    print(f"{name}: {len(ids)} characters, V={v}, train {cut} / val {len(val)}; RNN H={a.hidden}, seq {a.seq_len}, "
          f"Adagrad lr 0.1, clip 5, {a.updates} updates")
    print("max |loss(rnnx, min-char step) - loss(reference)| (nats per chunk) over the first "
          + ", ".join(f"{n}: {d:.1e}" for n, d in first.items()) + " updates")
    print(f"{'run':<20}{'smoothed bpc every 1000 updates':<44}{'last-1000 bpc':>14}{'val bpc':>9}{'ms/update':>10}")
    for label, r in (("reference (NumPy)", ref), ("rnnx, min-char step", step), ("rnnx, same init", same),
                     ("rnnx, own init", own)):
        sm = smoothed_bpc(r["losses"], v, a.seq_len)
        last = float(np.mean(r["losses"][-1000:])) / a.seq_len / LN2
        ms = r["seconds"] / a.updates * 1e3
        report["runs"][label] = {"smoothed_bpc": sm, "last_1000_bpc": last, "val_bpc": r["val_bpc"], "ms_per_update": ms}
        print(f"{label:<20}{' '.join(f'{x:.3f}' for x in sm.values()):<44}{last:>14.3f}{r['val_bpc']:>9.3f}{ms:>10.2f}")
    if a.json:
        from rnnx.io import atomic

        atomic.write_text(a.json, json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
