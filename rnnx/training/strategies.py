r"""How an update runs: the pure update function and the ways it is executed.

    apply(params, opt_state, grads) -> (params, opt_state, clipped)        make_apply: freeze, clip, step
    update(params, opt_state, x, y, lengths, seed, w) -> (..., loss, clipped)  make_update: loss_and_grad + apply
    step(...)  one update with the batch gathered inside the program         make_step
    steps(...) K updates as one compiled loop (lax.scan)                     make_steps

Compiled where the backend has ``jit`` (:func:`compiled_update`, cached), data parallel as one
SPMD program (:func:`spmd`, :mod:`rnnx.training.distributed`), on Dask workers
(:func:`dask_session`, :mod:`rnnx.training.dask_parallel`), truncated BPTT (:mod:`rnnx.training.tbptt`), and the
eager, checked replay of an epoch that went non-finite (:func:`replay_epoch`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any, Callable

import array_api_compat as compat

from rnnx import checks
from rnnx.training import distributed
from rnnx import losses as L
from rnnx import optim
from rnnx.training import tbptt as TB
from rnnx._xp import index_array, index_dtype
from rnnx.backends import capabilities
from rnnx.training.sources import Batches

__all__ = ["make_apply", "make_update", "make_step", "make_steps", "AUTO_STEPS_PER_EXECUTION", "dask_session", "spmd", "compiled_update", "all_finite", "compile_if_possible", "predictor", "start_recorder", "replay_epoch"]


def make_apply(opt, *, clip_value: float | None, clip_norm: float | None, freeze: tuple[str, ...] = (),
               xp: Any) -> Callable:
    """``apply(params, opt_state, grads) -> (params, opt_state, clipped)``: freeze, clip (by
    value, then by global norm, as the CLI always has), one optimizer step; ``clipped`` a
    0-d bool array (the gradient was clipped).

    A frozen parameter (``freeze``, a static set of names) is left out of the clipping and
    of the optimizer step: the optimizer never sees it, so no weight decay, momentum or
    ``0/0`` (Adam with ``eps=0``) reaches it; it comes back as the very same array and its
    optimizer slots as they were (absent where the optimizer creates slots on its first step)."""

    def apply(params, opt_state, grads):
        params_all, state_all = params, opt_state
        if freeze:
            params = {k: p for k, p in params.items() if k not in freeze}
            grads = {k: g for k, g in grads.items() if k not in freeze}
            opt_state = {**opt_state, "slots": {name: {k: a for k, a in d.items() if k not in freeze}
                                                for name, d in opt_state["slots"].items()}}
        clipped = None  # the comparisons themselves (no 0-d zeros per update to OR them into)
        if clip_value is not None and grads:
            grads, gmax = optim.clip_by_value(grads, clip_value, xp=xp)
            clipped = gmax > clip_value
        if clip_norm is not None and grads:
            grads, norm = optim.clip_by_global_norm(grads, clip_norm, xp=xp)
            clipped = norm > clip_norm if clipped is None else clipped | (norm > clip_norm)
        if clipped is None:  # nothing clipped: a 0-d False on the parameters' device
            clipped = xp.zeros((), dtype=xp.bool, device=compat.device(next(iter(params_all.values()))))
        params, opt_state = opt.step(params, grads, opt_state, xp=xp)
        if freeze:  # the frozen parameters and their slots as they were, in the original order
            params = {k: (p if k in freeze else params[k]) for k, p in params_all.items()}
            old_slots = state_all["slots"]
            opt_state = {**opt_state, "slots": {name: _merge_slots(d, old_slots.get(name, {}), freeze)
                                                for name, d in opt_state["slots"].items()}}
        return params, opt_state, clipped

    return apply


def _merge_slots(new: dict, old: dict, freeze: tuple[str, ...]) -> dict:
    """One optimizer slot after a step of the trainable parameters (``new``) with the frozen
    parameters' entries of ``old`` put back, in ``old``'s order (then any new keys)."""
    merged = {k: (old[k] if k in freeze else new[k]) for k in old if k in freeze or k in new}
    merged.update({k: a for k, a in new.items() if k not in merged})
    return merged


def make_update(model, apply: Callable, loss_fn: Callable, *, stats: Callable | None = None) -> Callable:
    """The whole update as one pure function of arrays (what ``jax.jit`` compiles)::

        update(params, opt_state, x, y, lengths, seed, w=None) -> (params, opt_state, loss, clipped)

    ``loss_and_grad`` (explicit BPTT) then :func:`make_apply`'s ``apply``.  With ``stats``
    (``stats(params, grads, new_params, loss, clipped) -> dict``, e.g.
    :func:`rnnx.diagnostics.recorder.update_stats`) a fifth result: that dict, formed in the same program."""

    def update(params, opt_state, x, y, lengths, seed, w=None):  # w: the batch's sample weights
        loss, grads, _ = model.loss_and_grad(params, x, y, lengths=lengths, loss=loss_fn, seed=seed, sample_weight=w)
        new, opt_state, clipped = apply(params, opt_state, grads)
        if stats is None:
            return new, opt_state, loss, clipped
        return new, opt_state, loss, clipped, stats(params, grads, new, loss, clipped)

    return update


#: The last few jitted updates, so that another ``fit`` of the same model and settings (a
#: ``fit(epochs=1)`` loop, ``resume``, the estimators' refits) reuses the compiled programs
#: instead of tracing and compiling again (about 2 s a batch shape on 2 CPU cores for an LSTM(50)).
_UPDATES: dict[tuple, Callable] = {}
_UPDATES_KEPT = 8


def make_step(update: Callable, *, y_axis: int, index_dtype: Any, xp: Any) -> Callable:
    """One update of the compiled loop, the batch gathered inside the program::

        step(params, opt_state, total, clipped, x, y, lengths, idx, seed, w=None)
            -> (params, opt_state, total + loss, clipped + was_clipped)

    ``x, y, lengths, w``: the whole training data (time-major; w the sample weights or None), ``idx`` the batch's sample
    indices; the loss and clip count are summed in the same program (no dispatch of its own).
    An update with ``stats`` (:func:`make_update`) adds its record as a fifth result."""

    def step(params, opt_state, total, clipped, x, y, lengths, idx, seed, w=None):
        b = Batches(x, y, lengths, y_axis, w).take(idx, xp=xp)
        params, opt_state, loss, c, *stats = update(params, opt_state, b.x, b.y, b.lengths, seed, b.w)
        return (params, opt_state, total + loss, clipped + xp.astype(c, index_dtype), *stats)

    return step


#: Updates per compiled call on a backend with jit and a compiled loop (JAX), when
#: ``steps_per_execution`` is None: K consecutive full batches run as one ``lax.scan`` program.
AUTO_STEPS_PER_EXECUTION = 32


def make_steps(step: Callable, *, scan: Callable, xp: Any) -> Callable:
    """K updates of :func:`make_step` as one program (the backend's compiled loop,
    ``lax.scan``; bit-identical to K calls of ``step``)::

        steps(params, opt_state, total, clipped, x, y, lengths, idx, seeds, w=None) -> the same four

    ``idx`` (K, batch) the batches' sample indices, ``seeds`` (K,) their dropout seeds or None.
    One dispatch instead of K: on the weather bench (LSTM(4 -> 50), T = 14, B = 64, 16 updates)
    an epoch of 16 jitted calls took 34.9 ms, one scan of them 26.9 ms (median of 15); with
    jax 0.10.2 the two are the same (15 updates, fastest of 40-100: 21.3-22.7 ms as 15 calls,
    21.2-22.3 ms as one scan; a call's dispatch ~0.05 ms), docs/performance.md."""

    def steps(params, opt_state, total, clipped, x, y, lengths, idx, seeds, w=None):
        def body(carry, xs):
            s = None if seeds is None else xs[1]
            return step(*carry, x, y, lengths, xs[0], s, w), ()

        carry, _ = scan(body, (params, opt_state, total, clipped), (idx,) if seeds is None else (idx, seeds),
                        reverse=False, xp=xp)
        return carry

    return steps


def dask_session(distribution: Any, model, train: Batches, loss: Any, xp: Any, *, tbptt, diagnostics):
    """The connected :class:`rnnx.training.dask_parallel.Session` of a ``DaskParallel``, else None
    (``loss``: the spec, options and all, sent to the workers)."""
    from rnnx.training.dask_parallel import DaskParallel, Session

    if not isinstance(distribution, DaskParallel):
        return None
    loss = L.for_training(loss)  # a name (the CLI's settings) or a spec
    distributed.refuse(model, loss.name, tbptt=tbptt, diagnostics=diagnostics, parts="part")
    return Session(distribution, model, train, loss, xp)


def spmd(par, fn: Callable, *, split: tuple) -> Callable:
    """``fn`` (a step of :func:`make_step`'s signature) as one program over ``par``'s
    devices: the index argument (and ``valid``) split along ``split``'s axes, the rest
    replicated."""
    return par.data_parallel(fn, par.devices, (None,) * 7 + split)


def compiled_update(model, opt, loss_name: str, clip_value, clip_norm, freeze: tuple[str, ...], xp: Any,
                     jit: Callable, update: Callable, extra: tuple = (), jit_key: Any = None) -> Callable:
    """``jit(update)``, or the one compiled before for an equal model configuration, optimizer
    (``repr`` of a frozen dataclass, as those of :mod:`rnnx.optim`: all its settings; any other
    optimizer object is compiled afresh, its attributes may change), loss, clipping, freeze
    and namespace."""
    if not (dataclasses.is_dataclass(opt) and type(opt).__dataclass_params__.frozen):
        return jit(update)
    key = (json.dumps(model.config(), sort_keys=True), repr(opt), loss_name, clip_value, clip_norm, freeze,
           xp.__name__, id(jit) if jit_key is None else jit_key, *extra)
    hit = _UPDATES.pop(key, None)
    if hit is None:
        hit = jit(update)
        while len(_UPDATES) >= _UPDATES_KEPT:
            _UPDATES.pop(next(iter(_UPDATES)))
    _UPDATES[key] = hit  # most recently used last
    return hit


def all_finite(params: dict, *, xp: Any) -> Any:
    """0-d bool: every parameter finite."""
    return xp.all(xp.stack([xp.all(xp.isfinite(v)) for v in params.values()]))


def compile_if_possible(fn: Callable, xp: Any) -> Callable:
    jit = capabilities(xp).jit
    return jit(fn) if jit else fn


def predictor(model, xp: Any) -> Callable:
    return compile_if_possible(lambda p, x, lengths: model.predict(p, x, lengths=lengths)[0], xp)


# -- settings -------------------------------------------------------------------------------------
def start_recorder(diagnostics: Any, model, train: Batches, loss_fn: Callable, loss_name: str, *, tbptt, clip_value,
              clip_norm, freeze: tuple[str, ...], steps_per_execution, jit, xp: Any) -> tuple[Any, Callable | None]:
    """The Recorder of ``diagnostics`` started on the training data, and its per-update
    statistics function (None when it records no updates)."""
    if diagnostics is None:
        return None, None
    from rnnx.diagnostics import recorder

    if not isinstance(diagnostics, recorder.Recorder):
        raise TypeError(f"diagnostics: expected an rnnx.diagnostics.recorder.Recorder, got {type(diagnostics).__name__}")
    if tbptt is not None:
        raise ValueError("diagnostics: not recorded with tbptt (its updates are per window of a batch); "
                         "train without tbptt to record them")
    if steps_per_execution is not None and steps_per_execution != 1:
        raise ValueError(f"steps_per_execution: diagnostics record every update, one program each; expected None "
                         f"or 1 with diagnostics, got {steps_per_execution!r}")
    diagnostics.start(model, train.x, train.y, train.lengths, loss=loss_fn, loss_name=loss_name,
                      y_axis=train.y_axis, clip_value=clip_value, clip_norm=clip_norm, jit=jit)
    if not diagnostics.records_updates:
        return diagnostics, None
    trainable = tuple(k for k in model.param_shapes() if k not in freeze)
    return diagnostics, functools.partial(recorder.update_stats, xp=xp, trainable=trainable)


def replay_epoch(model, apply: Callable, loss_fn: Callable, train: Batches, order: list[int], params: dict,
                     opt_state: dict, seed_of: Callable, *, epoch: int, batch_size: int, shuffle: bool, tbptt: Any,
                     xp: Any, span: tuple[int, int, int] | None = None) -> str | None:
    """Replay one epoch eagerly from ``params`` / ``opt_state`` (its sample ``order``, and
    ``seed_of(k)`` the dropout seed of a batch after k updates: the same numbers), every loss, gradient and updated parameter
    checked; the first non-finite one as ``update k of epoch e: grads['weight_hh_l0']: ...``
    (:func:`rnnx.checks.first_non_finite`), or None when each is finite.  ``span``: (first
    sample, end, updates before ``first``), the part of the epoch run (default: all of it)."""
    names, dev = list(model.param_shapes()), compat.device(train.x)
    first, end, k0 = span or (0, train.n, 0)
    count = [k0]

    class _Found(Exception):
        pass

    def check(arrays: dict, what: str) -> None:
        bad = checks.first_non_finite([(f"{what}[{k!r}]", arrays[k]) for k in names if k in arrays], xp=xp)
        if bad is not None:
            raise _Found(f"update {count[0] + 1} of epoch {epoch}: {bad}")

    def step(p: dict, g: dict) -> dict:
        nonlocal opt_state
        check(g, "grads")
        p, opt_state, _ = apply(p, opt_state, g)
        check(p, "params")
        count[0] += 1
        return p

    try:
        for a in range(first, end, batch_size):
            e = min(a + batch_size, end)
            b = (train.take(index_array(order[a:e], xp=xp, dtype=index_dtype(xp, dev), device=dev), xp=xp)
                 if shuffle else train.part(a, e))
            if tbptt is not None:
                params, _ = TB.run(model, params, b.x, b.y, k1=tbptt[0], k2=tbptt[1], update=step, loss=loss_fn,
                                   seed=seed_of(count[0]))
                continue
            loss, grads, _ = model.loss_and_grad(params, b.x, b.y, lengths=b.lengths, loss=loss_fn,
                                                 seed=seed_of(count[0]), sample_weight=b.w)
            if not bool(xp.isfinite(loss)):
                raise _Found(f"update {count[0] + 1} of epoch {epoch}: the loss is {float(loss)} with finite inputs "
                             "and parameters")
            params = step(params, grads)
    except _Found as found:
        return str(found)
    return None
