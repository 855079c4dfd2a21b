"""Does a run fit this machine?  The command line's layer on :mod:`rnnx.bounds` (which
sizes a run from the model's parameter shapes, the batch and the steps, and holds the
equations): it names the flag to lower.  Every run kind calls it before anything is
allocated: :func:`check_fits` (``rnnx train`` of a series: --hidden, --layers,
--batch-size, --window), :func:`check_panel` (``--npz``/``--ts``/``--uea``, once the
cases' shapes are known), :func:`check_panel_data` (the copies of the cases a run makes
while it standardises them), :func:`check_text` (``--text``, once the vocabulary is known)
and :func:`check_workers` (``--dask-workers``).  The three kinds of run are one routine
(:func:`_refuse`) with each kind's sizes (:data:`rnnx.cli.table.SIZES`): a run is refused with an
:class:`AppError` (exit 2) that needs more memory than is available, has more than
:data:`MAX_LAYERS` layers, or a parameter tensor above :data:`MAX_TENSOR_ELEMENTS`
elements whatever the memory.

For ``rnnx train`` of a series, :func:`rnnx.bounds.estimate` gets: the batch capped at the
training windows when the series length is known, and one evaluation pass over the
largest part of the windows (rnnx/training/windows.py evaluates a part at once).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Callable
from typing import Any

from rnnx import bounds as lib
from rnnx import data
from rnnx.bounds import Estimate, available_memory, human  # noqa: F401 -- this module's names since 0.1
from rnnx.cli.errors import AppError, flag_for
from rnnx.cli.run import model_of as model_of_settings
from rnnx.cli.run import setting
from rnnx.cli.runrecord import model_for
from rnnx.cli.settings import TrainSettings
from rnnx.cli.table import DEFAULTS, SIZES, is_int  # noqa: F401 (SIZES: this module's name since 0.1)
from rnnx.data.dataset import PRESETS

#: No parameter tensor may hold more elements than this, whatever the memory (index
#: arithmetic in some backends' kernels is 32-bit).
MAX_TENSOR_ELEMENTS = 2**31
#: Stacked layers at most: each is a sequential pass over the window in every update, so
#: a deeper stack would run for hours per epoch and answer a stop request only after it.
MAX_LAYERS = 1000
#: ``--dask-workers`` at most, per CPU core of this machine (each worker is a process).
MAX_WORKERS_PER_CPU = 4
#: The memory of one Dask worker process before it holds any data (an interpreter with
#: NumPy, Dask and rnnx imported: about 100 MB resident, measured).
WORKER_BASE_BYTES = 100 * 10**6
#: The float64 copies of the cases the classification run makes while it splits and
#: standardises them (the parts, two temporaries of ``(x - mean) / std``, the result).
PANEL_DATA_COPIES = 4

_ITEMSIZE = {"float32": 4, "float64": 8}

_SLOTS = {"adam": 2, "adamw": 2, "adagrad": 1, "rmsprop": 1}
"""Slots of the CLI's optimizers (no momentum or centred rmsprop, no amsgrad: the CLI sets neither)."""


#: The run's model from its settings (no array is allocated).
model_of = model_for


def optimizer_slots(s: Any) -> int:
    """Per-parameter arrays the optimizer of any task's settings ``s`` keeps: adam and adamw 2,
    adagrad and rmsprop 1, sgd 1 with momentum, else 0."""
    return _SLOTS.get(setting(s, "optimizer"), 1 if setting(s, "momentum") else 0)


def _transforms(s: Any) -> int:
    return (setting(s, "clip_value") is not None) + (setting(s, "clip_norm") is not None) + bool(setting(s, "freeze"))


def _two_layer_model(s: TrainSettings) -> Any:
    """The run's model with at most two layers (the shapes of every layer above the first
    are the second's; validity, e.g. --dropout needing two layers, is the same)."""
    return model_of(dataclasses.replace(s, layers=min(s.layers, 2)))


def param_counts(s: TrainSettings) -> dict[str, int]:
    """Elements of every parameter tensor of the run's model (:func:`rnnx.bounds.param_counts`
    of a model of at most two layers, the second's count repeated for the layers above)."""
    return lib.param_counts(_two_layer_model(s), s.layers)


