"""Does a run fit this machine?  The command line's layer on :mod:`rnnx.bounds` (which
sizes a run from the model's parameter shapes, the batch and the steps, and holds the
equations): it names the flag to lower.  Every run kind calls it before anything is
allocated: :func:`check_fits` (``rnnx train`` of a series: --hidden, --layers,
--batch-size, --window), :func:`check_panel` (``--npz``/``--ts``/``--uea``, once the
cases' shapes are known), :func:`check_panel_data` (the copies of the cases a run makes
while it standardises them), :func:`check_text` (``--text``, once the vocabulary is known)
and :func:`check_workers` (``--dask-workers``).  A run is refused with an :class:`AppError`
(exit 2) that needs more memory than is available, has a parameter tensor above
:data:`MAX_TENSOR_ELEMENTS` elements whatever the memory, or more than :data:`MAX_LAYERS`
layers.

For ``rnnx train`` of a series, :func:`rnnx.bounds.estimate` gets: the batch capped at the
training windows when the series length is known, and one evaluation pass over the
largest part of the windows (rnnx/training/windows.py evaluates a part at once).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from typing import Any

from rnnx import bounds as lib
from rnnx import data
from rnnx.bounds import Estimate, available_memory, human  # noqa: F401 -- this module's names since 0.1
from rnnx.cli.errors import AppError
from rnnx.cli.run import model_of as model_of_settings
from rnnx.cli.run import setting
from rnnx.cli.runrecord import model_for
from rnnx.cli.settings import TrainSettings
from rnnx.data.dataset import PRESETS
from rnnx.nn.model import Model

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

#: The settings whose size check_fits may name, with the flag and the unit of its value.
_SIZES = (("hidden", "--hidden", "units"), ("layers", "--layers", "layers"),
          ("batch_size", "--batch-size", "windows per batch"), ("window", "--window", "steps"))


#: The run's model from its settings (no array is allocated).
model_of = model_for


def _two_layer_model(s: TrainSettings) -> Model:
    """The run's model with at most two layers (the shapes of every layer above the first
    are the second's; validity, e.g. --dropout needing two layers, is the same)."""
    return model_of(dataclasses.replace(s, layers=min(s.layers, 2)))


_SLOTS = {"adam": 2, "adamw": 2, "adagrad": 1, "rmsprop": 1}
"""Slots of the CLI's optimizers (no momentum or centred rmsprop, no amsgrad: the CLI sets neither)."""


def optimizer_slots(s: Any) -> int:
    """Per-parameter arrays the optimizer of any task's settings ``s`` keeps: adam and adamw 2,
    adagrad and rmsprop 1, sgd 1 with momentum, else 0."""
    return _SLOTS.get(setting(s, "optimizer"), 1 if setting(s, "momentum") else 0)


def _transforms(s: Any) -> int:
    return (setting(s, "clip_value") is not None) + (setting(s, "clip_norm") is not None) + bool(setting(s, "freeze"))


def param_copies(s: TrainSettings) -> int:
    """Copies of the parameters an update holds at once (:func:`rnnx.bounds.param_copies`)."""
    return lib.param_copies(optimizer_slots(s), _transforms(s))


def _windows(s: TrainSettings, series_length: int | None) -> tuple[int, int] | None:
    """(training windows, windows of the largest part), or None when not known."""
    if series_length is None:
        return None
    try:
        counts = data.split_counts(series_length - s.window - s.horizon + 1, s.split)
    except data.DataError:  # too short a series: the library says so when the run builds its data
        return None
    return counts[0], max(counts)


def param_counts(s: TrainSettings) -> dict[str, int]:
    """Elements of every parameter tensor of the run's model (:func:`rnnx.bounds.param_counts`
    of a model of at most two layers, the second's count repeated for the layers above)."""
    return lib.param_counts(_two_layer_model(s), s.layers)


def estimate(s: TrainSettings, series_length: int | None = None) -> Estimate:
    """The peak bytes of a run of ``s`` (:func:`rnnx.bounds.estimate`); ``series_length``: the
    number of values of the series, for the evaluation pass and the cap on the batch (a
    preset's is known)."""
    parts = _windows(s, series_length)
    return lib.estimate(_two_layer_model(s), batch_size=s.batch_size, steps=s.window,
                        sequences=None if parts is None else parts[0], itemsize=_ITEMSIZE[s.dtype],
                        slots=optimizer_slots(s), transforms=_transforms(s),
                        eval_sequences=0 if parts is None else parts[1], num_layers=s.layers)


