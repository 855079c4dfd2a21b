r"""Training diagnostics: what a :class:`Recorder` keeps of a run (``rnnx.fit(diagnostics=)``,
the CLI's ``rnnx train --diagnostics``; docs/diagnostics.md).

Per update (``"updates"``), computed inside the update's own program (one compiled program
on JAX; nothing read to the host until the epoch ends), over the trainable parameters:

.. math::
    \|g\| = \Big(\sum_k \|g_k\|^2\Big)^{1/2} \text{ (before clipping)}, \qquad
    r = \frac{\|\theta' - \theta\|}{\|\theta\|}, \qquad r_k = \frac{\|\theta'_k - \theta_k\|}{\|\theta_k\|}

with every norm scaled (``s = max|a|``, ``||a|| = s ||a / s||``), so a float32 gradient
of 1e30 reads 1e30 and not ``inf`` (``optim.global_norm``, what clipping uses, squares
directly, as torch does).  Also the loss, ``||g_k||`` per parameter, and whether the
update was clipped.

Per epoch (and before the first, epoch 0), on a fixed probe batch (the first
``probe_size`` training sequences, in data order), each averaged over the sequences that
reach step t (None where none does):

- ``"flow"``: ``||dL/dh_t||`` and ``||dL/dx_t||`` (L, D, T) from the explicit backward pass
  (:class:`~rnnx.nn.layers.GradientFlow`); ``"cell"`` (LSTM only): ``||dL/dc_t||``;
- ``"jacobian"``: ``||v^T dh_T/dh_t||`` (L, D, T) over ``probes`` random unit vectors, the
  growth factor per step (L, D), the largest singular value of W_hh (L, D), and the LSTM's
  mean forget gate (L, D, T) (:func:`rnnx.diagnostics.jacobian_profile`);
- ``"gates"``: the fraction of saturated gates per gate type (L, D, T) and the count of
  dead ReLU units (L, D) (:func:`rnnx.diagnostics.gate_saturation`).

A step that no gradient reaches (a zero norm) is stored as 0; the plots leave it blank.
Non-finite numbers are stored as None (JSON has no NaN), with ``"finite": false`` on the
update.  Memory: the update records of one epoch on the device (a few scalars each); the
profiles O(L*D*T) numbers per epoch on the host.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable

from rnnx._xp import where
from rnnx.cells import CELLS

__all__ = ["FORMAT", "VERSION", "WHAT", "update_stats", "profile", "check_what", "Recorder", "summary"]

FORMAT = "rnnx-diagnostics"
VERSION = 1
#: What a Recorder can record (``what=``); "cell" needs an LSTM.
WHAT = ("updates", "flow", "cell", "jacobian", "gates")


def _norm(a: Any, *, xp: Any) -> Any:
    """``||a||`` (0-d) without overflow: ``s * sqrt(sum((a / s)^2))``, ``s = max |a|``."""
    s = xp.max(xp.abs(a))
    safe = where(s > 0.0, s, 1.0, xp=xp)
    scaled = a / safe
    return xp.where(s > 0.0, s * xp.sqrt(xp.sum(scaled * scaled)), s)


def _norm_of(norms: list[Any], *, xp: Any) -> Any:
    """``sqrt(sum n_k^2)`` of 0-d norms, scaled the same way."""
    return _norm(xp.stack(norms), xp=xp)


def update_stats(params: dict, grads: dict, new_params: dict, loss: Any, clipped: Any, *, xp: Any,
                 trainable: Iterable[str]) -> dict:
    """The record of one update (0-d arrays): ``loss``, ``grad_norm`` (before clipping),
    ``clipped``, ``update_ratio``, and per parameter ``grad_norm/<k>``, ``update_ratio/<k>``
    over the ``trainable`` keys (a frozen parameter is left out)."""
    keys = list(trainable)
    g = {k: _norm(grads[k], xp=xp) for k in keys}
    p = {k: _norm(params[k], xp=xp) for k in keys}
    d = {k: _norm(new_params[k] - params[k], xp=xp) for k in keys}
    p_all, d_all = _norm_of(list(p.values()), xp=xp), _norm_of(list(d.values()), xp=xp)
    out = {"loss": loss, "grad_norm": _norm_of(list(g.values()), xp=xp), "clipped": clipped,
           "update_ratio": d_all / where(p_all > 0.0, p_all, xp.nan, xp=xp)}
    for k in keys:
        out[f"grad_norm/{k}"] = g[k]
        out[f"update_ratio/{k}"] = d[k] / where(p[k] > 0.0, p[k], xp.nan, xp=xp)
    return out


def _valid(T: int, B: int, lengths: Any, *, xp: Any, dtype: Any, device: Any) -> Any:
    """(T, B) 1.0 where step t is inside sequence b."""
    if lengths is None:
        return xp.ones((T, B), dtype=dtype, device=device)
    t = xp.arange(T, device=device)
    return xp.astype(t[:, None] < xp.astype(xp.asarray(lengths, device=device), t.dtype)[None, :], dtype)


def _seq_mean(a: Any, valid: Any, *, xp: Any) -> Any:
    """(L, D, T, B[, K]) -> (L, D, T): the mean over the valid sequences (and probes); NaN
    at a step none reaches."""
    if a.ndim == 5:
        a = xp.mean(a, axis=4)
    n = xp.sum(valid, axis=1)  # (T,)
    s = xp.sum(a * valid, axis=3)
    return where(n > 0.0, s / where(n > 0.0, n, 1.0, xp=xp), xp.nan, xp=xp)


def profile(model, params: dict, x: Any, y: Any, lengths: Any = None, *, loss: Any, what: tuple[str, ...],
            probes: int = 4, seed: int = 0) -> dict:
    """The per-epoch profiles of ``model`` at ``params`` on one batch (time-major x (T, B, I),
    the loss's targets y), as a dict of arrays: ``flow_h``, ``flow_x`` (``"flow"``),
    ``flow_c`` (``"cell"``), ``jacobian``, ``growth``, ``w_hh_norm``, ``forget``
    (``"jacobian"``), ``saturated/<gate>``, ``dead/<gate>`` (``"gates"``).  Pure: what
    ``jax.jit`` compiles."""
    import array_api_compat as compat

    from rnnx import diagnostics

    xp = compat.array_namespace(x)
    T, B = x.shape[0], x.shape[1]
    dev = compat.device(x)
    valid = _valid(T, B, lengths, xp=xp, dtype=x.dtype, device=dev)
    out: dict[str, Any] = {}
    if "flow" in what or "cell" in what:
        seed_d = seed if model.layer.dropout > 0 else None  # the probe's own dropout masks
        *_, flow = model.loss_and_grad(params, x, y, lengths=lengths, loss=loss, seed=seed_d, collect="norms")
        if "flow" in what:
            out["flow_h"] = _seq_mean(flow.h, valid, xp=xp)
            out["flow_x"] = _seq_mean(flow.x, valid, xp=xp)
        if "cell" in what:
            out["flow_c"] = _seq_mean(flow.c, valid, xp=xp)
    if "jacobian" in what:
        prof = diagnostics.jacobian_profile(model, params, x, lengths=lengths, probes=probes, seed=seed)
        out["jacobian"] = _seq_mean(prof.h, valid, xp=xp)
        out["growth"], out["w_hh_norm"] = prof.growth, prof.w_hh_norm
        if prof.forget is not None:
            out["forget"] = prof.forget
    if "gates" in what:
        st = diagnostics.gate_saturation(model, params, x, lengths=lengths)
        for g, v in st.saturated.items():
            out[f"saturated/{g}"] = v
        for g, v in st.dead.items():
            out[f"dead/{g}"] = xp.sum(xp.astype(v, xp.int32), axis=2)
    return out


def _host(a: Any) -> Any:
    """A host copy as nested Python lists / numbers, non-finite floats as None."""
    from rnnx.backends import to_numpy

    return _finite_or_none(to_numpy(a).tolist())


def _finite_or_none(v: Any) -> Any:
    if isinstance(v, list):
        return [_finite_or_none(u) for u in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def check_what(what: Any, cell: str) -> tuple[str, ...]:
    """``what``: None (everything the cell has) or names of :data:`WHAT`; ``ValueError``
    naming the argument for an unknown name or one the cell lacks."""
    if what is None:
        return tuple(w for w in WHAT if w != "cell" or cell == "lstm")
    if isinstance(what, str):
        what = tuple(w.strip() for w in what.split(",") if w.strip())
    what = tuple(what)
    unknown = [w for w in what if w not in WHAT]
    if unknown or not what:
        raise ValueError(f"diagnostics: expected names from {', '.join(WHAT)}, got {', '.join(map(repr, what)) or 'none'}")
    if "cell" in what and cell != "lstm":
        raise ValueError(f"diagnostics: 'cell' (the gradient dL/dc_t of the cell state) exists for an LSTM only; "
                         f"this model is {CELLS[cell].title if cell in CELLS else cell}, whose state is h alone")
    return tuple(w for w in WHAT if w in what)  # canonical order


def _positive(name: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{name}: expected a positive integer, got {v!r}")


class Recorder:
    """Collects a run's diagnostics; give it to ``rnnx.fit(diagnostics=rec)`` (or the CLI's
    trainer), then read ``rec.updates`` / ``rec.epochs`` or ``rec.save(path)``.

    ``what``: None (all of :data:`WHAT` the cell has) or a subset; ``probe_size``: the probe
    batch (the first sequences of the training data, at most their number); ``probes``:
    random unit vectors of the Jacobian profile; ``seed``: theirs."""

    def __init__(self, what: Any = None, *, probe_size: int = 32, probes: int = 4, seed: int = 0) -> None:
        _positive("probe_size", probe_size)
        _positive("probes", probes)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed: expected an int, got {seed!r}")
        if what is not None:
            check_what(what, "lstm")  # names only; the cell is checked at start()
        self._what_arg = what
        self.what: tuple[str, ...] = ()
        self.probe_size, self.probes, self.seed = probe_size, probes, seed
        self.updates: list[dict] = []
        self.epochs: list[dict] = []
        self.meta: dict = {}
        self._fn: Callable | None = None
        self._probe: tuple | None = None
        self._keys: tuple[str, ...] = ()
        self._model: Any = None
        self._loss: Any = None
        #: :meth:`record_gradient`'s record (``rnnx diagnose --model``), else None
        self.gradient: dict | None = None

    # -- set-up ---------------------------------------------------------------------------
    def start(self, model, x: Any, y: Any, lengths: Any, *, loss: Any, loss_name: str, y_axis: int,
              clip_value: float | None, clip_norm: float | None, jit: Callable | None,
              n_name: str = "the training data") -> None:
        """Check the settings against ``model`` and the training data (time-major x
        (T, N, I); y's sample axis ``y_axis``) and fix the probe batch: its first
        ``probe_size`` sequences."""
        self.what = check_what(self._what_arg, model.cell)
        n = x.shape[1]
        if self.probe_size > n:
            raise ValueError(f"probe_size: expected at most {n} (the sequences of {n_name}), got {self.probe_size}")
        k = self.probe_size
        xb = x[:, :k, ...]
        yb = y[:k, ...] if y_axis == 0 else y[:, :k, ...]
        lb = None if lengths is None else lengths[:k]
        self._probe = (xb, yb, lb)
        what, probes, seed = self.what, self.probes, self.seed

        def fn(params, xb, yb, lb):
            return profile(model, params, xb, yb, lb, loss=loss, what=what, probes=probes, seed=seed)

        self._fn = jit(fn) if jit is not None else fn
        self._keys = tuple(model.param_shapes())
        self._model, self._loss = model, loss
        self.meta = {"model": model.config(), "what": list(self.what), "probe_size": k, "probes": probes,
                     "seed": seed, "loss": loss_name, "clip_value": clip_value, "clip_norm": clip_norm,
                     "steps": x.shape[0]}

    @property
    def records_updates(self) -> bool:
        return "updates" in self.what

    # -- recording ------------------------------------------------------------------------
    def record_epoch(self, epoch: int, params: dict) -> dict:
        """The profiles at ``params`` after ``epoch`` epochs (0: before training)."""
        xb, yb, lb = self._probe
        arrays = self._fn(params, xb, yb, lb)
        row: dict[str, Any] = {"epoch": epoch}
        for k, v in arrays.items():
            key, _, gate = k.partition("/")
            if gate:
                row.setdefault(key, {})[gate] = _host(v)
            else:
                row[k] = _host(v)
        self.epochs = [r for r in self.epochs if r["epoch"] < epoch] + [row]
        return row

    def record_gradient(self, params: dict) -> dict:
        """The loss and gradient norms (total and per parameter) at ``params`` on the probe
        batch, without an update: what a trained model's gradient looks like."""
        import array_api_compat as compat

        xb, yb, lb = self._probe
        seed = self.seed if self._model.layer.dropout > 0 else None
        loss, grads, _ = self._model.loss_and_grad(params, xb, yb, lengths=lb, loss=self._loss, seed=seed)
        xp = compat.array_namespace(xb)
        norms = {k: _norm(grads[k], xp=xp) for k in self._keys}
        self.gradient = {"loss": _host(loss), "grad_norm": _host(_norm_of(list(norms.values()), xp=xp)),
                         "grad_norms": {k: _host(v) for k, v in norms.items()}}
        return self.gradient

    def record_updates(self, epoch: int, first: int, stats: list[dict], xp: Any) -> None:
        """The update records of one epoch (``stats``: :func:`update_stats` dicts, still on
        the device), numbered from ``first`` + 1: one host read."""
        if not stats or not self.records_updates:
            return
        keys = list(stats[0])
        dt = stats[0]["grad_norm"].dtype
        table = _host(xp.stack([xp.stack([xp.astype(s[k], dt) for k in keys]) for s in stats]))
        for j, vals in enumerate(table):
            r = dict(zip(keys, vals))
            rec = {"update": first + j + 1, "epoch": epoch, "loss": r["loss"], "grad_norm": r["grad_norm"],
                   "clipped": bool(r["clipped"]), "update_ratio": r["update_ratio"],
                   "grad_norms": {k: r[f"grad_norm/{k}"] for k in self._keys if f"grad_norm/{k}" in r},
                   "update_ratios": {k: r[f"update_ratio/{k}"] for k in self._keys if f"update_ratio/{k}" in r}}
            rec["finite"] = all(v is not None for v in (rec["loss"], rec["grad_norm"]))
            self.updates.append(rec)

    def truncate(self, epoch: int) -> None:
        """Drop what was recorded after ``epoch`` (a run resumed from its checkpoint there)."""
        self.updates = [u for u in self.updates if u["epoch"] <= epoch]
        self.epochs = [e for e in self.epochs if e["epoch"] <= epoch]

    # -- files ----------------------------------------------------------------------------
    def to_json(self) -> dict:
        d = {"format": FORMAT, "version": VERSION, **self.meta, "updates": self.updates, "epochs": self.epochs}
        if self.gradient is not None:
            d["gradient"] = self.gradient
        return d

    def save(self, path: str) -> None:
        """Write :meth:`to_json` to ``path`` atomically (the old file whole until replaced)."""
        import json

        from rnnx.io import atomic

        atomic.write_text(path, json.dumps(self.to_json(), indent=1) + "\n")

    def load(self, path: str, *, nofollow: bool = False) -> None:
        """Continue the records of ``path`` (a run resumed): the same settings; its
        updates and epochs kept.  ``ValueError`` naming the file when it is not a
        diagnostics file of these settings (or not a regular file; with ``nofollow``, a
        run's own file, a symbolic link too)."""
        import json

        from rnnx.io.inputs import NotARegularFile, open_regular

        try:
            with open_regular(path, nofollow=nofollow) as f:  # a FIFO or a device: refused before a byte is read
                d = json.loads(f.read().decode("utf-8"))
        except NotARegularFile as e:
            raise ValueError(f"{path!r} {e.strerror}") from None
        except (OSError, ValueError) as e:
            raise ValueError(f"{path!r}: expected the run's diagnostics file, could not read it ({e})") from None
        if not isinstance(d, dict) or d.get("format") != FORMAT or d.get("version") != VERSION:
            raise ValueError(f"{path!r}: expected an {FORMAT} version {VERSION} file, got something else")
        for k in ("what", "probe_size", "probes", "seed"):
            if k in self.meta and d.get(k) != self.meta[k]:
                raise ValueError(f"{path!r}: recorded with {k}={d.get(k)!r}, this run has {k}={self.meta[k]!r}")
        if not (isinstance(d.get("updates"), list) and isinstance(d.get("epochs"), list)):
            raise ValueError(f"{path!r}: expected lists 'updates' and 'epochs'")
        self.updates, self.epochs = d["updates"], d["epochs"]


def summary(d: dict) -> dict:
    """The headline numbers of a diagnostics record (:meth:`Recorder.to_json`): max and
    median pre-clip gradient norm, updates clipped, exploded updates (norm > 1e3 x the
    median, or non-finite), and the last epoch's growth factor and gradient ratio
    ``||dL/dh_0|| / ||dL/dh_{T-1}||`` (layer 0, forward direction; ``growth_start``,
    ``flow_ratio_start``: the first recorded epoch's).  A ratio or growth of 0 can be an
    underflow: in float32 a product below ~1e-38 (a factor 0.64 over 200 steps) reads 0."""
    ups = d.get("updates") or []
    norms = [u["grad_norm"] for u in ups if u["grad_norm"] is not None]
    med = _median(norms)
    exploded = sum(1 for u in ups if u["grad_norm"] is None or (med and u["grad_norm"] > 1e3 * med))
    out = {"updates": len(ups), "grad_norm_max": max(norms) if norms else None, "grad_norm_median": med,
           "clipped": sum(1 for u in ups if u["clipped"]), "exploded": exploded,
           "non_finite": sum(1 for u in ups if not u.get("finite", True))}
    eps = d.get("epochs") or []
    for key, row in (("", eps[-1] if eps else None), ("_start", eps[0] if eps else None)):
        if row is None:
            continue
        g = row.get("growth")
        out["growth" + key] = g[0][0] if g else None
        fh = row.get("flow_h")
        if fh:
            r = fh[0][0]
            out["flow_ratio" + key] = (r[0] / r[-1]) if r and r[0] is not None and r[-1] else None
    return out


def _median(v: list[float]) -> float | None:
    if not v:
        return None
    s = sorted(v)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])