def _series_shape(s: Any, length: int | None) -> Callable[[dict[str, int]], dict[str, int | None]]:
    """What a series run trains on, for sizes ``v``: batches of --batch-size windows of
    --window steps, capped at the training windows, and one evaluation pass over the largest
    part (both when the series' ``length`` is known)."""
    def shape(v: dict[str, int]) -> dict[str, int | None]:
        parts = None
        if length is not None:
            try:
                parts = data.split_counts(length - v["window"] - s.horizon + 1, s.split)
            except data.DataError:  # too short a series: the library says so when the run builds its data
                pass
        return {"batch_size": v["batch_size"], "steps": v["window"], "sequences": parts and parts[0],
                "eval_sequences": max(parts) if parts else 0}
    return shape


def estimate(s: TrainSettings, series_length: int | None = None) -> Estimate:
    """The peak bytes of a run of ``s`` (:func:`rnnx.bounds.estimate`); ``series_length``: the
    number of values of the series, for the evaluation pass and the cap on the batch (a
    preset's is known)."""
    return lib.estimate(_two_layer_model(s), itemsize=_ITEMSIZE[s.dtype], slots=optimizer_slots(s),
                        transforms=_transforms(s), num_layers=s.layers,
                        **_series_shape(s, series_length)({"batch_size": s.batch_size, "window": s.window}))


def _about(v: int) -> int:
    """``v`` rounded down to two significant digits (25873 -> 25000)."""
    step = 10 ** max(0, len(str(v)) - 2)
    return v // step * step


def _refuse(s: Any, task: str, build: Callable[[Any], Any], shape: Callable[[dict[str, int]], dict], *,
            what: Callable[[Estimate], str], source: str | None = None, instead: str = "",
            data_bytes: int = 0, available_bytes: int | None = None) -> None:
    """One run of ``task`` (``s``: its settings, a TrainSettings or a task's dict) checked
    before anything is allocated: its estimate (:func:`rnnx.bounds.estimate` of the model
    ``build(settings)`` builds with at most two layers, on ``shape(sizes)``: the batch, the
    steps, ...) within ``available_bytes`` (default :func:`available_memory`; not checked
    when not known), at most :data:`MAX_LAYERS` layers, no tensor above
    :data:`MAX_TENSOR_ELEMENTS` elements, and ``--dask-workers`` (:func:`check_workers`, each
    with ``data_bytes`` of data).  Refused naming the size (:data:`rnnx.cli.table.SIZES`) to lower: of those
    that alone make the run fit (the others as they are), the one given furthest above its
    default (``--batch-size 10**7`` rather than the window of 20 that would also fit at 1),
    with the largest value that fits; when none alone does, ``source`` (the data) and
    ``instead`` (what would fit), or the first size.  ``what(estimate)`` says what the bytes
    are for.  A model that cannot be built (another size too small for --proj-size, ...) is
    not a way out."""
    given = {k: setting(s, k) for k in SIZES[task]}
    b = _ITEMSIZE[setting(s, "dtype")]
    change = dataclasses.replace if dataclasses.is_dataclass(s) else lambda d, **kw: {**d, **kw}

    @functools.lru_cache(maxsize=None)
    def model(hidden: int, layers: int) -> Any:
        return build(change(s, hidden=hidden, layers=layers))

    def need(v: dict[str, int]) -> Estimate | None:
        try:
            m = model(v["hidden"], min(v["layers"], 2))
        except (ValueError, TypeError):
            return None
        return lib.estimate(m, itemsize=b, slots=optimizer_slots(s), transforms=_transforms(s), num_layers=v["layers"],
                            **shape(v))

    def fitting(key: str, fits: Callable[[Estimate], bool]) -> int | None:
        """The largest value of ``key`` below the given one that ``fits`` (the others as given)."""
        e = functools.lru_cache(maxsize=None)(lambda v: need({**given, key: v}))
        lo, hi = 1, given[key]  # the smallest value whose model is valid: validity only grows with the value
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if e(mid) is not None else (mid + 1, hi)
        return lib.largest(lambda v: e(v) is not None and fits(e(v)), lo, given[key] - 1)

    e = need(given)
    if e is None:
        return  # the run's own check says what is wrong with its model
    avail = lib.available_memory() if available_bytes is None else available_bytes
    if avail is not None and e.total_bytes > avail:
        key, top, ratio = next(iter(given)), None, -1.0
        for k in given:
            t = fitting(k, lambda x: x.total_bytes <= avail)
            t = min(t, MAX_LAYERS) if k == "layers" and t is not None else t
            over = given[k] / DEFAULTS[task][k]
            if t is not None and over > ratio:
                key, top, ratio = k, t, over
        flags = ", ".join(flag_for(k) for k in given)
        head = f"{source} need" if top is None and source else f"{flag_for(key)}: {given[key]} {SIZES[task][key]} need"
        raise AppError(f"{head} about {e.total_bytes:.2g} bytes ({human(e.total_bytes)}) for {what(e)} in "
                       f"{setting(s, 'dtype')}; this machine has {human(avail)} ({avail} bytes) available; "
                       + (f"expected at most about {_about(top)} {SIZES[task][key]}" if top is not None else
                          f"expected {instead} (or a smaller {flags}: none alone fits)" if instead else
                          f"expected a smaller {flags} (none alone fits)"))
    if given["layers"] > MAX_LAYERS:
        raise AppError(f"--layers: expected at most {MAX_LAYERS} stacked layers, got {given['layers']}")
    if e.largest > MAX_TENSOR_ELEMENTS:
        best = fitting("hidden", lambda x: x.largest <= MAX_TENSOR_ELEMENTS)
        shape_ = model(given["hidden"], min(given["layers"], 2)).param_shapes()[e.largest_name]
        raise AppError(f"--hidden: {given['hidden']} units make {e.largest_name} {shape_} {e.largest:.2g} elements; "
                       f"expected at most 2**31 elements per parameter tensor "
                       f"({f'at most about {_about(best)} units' if best else 'a smaller model'})")
    if setting(s, "dask_workers") is not None:
        check_workers(setting(s, "dask_workers"), e.params * b, data_bytes, available_bytes=avail)