def _about(v: int) -> int:
    """``v`` rounded down to two significant digits (25873 -> 25000)."""
    step = 10 ** max(0, len(str(v)) - 2)
    return v // step * step


def _valid(s: TrainSettings) -> bool:
    try:
        _two_layer_model(s)
    except (ValueError, TypeError):
        return False
    return True


def _smallest_valid(s: TrainSettings, field: str) -> int:
    """The smallest value of ``field`` whose model is valid (e.g. --hidden above
    --proj-size, --layers 2 with --dropout); validity only grows with the value."""
    given = getattr(s, field)
    lo, hi = 1, given
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if _valid(dataclasses.replace(s, **{field: mid})) else (mid + 1, hi)
    return lo


def _max_fit(s: TrainSettings, field: str, fits: Callable[[TrainSettings], bool]) -> int | None:
    """The largest value of ``field`` below the given one that ``fits``, the others as they
    are; None when no value does."""
    given = getattr(s, field)
    return lib.largest(lambda v: fits(dataclasses.replace(s, **{field: v})), _smallest_valid(s, field), given - 1)


def _check_layers(s: TrainSettings) -> None:
    if s.layers > MAX_LAYERS:
        raise AppError(f"--layers: expected at most {MAX_LAYERS} stacked layers, got {s.layers}")


def _check_tensor_bound(s: TrainSettings) -> None:
    """No parameter tensor above MAX_TENSOR_ELEMENTS elements (grows with --hidden only)."""
    e = estimate(s)
    if e.largest <= MAX_TENSOR_ELEMENTS:
        return
    shape = _two_layer_model(s).param_shapes()[e.largest_name]
    best = _max_fit(s, "hidden", lambda t: estimate(t).largest <= MAX_TENSOR_ELEMENTS)
    at_most = f"at most about {_about(best)} units" if best else "a smaller model"
    raise AppError(f"--hidden: {s.hidden} units make {e.largest_name} {shape} {e.largest:.2g} elements; expected "
                   f"at most 2**31 elements per parameter tensor ({at_most})")


def _culprit(s: TrainSettings, fits: Callable[[TrainSettings], bool]) -> tuple[str, str, str, int | None]:
    """The size setting to lower: of those that alone can make the run fit (the others as
    they are), the one given furthest above its default (``--batch-size 10**7`` rather than
    the window of 20 that would also fit at 1).  Returns (field, flag, unit, the largest
    value that fits); ``("hidden", "--hidden", "units", None)`` if none alone fits."""
    best, ratio = ("hidden", "--hidden", "units", None), -1.0
    for field, flag, unit in _SIZES:
        top = _max_fit(s, field, fits)
        if field == "layers" and top is not None:
            top = min(top, MAX_LAYERS)
        over = getattr(s, field) / getattr(TrainSettings, field)
        if top is not None and over > ratio:
            best, ratio = (field, flag, unit, top), over
    return best


def check_fits(settings: TrainSettings, *, available_bytes: int | None = None,
               series_length: int | None = None) -> None:
    """Refuse (:class:`AppError`, code 2, naming the flag to lower) a run that would not fit:
    a parameter tensor above :data:`MAX_TENSOR_ELEMENTS` elements, or an estimated peak
    (:func:`estimate`) above ``available_bytes`` (default :func:`available_memory`; the
    memory check is skipped when that is not known).  ``series_length``: the number of
    values of a CSV series, once read (a preset's is known); it adds the evaluation pass
    and caps the batch at the training windows.  Allocates nothing."""
    s = settings
    avail = lib.available_memory() if available_bytes is None else available_bytes
    length = PRESETS[s.preset]["series"][1] if "series" in PRESETS.get(s.preset, {}) else series_length
    if avail is not None:
        _check_memory(s, avail, length)
    _check_layers(s)
    _check_tensor_bound(s)
    if s.dask_workers is not None:
        e = estimate(s, length)
        check_workers(s.dask_workers, e.params * _ITEMSIZE[s.dtype], available_bytes=avail)


def _check_memory(s: TrainSettings, avail: int, length: int | None) -> None:
    """The estimated peak (:func:`estimate`) within ``avail`` bytes."""
    e = estimate(s, length)
    if e.total_bytes <= avail:
        return
    fits = lambda t: estimate(t, length).total_bytes <= avail  # noqa: E731
    field, flag, unit, top = _culprit(s, fits)
    at_most = (f"expected at most about {_about(top)} {unit}" if top is not None else
               "expected a smaller --hidden, --layers, --batch-size or --window (none alone fits)")
    raise AppError(f"{flag}: {getattr(s, field)} {unit} need about {e.total_bytes:.2g} bytes "
                   f"({human(e.total_bytes)}) for {e.params} parameters ({e.copies} copies: parameters, "
                   f"gradients and optimizer state) and the activations (forward cache and backward pass) in "
                   f"{s.dtype}; this machine has {human(avail)} available; {at_most}")


