r"""Scores of a table's or series' windows on the series' own scale, and the callback that
puts them into every epoch's history row (what ``rnnx train --csv/--preset`` monitors).

A :class:`rnnx.data.dataset.Dataset` holds the windows of a series (or of named columns) with
each target's normaliser :math:`z = (v - \mu_k) / \sigma_k`.  The model computes in
:math:`z`; a forecast :math:`\hat z` of target :math:`k` reads :math:`\hat v = \mu_k +
\sigma_k \hat z` (plus the window's last level under ``--difference``).  Per part
(train, val, test) and target, with :math:`n` windows and the value after each window
:math:`v_i`:

.. math::

    \mathrm{MSE}^{z}_k = \frac{1}{n} \sum_i \Big(\frac{\hat v_{ik} - v_{ik}}{\sigma_k}\Big)^2,
    \qquad \mathrm{MSE}_k = \sigma_k^2 \, \mathrm{MSE}^{z}_k

(``inf`` where the product overflows float64, for values beyond ~1e154).  A run's number is
the mean over its targets (the one target's own, bit for bit, for a run of one).
"""

from __future__ import annotations

import math

from rnnx.training.callbacks import Callback, Run

__all__ = ["WindowScores", "SeriesMetrics", "history_row"]


def _mean(values: list[float]) -> float:
    """The mean of per-target numbers; the one number itself for one target (bit for bit)."""
    return values[0] if len(values) == 1 else math.fsum(values) / len(values)


class WindowScores:
    """Forecasts and MSEs of ``ds``'s windows for ``model`` on ``target`` (a
    :class:`rnnx.backends.Target`: the forward pass compiled where it has ``jit``)."""

    def __init__(self, model, ds, target) -> None:
        self.model, self.ds, self.target = model, ds, target
        self.xp = target.namespace()
        jit = target.capabilities.jit
        self.compiled = jit is not None  # one program per forward, queued without waiting (JAX)
        fwd = lambda p, x: model.predict(p, x)[0]  # noqa: E731
        self._predict = jit(fwd) if jit else fwd

    def forward(self, part: str, params: dict):
        """The model's outputs (N, O) after each window of ``part`` (None for an empty part),
        left on the device: compiled, the call returns once the forward is queued."""
        p = self.ds.parts[part]
        if p.n == 0:
            return None
        pred = self._predict(params, p.x)
        return pred if pred.ndim == 2 else pred[-1, ...]

    def predict_all(self, part: str, params: dict, out=None) -> list[list[float]]:
        """The forecast of each target after each window of ``part``, one list per target
        (its own units: output k through target k's normaliser, plus its base under
        ``--difference``); ``out``: :meth:`forward`'s result for ``params``, if queued already."""
        p = self.ds.parts[part]
        norms = self.ds.target_norms
        if p.n == 0:
            return [[] for _ in norms]
        last = self.target.to_numpy(self.forward(part, params) if out is None else out)
        out = []
        for k, norm in enumerate(norms):
            col = [norm.inverse(float(v)) for v in last[:, k].tolist()]
            out.append(col if p.bases is None else [b + v for b, v in zip(p.bases[k], col)])  # a change: levels
        return out

    def predict(self, part: str, params: dict) -> list[float]:
        """The forecast of the (first) target after each window (original units)."""
        return self.predict_all(part, params)[0]

    def mse_normalised_per_target(self, part: str, params: dict, out=None) -> list[float]:
        """:math:`\\mathrm{MSE}^z_k` of each target (NaN for an empty part); ``out`` as in
        :meth:`predict_all`."""
        p = self.ds.parts[part]
        norms = self.ds.target_norms
        if p.n == 0:
            return [math.nan for _ in norms]
        out_k = []
        for pred, truth, norm in zip(self.predict_all(part, params, out), p.last_targets, norms):
            std = norm.std
            err = [(a - b) / std for a, b in zip(pred, truth)]
            out_k.append(math.fsum(e * e for e in err) / p.n)
        return out_k

    def mse_normalised(self, part: str, params: dict) -> float:
        """The mean over the targets of :meth:`mse_normalised_per_target` (the training
        loss's quantity): what early stopping monitors, so a series' magnitude never reads
        as divergence."""
        return _mean(self.mse_normalised_per_target(part, params))

    def units(self, zs: list[float]) -> list[float]:
        """:math:`\\sigma_k^2 \\mathrm{MSE}^z_k` of each target (a non-finite one as it is)."""
        return [z * n.std * n.std if math.isfinite(z) else z for z, n in zip(zs, self.ds.target_norms)]

    def mse_per_target(self, part: str, params: dict) -> list[float]:
        """Each target's MSE of the forecast after each window, in its own units."""
        return self.units(self.mse_normalised_per_target(part, params))

    def mse(self, part: str, params: dict) -> float:
        """The mean over the targets of :meth:`mse_per_target`."""
        return _mean(self.mse_per_target(part, params))

    def check_inputs(self, params: dict) -> None:
        """The windows of every part and ``params`` must be finite: :class:`rnnx.NonFiniteError`
        naming the first array that is not (``train x``, ``val y``, ``params['weight_hh_l0']``)."""
        from rnnx import checks

        named = [(f"{name} {a}", getattr(p, a)) for name, p in self.ds.parts.items() if p.n for a in ("x", "y")]
        named += [(f"params[{k!r}]", params[k]) for k in self.model.param_shapes()]
        checks.all_finite(named, xp=self.xp)