def check_fits(settings: TrainSettings, *, available_bytes: int | None = None,
               series_length: int | None = None) -> None:
    """Refuse (:class:`AppError`, code 2, naming the flag to lower) a series run that would
    not fit (:func:`_refuse`).  ``series_length``: the number of values of a CSV series,
    once read (a preset's is known); it adds the evaluation pass and caps the batch at the
    training windows.  Allocates nothing; an invalid model is the library's ValueError."""
    s = settings
    length = PRESETS[s.preset]["series"][1] if "series" in PRESETS.get(s.preset, {}) else series_length
    _two_layer_model(s)  # an invalid model: the library's error, as the run would raise it
    _refuse(s, "regression", model_of, _series_shape(s, length), available_bytes=available_bytes,
            what=lambda e: f"{e.params} parameters ({e.copies} copies: parameters, gradients and optimizer state) "
                           "and the activations (forward cache and backward pass)")


# -- --dask-workers ---------------------------------------------------------------------------------
def check_workers(workers: Any, param_bytes: int, data_bytes: int = 0, *, available_bytes: int | None = None,
                  cpus: int | None = None) -> None:
    """``--dask-workers N``: at most :data:`MAX_WORKERS_PER_CPU` per CPU core (``cpus``,
    default ``os.cpu_count()``), and N worker processes of :data:`WORKER_BASE_BYTES` each
    plus their copy of the parameters and gradients (2 x ``param_bytes``) and of the data
    (``data_bytes``) within ``available_bytes`` (default :func:`available_memory`; not
    checked when not known).  Refused before any process starts."""
    if not is_int(workers) or workers < 1:
        return  # the settings' own check names it
    cpus = cpus or os.cpu_count() or 1
    top = MAX_WORKERS_PER_CPU * cpus
    if workers > top:
        raise AppError(f"--dask-workers: {workers} worker processes; expected at most {top} "
                       f"({MAX_WORKERS_PER_CPU} per CPU core, this machine has {cpus})")
    each = WORKER_BASE_BYTES + 2 * param_bytes + data_bytes
    avail = lib.available_memory() if available_bytes is None else available_bytes
    if avail is not None and workers * each > avail:
        fit = max(0, avail // each)
        raise AppError(f"--dask-workers: {workers} worker processes need about {workers * each:.2g} bytes "
                       f"({human(workers * each)}: {human(each)} each, an interpreter and its copy of the parameters, "
                       f"gradients and data); this machine has {human(avail)} ({avail} bytes) available; expected "
                       + (f"at most {fit}" if fit else "fewer workers, a smaller model or less data"))


# -- classification and text runs -------------------------------------------------------------------
def check_panel(s: dict, *, cases: tuple[int, int, int], fitted: int, n_classes: int, per_step: bool,
                source: str, available_bytes: int | None = None) -> None:
    """A classification run (``s``: its settings) on ``cases`` (N, T, I) of which
    ``fitted`` (training + validation) go to the device (:func:`_refuse`): the model on
    batches of --batch-size, plus the device copy of those cases and their labels.  Refused
    naming the flag to lower (--hidden, --layers, --batch-size) or, when none alone fits,
    the data flag ``source`` (``--ts 'f.ts'``) and its steps.  An invalid model is left to
    the run's own check."""
    n, t, i = cases
    objective = "many-to-many" if per_step else "many-to-one"
    _refuse(s, "classification", lambda x: model_of_settings(x, i, n_classes, objective=objective),
            lambda v: {"batch_size": v["batch_size"], "steps": t, "sequences": fitted,
                       "extra_bytes": fitted * t * (i * _ITEMSIZE[s["dtype"]] + (8 if per_step else 0)) + fitted * 16},
            source=f"{source}: {n} cases of up to {t} steps and {i} features", instead="shorter or fewer cases",
            what=lambda e: f"the parameters (optimizer state included), the activations (forward cache and backward "
                           f"pass) of {s['batch_size']} cases of {t} steps and the cases of {source}",
            data_bytes=fitted * t * i * 8, available_bytes=available_bytes)


def check_panel_data(source: str, shape: tuple[int, ...], *, available_bytes: int | None = None) -> None:
    """The float64 copies (:data:`PANEL_DATA_COPIES`) a classification run makes of cases
    of ``shape`` (N, T, I) read from ``source`` (``--npz 'f.npz'``) while it splits and
    standardises them, within ``available_bytes`` (default :func:`available_memory`)."""
    try:
        lib.check_bytes(f"{source}: {shape[0]} cases of up to {shape[1]} steps and {shape[2]} features, split and "
                        f"standardised ({PANEL_DATA_COPIES} float64 copies),",
                        PANEL_DATA_COPIES * math.prod(shape) * 8, available_bytes=available_bytes)
    except lib.TooLarge as e:
        raise AppError(f"{e}; expected shorter or fewer cases") from None


def check_text(s: dict, *, vocabulary: int, source: str, model_options: dict | None = None,
               available_bytes: int | None = None) -> None:
    """A character model's run (``s``: its settings) on a text of ``vocabulary`` distinct
    characters (``source``: ``--text 'f.txt'``), :func:`_refuse`: the model (input and output
    size the vocabulary, many-to-many) on --streams sequences of --seq-len steps.  Refused
    naming the flag to lower (--hidden, --layers, --seq-len, --streams) with the vocabulary's
    size, or ``source`` when none alone fits.  An invalid model is left to the run's own
    check."""
    _refuse({**s, "model_options": model_options or {}}, "text",
            lambda x: model_of_settings(x, vocabulary, vocabulary, objective="many-to-many"),
            lambda v: {"batch_size": v["streams"], "steps": v["seq_len"]},
            source=f"{source}: its vocabulary of {vocabulary} characters", instead="a text of fewer distinct characters",
            what=lambda e: f"a model reading and scoring the {vocabulary} distinct characters of {source} (parameters, "
                           "optimizer state, the one-hot inputs and the logits)", available_bytes=available_bytes)