# -- --dask-workers ---------------------------------------------------------------------------------
def check_workers(workers: Any, param_bytes: int, data_bytes: int = 0, *, available_bytes: int | None = None,
                  cpus: int | None = None) -> None:
    """``--dask-workers N``: at most :data:`MAX_WORKERS_PER_CPU` per CPU core (``cpus``,
    default ``os.cpu_count()``), and N worker processes of :data:`WORKER_BASE_BYTES` each
    plus their copy of the parameters and gradients (2 x ``param_bytes``) and of the data
    (``data_bytes``) within ``available_bytes`` (default :func:`available_memory`; not
    checked when not known).  Refused before any process starts."""
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
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
def _pick(sizes: list[tuple[str, str, str, int, int]], need: Callable[[dict[str, int]], int],
          avail: int) -> tuple[str, str, int, int | None]:
    """Of ``sizes`` (key, flag, unit, given value, default), the one to lower: of those that
    alone make ``need`` fit ``avail`` (the others as they are), the one given furthest above
    its default.  (flag, unit, given, the largest value that fits); the first with None if
    none alone fits."""
    best, ratio = (sizes[0][1], sizes[0][2], sizes[0][3], None), -1.0
    for key, flag, unit, given, default in sizes:
        top = lib.largest(lambda v, k=key: need({k: v}) <= avail, 1, given - 1)
        if top is not None and given / default > ratio:
            best, ratio = (flag, unit, given, top), given / default
    return best


def _layers_bound(layers: int) -> None:
    if layers > MAX_LAYERS:
        raise AppError(f"--layers: expected at most {MAX_LAYERS} stacked layers, got {layers}")


def _tensor_bound(model: Model, hidden: int) -> None:
    shapes = model.param_shapes()
    name = max(shapes, key=lambda k: math.prod(shapes[k]))
    n = math.prod(shapes[name])
    if n > MAX_TENSOR_ELEMENTS:
        raise AppError(f"--hidden: {hidden} units make {name} {shapes[name]} {n:.2g} elements; expected at most "
                       "2**31 elements per parameter tensor")


def _panel_model(s: dict, n_in: int, n_classes: int, per_step: bool, hidden: int, layers: int) -> Model:
    return model_of_settings({**s, "hidden": hidden, "layers": min(layers, 2)}, n_in, n_classes,
                             objective="many-to-many" if per_step else "many-to-one")