class SeriesMetrics(Callback):
    """Adds to every epoch's row ``train_mse`` and ``val_mse`` (each part's MSE of the
    forecast after each window, on the series' scale: :meth:`WindowScores.mse`) and
    ``score``: the validation part's normalised MSE, or the training part's where there is
    no validation part (monitor it: ``fit(monitor="score")``, ``EarlyStopping(monitor="score")``).

    ``train_every``: the training part's MSE is a forward over every training window, a
    third of what an epoch's updates compute; with ``train_every=N`` it is computed at
    epochs 1, N, 2N, ... and ``train_mse`` is None at the others (:meth:`fill` puts it into
    a row afterwards, e.g. the run's last and best epochs).  ``val_mse`` and ``score`` are
    every epoch's, exact (early stopping and the best epoch read them); without a
    validation part ``score`` is the training part's, so ``train_mse`` is then every
    epoch's whatever ``train_every`` says.  Default 1: every epoch.

    A training MSE that is not finite (predictions that overflow with finite parameters)
    raises :class:`rnnx.training.state.NonFiniteLoss`
    at the epochs it is computed, which include every epoch whose validation MSE is not
    finite.

    Where the forward is compiled (JAX), :meth:`on_epoch_queued` queues the epoch's forwards
    right behind its updates, so the host waits for the device once an epoch; the numbers
    are the same bits as computed afterwards (NumPy, torch: computed in
    :meth:`on_epoch_metrics`)."""

    def __init__(self, scores: WindowScores, *, train_every: int = 1) -> None:
        if isinstance(train_every, bool) or not isinstance(train_every, int) or train_every < 1:
            raise ValueError(f"train_every: expected a whole number of epochs >= 1, got {train_every!r}")
        self.scores, self.train_every = scores, train_every
        self._queued: tuple | None = None  # (epoch, updates, {part: forward}) of the epoch queued

    def _trains(self, epoch: int) -> bool:
        """Whether ``epoch`` computes the training MSE whatever the validation MSE is."""
        return epoch == 1 or epoch % self.train_every == 0 or self.scores.ds.parts["val"].n == 0

    def on_fit_start(self, run: Run) -> None:
        self._queued = None

    def on_epoch_queued(self, run: Run, params: dict) -> None:
        s = self.scores
        if s.compiled:
            parts = ("val", "train") if self._trains(run.epoch + 1) else ("val",)
            self._queued = (run.epoch + 1, run.updates, {k: s.forward(k, params) for k in parts})

    def _units(self, zs: list[float]) -> float:
        """A history row's MSE: the mean over the targets of each normalised MSE times its
        target's variance (``z * (std * std)``, as rows have always been computed)."""
        out = []
        for z, norm in zip(zs, self.scores.ds.target_norms):
            var = norm.std * norm.std
            out.append(z * var if math.isfinite(z) else z)
        return _mean(out)

    def train_mse(self, params: dict) -> float:
        """The training part's ``train_mse`` for ``params``, as a row holds it."""
        return self._units(self.scores.mse_normalised_per_target("train", params))

    def fill(self, row: dict, params: dict) -> None:
        """Put the exact ``train_mse`` of ``params`` (the parameters after ``row``'s epoch)
        into ``row`` where it is None (an epoch :meth:`on_epoch_metrics` left out)."""
        if row.get("train_mse", 0.0) is None:
            row["train_mse"] = self.train_mse(params)

    def on_epoch_metrics(self, run: Run, row: dict) -> dict:
        from rnnx.training.state import NonFiniteLoss

        s, queued, self._queued = self.scores, self._queued, None
        outs = queued[2] if queued is not None and queued[:2] == (run.epoch, run.updates) else {}
        val_zs = s.mse_normalised_per_target("val", run.params, outs.get("val"))
        val_z = _mean(val_zs)  # NaN without a validation part: the score is then the training part's
        if math.isfinite(val_z) and not self._trains(run.epoch):
            return {"train_mse": None, "val_mse": self._units(val_zs), "score": val_z}
        train_zs = s.mse_normalised_per_target("train", run.params, outs.get("train"))
        train_z = _mean(train_zs)
        if not math.isfinite(train_z):
            raise NonFiniteLoss(run.epoch, train_z, "the predictions on the training windows overflow")
        return {"train_mse": self._units(train_zs), "val_mse": self._units(val_zs),
                "score": val_z if math.isfinite(val_z) else train_z}


def history_row(row: dict) -> dict:
    """A row of ``rnnx train``'s history (``epoch``, ``batch_loss``, ``train_mse``,
    ``val_mse``, ``clipped``, ``seconds``) from an engine row with :class:`SeriesMetrics`'
    keys (``loss`` is the batch loss; ``score`` is left out); a row already in that form as
    it is (a checkpoint of an older rnnx)."""
    if "batch_loss" in row:
        return row
    return {"epoch": row["epoch"], "batch_loss": row["loss"], "train_mse": row["train_mse"],
            "val_mse": row["val_mse"], "clipped": row["clipped"], "seconds": row["seconds"]}
