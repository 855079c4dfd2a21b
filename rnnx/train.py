"""The training loop: mini-batches with a seeded shuffle, an optimizer, clipping, truncated
BPTT, early stopping, and a state that checkpoints and resumes bit for bit.

The shuffle of epoch e is drawn from ``random.Random(f"{seed}:{e}")``: the whole random
state of a run is (seed, epoch), so a resumed run repeats exactly what an uninterrupted
one does.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from rnnx import distributed, fitting, optim, tbptt
from rnnx.dask_parallel import DaskParallel, WorkersLost
from rnnx.fitting import NonFiniteLoss  # noqa: F401  (raised here too; defined with the loop)
from rnnx import losses as L
from rnnx._xp import index_array, index_dtype
from rnnx.dataset import Dataset


class Stopped(Exception):
    """Training was asked to stop (``should_stop``) and did, at an epoch boundary: the state
    is that after ``epoch`` completed epochs (an epoch cut short is undone)."""

    def __init__(self, epoch: int) -> None:
        super().__init__(f"stopped after epoch {epoch}")
        self.epoch = epoch


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 100
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.0
    nesterov: bool = False
    clip_value: float | None = None
    clip_norm: float | None = None
    tbptt: tuple[int, int] | None = None
    loss: str = "mse"
    seed: int = 0
    early_stopping: int | None = None
    freeze: tuple[str, ...] = ()
    #: a new order of the training windows every epoch (seeded), else in time order (Keras's shuffle=False)
    shuffle: bool = True
    #: Check the inputs and initial parameters once, and name the first non-finite loss,
    #: gradient or parameter when an epoch goes wrong (found by replaying that epoch with
    #: every array checked: no extra work while the numbers are finite).
    check_finite: bool = True

    def __post_init__(self) -> None:
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr: expected a finite learning rate > 0, got {self.lr!r}")
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: expected a positive integer, got {v!r}")
        for name in ("clip_value", "clip_norm"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name}: expected a finite number > 0, got {v!r}")
        if self.early_stopping is not None and self.early_stopping < 1:
            raise ValueError(f"early_stopping: expected a patience >= 1 epoch, got {self.early_stopping}")
        if self.tbptt is not None:
            t = self.tbptt
            if (not isinstance(t, (tuple, list)) or len(t) != 2
                    or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in t) or t[0] > t[1]):
                raise ValueError(f"tbptt: expected two integers K1,K2 with 1 <= K1 <= K2, got {t!r}")
        self.make_optimizer()

    def make_optimizer(self):
        """``optim.make(optimizer, lr=lr)``, with ``momentum`` and ``nesterov`` where set
        (sgd's and rmsprop's momentum; another optimizer refuses them).  An unknown name is a
        ValueError naming the known ones."""
        hyper: dict = {"lr": self.lr}
        if self.momentum:
            hyper["momentum"] = self.momentum
        if self.nesterov:
            hyper["nesterov"] = self.nesterov
        return optim.make(self.optimizer, **hyper)

    def to_json(self) -> dict:
        d = asdict(self)
        d["freeze"] = list(self.freeze)
        d["tbptt"] = list(self.tbptt) if self.tbptt else None
        return d

    @classmethod
    def from_json(cls, d: dict) -> TrainConfig:
        d = dict(d)
        d["freeze"] = tuple(d.get("freeze", ()))
        d["tbptt"] = tuple(d["tbptt"]) if d.get("tbptt") else None
        return cls(**d)


@dataclass
class TrainState:
    """Everything a checkpoint holds besides the configuration."""

    params: dict
    opt_state: dict
    epoch: int = 0  # epochs completed
    history: list[dict] = field(default_factory=list)
    best_params: dict | None = None
    best_val: float = math.inf
    best_epoch: int = 0
    clipped: int = 0  # updates whose gradient was clipped, in all
    updates: int = 0
    patience_from: int = 0  # early stopping counts epochs without improvement from here (a run extended)


class Trainer:
    """Runs epochs of a :class:`~rnnx.model.Model` on a :class:`~rnnx.dataset.Dataset`."""

    def __init__(self, model, ds: Dataset, cfg: TrainConfig, state: TrainState, *, target: Any,
                 diagnostics: Any = None, distribution: Any = None) -> None:
        """``target`` is the :class:`rnnx.backends.Target` the arrays live on;
        ``diagnostics`` an :class:`rnnx.recorder.Recorder` (what ``rnnx.fit(diagnostics=)``
        records: per update in the update's program, per epoch on its probe batch);
        ``distribution`` an :class:`rnnx.distributed.DataParallel`: each batch split over
        its devices, one SPMD program per update (what ``rnnx.fit(distribution=)`` does;
        the parameters are on the trainer's device between epochs)."""
        self.model, self.ds, self.cfg, self.state, self.target = model, ds, cfg, state, target
        self.xp, self.device = target.namespace(), target.device_obj()
        self._checking: tuple[int, list[int]] | None = None  # (epoch, [update]) while an epoch is replayed
        self.opt = cfg.make_optimizer()
        self._dropout = model.layer.dropout > 0  # then every update draws its masks from its own seed
        xp = self.xp
        # the update rnnx.fit runs: loss_and_grad, clipping, the optimizer step; one compiled
        # program where the backend has jit (JAX), and nothing read back to the host per update
        self._apply = fitting.make_apply(self.opt, clip_value=cfg.clip_value, clip_norm=cfg.clip_norm,
                                         freeze=cfg.freeze, xp=xp)
        compile_ = target.capabilities.jit
        self.recorder, stats = None, None
        if diagnostics is not None:
            part = ds.parts["train"]
            self.recorder, stats = fitting._recorder(diagnostics, model, fitting.Batches(part.x, part.y, None,
                                                                                          part.y.ndim - 2),
                                                     L.get(cfg.loss), cfg.loss, tbptt=cfg.tbptt,
                                                     clip_value=cfg.clip_value, clip_norm=cfg.clip_norm,
                                                     freeze=cfg.freeze, steps_per_execution=None, jit=compile_,
                                                     xp=xp)
        self._epoch_stats: list = []
        self.dask = None
        if isinstance(distribution, DaskParallel):  # the training windows on the Dask workers
            part = ds.parts["train"]
            self.dask = fitting._dask_session(distribution, model, fitting.Batches(part.x, part.y, None,
                                                                                   part.y.ndim - 2),
                                              cfg.loss, xp, tbptt=cfg.tbptt, diagnostics=diagnostics)
        self.plan = distributed.plan(distribution, xp, batch_size=cfg.batch_size, tbptt=cfg.tbptt,
                                     diagnostics=diagnostics, model=model, loss_name=cfg.loss, home=self.device)
        self._compiled = compile_ is not None
        if self.plan is None:
            update = fitting.make_update(model, self._apply, L.get(cfg.loss), stats=stats)
            self._step = compile_(update) if compile_ else update
        else:
            update = distributed.make_update(model, self._apply, cfg.loss, L.get(cfg.loss), xp=xp,
                                             all_sum=self.plan.all_sum)
            y_axis = ds.parts["train"].y.ndim - 2
            split = (None, None, 1, y_axis, None, None)
            self._step = self.plan.data_parallel(update, self.plan.devices, split)
            self._padded = self.plan.data_parallel(update, self.plan.devices, split + (0,))
        fwd = lambda p, x: model.predict(p, x)[0]  # noqa: E731
        self._predict = compile_(fwd) if compile_ else fwd

    def close(self) -> None:
        """Close what the trainer holds open (a Dask client and its LocalCluster)."""
        if self.dask is not None:
            self.dask.close()
            self.dask = None

    # -- one update -----------------------------------------------------------------------
    def _dropout_seed(self) -> int:
        """The dropout seed of the next update: a function of (seed, update count) only, so a
        resumed run draws the masks an uninterrupted one draws."""
        return random.Random(f"{self.cfg.seed}:dropout:{self.state.updates}").getrandbits(31)

    def _update(self, params: dict, grads: dict) -> dict:
        """One optimizer step from ``grads`` (truncated BPTT, and the checked replay of an
        epoch): :func:`rnnx.fitting.make_apply`'s freeze, clip and step, eagerly."""
        st = self.state
        if self._checking is not None:
            self._check(grads, "grads")
        params, st.opt_state, clipped = self._apply(params, st.opt_state, grads)
        st.clipped += int(clipped)
        st.updates += 1
        if self._checking is not None:
            self._check(params, "params")
            self._checking[1][0] += 1
        return params

    def _check(self, arrays: dict, what: str) -> None:
        """While replaying an epoch: the first non-finite array of ``arrays`` ends it."""
        from rnnx import checks

        named = [(f"{what}[{k!r}]", arrays[k]) for k in self.model.param_shapes() if k in arrays]
        bad = checks.first_non_finite(named, xp=self.xp)
        if bad is not None:
            epoch, count = self._checking
            raise NonFiniteLoss(epoch, math.nan, f"update {count[0] + 1} of epoch {epoch}: {bad}")

    # -- one epoch ------------------------------------------------------------------------
    def _batches(self, epoch: int):
        part = self.ds.parts["train"]
        x, y = part.x, part.y
        if self.plan is not None:  # every device holds the training windows
            x, y = self.plan.place((x, y))
        order = list(range(part.n))
        if self.cfg.shuffle:
            random.Random(f"{self.cfg.seed}:{epoch}").shuffle(order)
            idx = index_array(order, xp=self.xp, dtype=self.xp.int64, device=self.device)
            if self.plan is not None:
                idx = self.plan.place(idx)
            x = self.xp.take(x, idx, axis=1)
            y = self.xp.take(y, idx, axis=part.y.ndim - 2)
        bs = self.cfg.batch_size
        for a in range(0, part.n, bs):
            e = min(a + bs, part.n)  # the standard leaves a slice past the end unspecified (array-api-strict refuses it)
            yield x[:, a:e, ...], y[..., a:e, :], order[a:e]

    def train_epoch(self, should_stop: Callable[[], bool] | None = None) -> float:
        """One pass over the training windows; returns the mean of the batch losses.
        ``should_stop`` is asked before every batch: when it says yes, the epoch is undone
        (the state is left as it was before the epoch) and :class:`Stopped` raised."""
        st, cfg, xp = self.state, self.cfg, self.xp
        params, n = st.params, 0
        self._epoch_stats = []
        before = (st.opt_state, st.clipped, st.updates)  # arrays are never mutated: references suffice
        eager = cfg.tbptt or self._checking is not None  # the update step by step, its arrays checked
        opt_state = st.opt_state if eager or not self._compiled else optim.as_arrays(st.opt_state, xp=xp,
                                                                                         device=self.device,
                                                                                         params=st.params)
        if self.plan is not None:
            params, opt_state = self.plan.place((params, opt_state))
        total, clipped = 0.0, None  # the loss and clip count summed on the device: one host read per epoch
        for xb, yb, idx in self._batches(st.epoch):
            if should_stop is not None and should_stop():
                st.opt_state, st.clipped, st.updates = before
                raise Stopped(st.epoch)
            seed = self._dropout_seed() if self._dropout else None
            if cfg.tbptt:
                params, losses = tbptt.run(self.model, params, xb, yb, k1=cfg.tbptt[0], k2=cfg.tbptt[1],
                                           update=self._update, loss=cfg.loss, seed=seed)
                total += sum(float(v) for v in losses) / len(losses)
            elif self.dask is not None:  # the batch's parts on the Dask workers; clip and step here
                try:
                    loss, grads = self.dask.loss_and_grad(self.model, params, idx)
                except WorkersLost:
                    st.opt_state, st.clipped, st.updates = before
                    raise
                params, opt_state, c = self._apply(params, opt_state, grads)
                c = xp.astype(c, index_dtype(xp, self.device))
                total, clipped = total + loss, (c if clipped is None else clipped + c)
                st.updates += 1
            elif eager:
                loss, grads, _ = self.model.loss_and_grad(params, xb, yb, loss=cfg.loss, seed=seed)
                if not math.isfinite(float(loss)):
                    epoch, count = self._checking
                    raise NonFiniteLoss(epoch, float(loss), f"update {count[0] + 1} of epoch {epoch}: the loss is "
                                        f"{float(loss)} with finite inputs and parameters")
                params = self._update(params, grads)
                total += float(loss)
            else:
                if seed is not None:  # the seed as an array: one compiled program for every update
                    seed = xp.asarray(seed, dtype=index_dtype(xp, self.device), device=self.device)
                if self.plan is None:
                    params, opt_state, loss, c, *rec = self._step(params, opt_state, xb, yb, None, seed)
                else:  # a batch that does not split over the devices: padded, the padding masked
                    xb, yb, valid = distributed.pad_batch(self.plan, xb, yb, y_axis=yb.ndim - 2, xp=xp)
                    params, opt_state, loss, c, *rec = (self._step(params, opt_state, xb, yb, None, seed)
                                                        if valid is None else
                                                        self._padded(params, opt_state, xb, yb, None, seed, valid))
                self._epoch_stats += rec
                c = xp.astype(c, index_dtype(xp, self.device))
                total, clipped = total + loss, (c if clipped is None else clipped + c)
                st.updates += 1
            n += 1
        if self.plan is not None:  # back on the trainer's device between epochs
            params, opt_state = self.plan.home((params, opt_state))
        if not eager:
            st.opt_state = optim.as_python(opt_state) if self._compiled else opt_state
            st.clipped += int(clipped) if clipped is not None else 0
        st.params = params
        return float(total) / n

    # -- evaluation ---------------------------------------------------------------------------
    def predict_all(self, part: str, params: dict | None = None) -> list[list[float]]:
        """The model's forecast of each target after each window, one list per target
        (its own units: output k through target k's normaliser, plus its base under
        ``--difference``)."""
        p = self.ds.parts[part]
        norms = self.ds.target_norms
        if p.n == 0:
            return [[] for _ in norms]
        pred = self._predict(params if params is not None else self.state.params, p.x)
        last = self.target.to_numpy(pred if pred.ndim == 2 else pred[-1, ...])
        out = []
        for k, norm in enumerate(norms):
            col = [norm.inverse(float(v)) for v in last[:, k].tolist()]
            out.append(col if p.bases is None else [b + v for b, v in zip(p.bases[k], col)])  # a change: levels
        return out

    def predict(self, part: str, params: dict | None = None) -> list[float]:
        """The model's forecast of the (first) target after each window (original units)."""
        return self.predict_all(part, params)[0]

    def mse_per_target(self, part: str, params: dict | None = None) -> list[float]:
        """Each target's MSE of the forecast of the value after each window, in its own
        units (``inf`` when that overflows float64, for values beyond ~1e154)."""
        zs = self.mse_normalised_per_target(part, params)
        return [z * n.std * n.std if math.isfinite(z) else z for z, n in zip(zs, self.ds.target_norms)]

    def mse(self, part: str, params: dict | None = None) -> float:
        """The mean over the targets of :meth:`mse_per_target` (the one target's MSE, in its
        units, for a run of one)."""
        return _mean(self.mse_per_target(part, params))

    def mse_normalised_per_target(self, part: str, params: dict | None = None) -> list[float]:
        """Each target's MSE in the normalised units the model computes in."""
        p = self.ds.parts[part]
        norms = self.ds.target_norms
        if p.n == 0:
            return [math.nan for _ in norms]
        out = []
        for pred, truth, norm in zip(self.predict_all(part, params), p.last_targets, norms):
            std = norm.std
            err = [(a - b) / std for a, b in zip(pred, truth)]
            out.append(math.fsum(e * e for e in err) / p.n)
        return out

    def mse_normalised(self, part: str, params: dict | None = None) -> float:
        """The MSE over every target in normalised units (the mean of
        :meth:`mse_normalised_per_target`, the training loss's quantity): the divergence
        check and early stopping use it, so a series' magnitude never reads as divergence."""
        return _mean(self.mse_normalised_per_target(part, params))

    # -- finiteness -------------------------------------------------------------------------
    def check_inputs(self) -> None:
        """The windows of every part and the parameters must be finite (``check_finite``):
        :class:`rnnx.NonFiniteError` naming the first array that is not."""
        from rnnx import checks

        named = [(f"{name} {a}", getattr(p, a)) for name, p in self.ds.parts.items() if p.n for a in ("x", "y")]
        named += [(f"params[{k!r}]", self.state.params[k]) for k in self.model.param_shapes()]
        checks.all_finite(named, xp=self.xp)

    def _replay(self, start: tuple) -> str | None:
        """Redo the epoch that went non-finite from its start, every loss, gradient and
        updated parameter checked (the same shuffle and dropout seeds: the same numbers),
        and name the first non-finite one; the state is left as at the epoch's start."""
        st = self.state
        st.params, st.opt_state, st.clipped, st.updates = start
        self._checking = (st.epoch + 1, [0])
        try:
            self.train_epoch()
        except NonFiniteLoss as e:
            return e.where
        finally:
            self._checking = None
            st.params, st.opt_state, st.clipped, st.updates = start
        return None

    def _history_units(self, zs: list[float]) -> float:
        """A history row's MSE: the mean over the targets of each normalised MSE times its
        target's variance (its units)."""
        out = []
        for z, norm in zip(zs, self.ds.target_norms):
            var = norm.std * norm.std
            out.append(z * var if math.isfinite(z) else z)
        return _mean(out)

    # -- the loop ---------------------------------------------------------------------------
    def early_stop_due(self) -> bool:
        """Has the validation loss not improved for ``early_stopping`` epochs (counted from
        the best epoch, or from where a finished run was extended)?"""
        st, cfg = self.state, self.cfg
        return cfg.early_stopping is not None and st.epoch - max(st.best_epoch, st.patience_from) >= cfg.early_stopping

    def run(self, *, on_epoch: Callable[[dict], None] | None = None,
            checkpoint: Callable[[bool], None] | None = None, checkpoint_every: int = 0,
            should_stop: Callable[[], bool] | None = None) -> str:
        """Train until ``cfg.epochs`` (or early stopping); returns why it stopped.  A state
        that is already done (resumed after its last epoch) trains nothing.  ``should_stop``
        (a signal arrived) is asked before every batch and after every epoch: training then
        ends at the last completed epoch with :class:`Stopped`."""
        st, cfg = self.state, self.cfg
        if cfg.check_finite:
            self.check_inputs()
        if self.early_stop_due():
            return "early-stopped"
        rec = self.recorder
        if rec is not None:
            rec.truncate(st.epoch)
            if not any(r["epoch"] == st.epoch for r in rec.epochs):
                rec.record_epoch(st.epoch, st.params)  # where training starts (epoch 0: the initial parameters)
        while st.epoch < cfg.epochs:
            if should_stop is not None and should_stop():
                raise Stopped(st.epoch)
            t0 = time.perf_counter()
            clipped0, updates0 = st.clipped, st.updates
            start = (st.params, st.opt_state, st.clipped, st.updates)
            batch_loss = self.train_epoch(should_stop)
            if rec is not None:  # before the finiteness checks: an update that exploded is on record
                rec.record_updates(st.epoch + 1, updates0, self._epoch_stats, self.xp)
            bad = math.inf
            if not math.isfinite(batch_loss):
                bad = batch_loss
            else:
                train_zs, val_zs = self.mse_normalised_per_target("train"), self.mse_normalised_per_target("val")
                train_z, val_z = _mean(train_zs), _mean(val_zs)
                if not math.isfinite(train_z):
                    bad = train_z
                elif all(bool(self.xp.all(self.xp.isfinite(p))) for p in st.params.values()):
                    bad = None  # (a -inf behind a ReLU can hide from the loss: the parameters are checked too)
            if bad is not None:
                where = None
                if cfg.check_finite:
                    where = self._replay(start) or (
                        "every update's loss, gradients and parameters are finite, but "
                        + ("the sum of the batch losses overflows" if not math.isfinite(batch_loss) else
                           "the predictions on the training windows overflow"))
                raise NonFiniteLoss(st.epoch + 1, bad, where)
            train, val = (self._history_units(zs) for zs in (train_zs, val_zs))  # the series' units
            st.epoch += 1
            row = {"epoch": st.epoch, "batch_loss": batch_loss, "train_mse": train, "val_mse": val,
                   "clipped": (st.clipped - clipped0) / max(1, st.updates - updates0),
                   "seconds": time.perf_counter() - t0}
            st.history.append(row)
            if rec is not None:
                rec.record_epoch(st.epoch, st.params)
            score = val_z if math.isfinite(val_z) else train_z
            if score < st.best_val:
                st.best_val, st.best_epoch, st.best_params = score, st.epoch, st.params
            if on_epoch:
                on_epoch(row)
            stop = self.early_stop_due()
            last = stop or st.epoch >= cfg.epochs
            if checkpoint and (last or (checkpoint_every and st.epoch % checkpoint_every == 0)):
                checkpoint(last)
            if stop:
                return "early-stopped"
        return "done"


def _mean(values: list[float]) -> float:
    """The mean of per-target numbers; the one number itself for one target (bit for bit)."""
    return values[0] if len(values) == 1 else math.fsum(values) / len(values)