def check_panel(s: dict, *, cases: tuple[int, int, int], fitted: int, n_classes: int, per_step: bool,
                source: str, available_bytes: int | None = None) -> None:
    """A classification run (``s``: its settings) on ``cases`` (N, T, I) of which
    ``fitted`` (training + validation) go to the device: :func:`rnnx.bounds.estimate` of
    the model on batches of --batch-size, plus the device copy of those cases and their
    labels, within ``available_bytes`` (default :func:`available_memory`).  Refused naming
    the flag to lower (--hidden, --layers, --batch-size) or, when none alone fits, the data
    flag ``source`` (``--ts 'f.ts'``) and its steps; also more than :data:`MAX_LAYERS`
    layers, a tensor above :data:`MAX_TENSOR_ELEMENTS` elements and --dask-workers (see
    :func:`check_workers`).  An invalid model is left to the run's own check."""
    n, t, i = cases
    b = _ITEMSIZE[s["dtype"]]
    _layers_bound(s["layers"])
    try:
        model = _panel_model(s, i, n_classes, per_step, s["hidden"], s["layers"])
    except (ValueError, TypeError):
        return  # the run's _model says what is wrong
    data_bytes = fitted * t * (i * b + (8 if per_step else 0)) + fitted * 16

    def need(change: dict[str, int]) -> int:
        v = {"hidden": s["hidden"], "layers": s["layers"], "batch_size": s["batch_size"], **change}
        same = v["hidden"] == s["hidden"] and min(v["layers"], 2) == min(s["layers"], 2)
        try:
            m = model if same else _panel_model(s, i, n_classes, per_step, v["hidden"], v["layers"])
        except (ValueError, TypeError):  # e.g. --proj-size above a smaller --hidden: not a way out
            return 1 << 80
        return lib.estimate(m, batch_size=v["batch_size"], steps=t, sequences=fitted, itemsize=b,
                            slots=optimizer_slots(s), transforms=_transforms(s), num_layers=v["layers"],
                            extra_bytes=data_bytes).total_bytes

    avail = lib.available_memory() if available_bytes is None else available_bytes
    total = need({})
    if avail is not None and total > avail:
        sizes = [("hidden", "--hidden", "units", s["hidden"], 64), ("layers", "--layers", "layers", s["layers"], 1),
                 ("batch_size", "--batch-size", "cases per batch", s["batch_size"], 32)]
        flag, unit, given, top = _pick(sizes, need, avail)
        head = (f"{flag}: {given} {unit} need" if top is not None else
                f"{source}: {n} cases of up to {t} steps and {i} features need")
        at_most = (f"expected at most about {_about(top)} {unit}" if top is not None else
                   "expected shorter or fewer cases (or a smaller --hidden, --layers, --batch-size: none alone fits)")
        raise AppError(f"{head} about {total:.2g} bytes ({human(total)}) for the parameters (optimizer state "
                       f"included), the activations (forward cache and backward pass) of {s['batch_size']} cases "
                       f"of {t} steps and the cases of {source} in {s['dtype']}; this machine has {human(avail)} "
                       f"({avail} bytes) available; {at_most}")
    _tensor_bound(model, s["hidden"])
    if s.get("dask_workers") is not None:
        check_workers(s["dask_workers"], sum(lib.param_counts(model, s["layers"]).values()) * b,
                      fitted * t * i * 8, available_bytes=avail)


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
    characters (``source``: ``--text 'f.txt'``): :func:`rnnx.bounds.estimate` of the model
    (input and output size the vocabulary, many-to-many) on --streams sequences of
    --seq-len steps, within ``available_bytes`` (default :func:`available_memory`).  Refused
    naming the flag to lower (--hidden, --layers, --seq-len, --streams) with the vocabulary's
    size, or ``source`` when none alone fits; also more than :data:`MAX_LAYERS` layers and a
    tensor above :data:`MAX_TENSOR_ELEMENTS` elements.  An invalid model is left to the
    run's own check."""
    options = model_options or {}
    b = _ITEMSIZE[s["dtype"]]
    _layers_bound(s["layers"])

    def build(hidden: int, layers: int) -> Model:
        return model_of_settings({**s, "hidden": hidden, "layers": min(layers, 2), "model_options": options},
                                 vocabulary, vocabulary, objective="many-to-many")

    try:
        model = build(s["hidden"], s["layers"])
    except (ValueError, TypeError):
        return

    def need(change: dict[str, int]) -> int:
        v = {k: s[k] for k in ("hidden", "layers", "seq_len", "streams")} | change
        same = v["hidden"] == s["hidden"] and min(v["layers"], 2) == min(s["layers"], 2)
        try:
            m = model if same else build(v["hidden"], v["layers"])
        except (ValueError, TypeError):  # e.g. --proj-size above a smaller --hidden: not a way out
            return 1 << 80
        return lib.estimate(m, batch_size=v["streams"], steps=v["seq_len"], itemsize=b, slots=optimizer_slots(s),
                            transforms=_transforms(s), num_layers=v["layers"]).total_bytes

    avail = lib.available_memory() if available_bytes is None else available_bytes
    total = need({})
    if avail is not None and total > avail:
        sizes = [("hidden", "--hidden", "units", s["hidden"], 100), ("layers", "--layers", "layers", s["layers"], 1),
                 ("seq_len", "--seq-len", "steps", s["seq_len"], 25), ("streams", "--streams", "streams", s["streams"], 1)]
        flag, unit, given, top = _pick(sizes, need, avail)
        head = f"{flag}: {given} {unit}" if top is not None else f"{source}: its vocabulary of {vocabulary} characters"
        at_most = (f"expected at most about {_about(top)} {unit}" if top is not None else
                   "expected a text of fewer distinct characters (or a smaller --hidden, --layers, --seq-len, "
                   "--streams: none alone fits)")
        raise AppError(f"{head} need about {total:.2g} bytes ({human(total)}) for a model reading and scoring the "
                       f"{vocabulary} distinct characters of {source} (parameters, optimizer state, the one-hot "
                       f"inputs and the logits) in {s['dtype']}; this machine has {human(avail)} ({avail} bytes) "
                       f"available; {at_most}")
    _tensor_bound(model, s["hidden"])
