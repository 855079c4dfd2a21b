"""Does a run of ``rnnx train`` fit this machine?  :func:`check_fits` says so before anything
is allocated: it sizes the run from the model's parameter shapes (building an
:class:`rnnx.Model` allocates no array) and the batch and window sizes, and refuses, naming
the flag to lower, a run that needs more memory than is available, or a parameter tensor
above :data:`MAX_TENSOR_ELEMENTS` elements whatever the memory.

The estimate (bytes, ``b`` the dtype's itemsize, ``P`` the parameter count, ``n`` the
elements of the largest parameter tensor) is the larger of two peaks:

* initialisation: :func:`rnnx.params.init` draws each tensor as a Python list of floats
  (``sys.getsizeof(0.0)`` + a pointer each, 32 bytes on CPython) before the array exists:
  ``P b + n (32 + b)``;
* training: ``copies * P b + 3 n b`` (element-wise temporaries of the optimizer step) plus
  the larger of the training step's forward cache and one evaluation pass (they do not
  overlap).  ``copies`` (see :func:`param_copies`) counts what rnnx/train.py and
  rnnx/optim.py hold at once during an update: the params, the new params being built, the
  best params (``TrainState.best_params`` keeps the dict of its epoch alive), the gradients
  (one more per transform, clipping or freezing, up to two: the caller keeps the raw ones),
  and the optimizer's slots twice (the old and the new state): adam 2, sgd with momentum 1,
  adagrad 1, sgd without momentum 0.  A checkpoint's host copy (params, best, slots, on a
  backend other than NumPy) is taken between epochs, when the gradients and the new params
  are gone: ``2 (2 + slots)`` copies at most, never more than an update's ``4 + 2 slots``.

  The forward cache of a batch: ``T * B * L * D * (G + S) * H * b`` (T the window, B the
  batch, capped at the training windows when the series length is known, L layers, D
  directions, G gate blocks and S state components of the cell: what rnnx/stack.py and
  rnnx/loop.py keep per step, within a factor 2 of ``Cache.nbytes``).  One evaluation pass
  over the largest part of N windows (inference, one layer at a time): its hoisted input
  projection and outputs, ``T * N * (G * H + 3 * D * H) * b``.

Memory is counted as one pool (a GPU backend's device memory is not told apart).
"""

from __future__ import annotations

import dataclasses
import math
import os
import struct
import sys
from collections.abc import Callable
from typing import NamedTuple

from rnnx import data
from rnnx.cells import spec as cell_spec
from rnnx.cli.errors import AppError
from rnnx.cli.settings import TrainSettings
from rnnx.dataset import PRESETS
from rnnx.model import Model

#: No parameter tensor may hold more elements than this, whatever the memory (index
#: arithmetic in some backends' kernels is 32-bit).
MAX_TENSOR_ELEMENTS = 2**31
#: Stacked layers at most: each is a sequential pass over the window in every update, so
#: a deeper stack would run for hours per epoch and answer a stop request only after it.
MAX_LAYERS = 1000

#: Bytes per element of the Python list a parameter is drawn into (a float object + its pointer).
_PY_FLOAT_BYTES = sys.getsizeof(0.0) + struct.calcsize("P")

_ITEMSIZE = {"float32": 4, "float64": 8}

#: The settings whose size check_fits may name, with the flag and the unit of its value.
_SIZES = (("hidden", "--hidden", "units"), ("layers", "--layers", "layers"),
          ("batch_size", "--batch-size", "windows per batch"), ("window", "--window", "steps"))


class Estimate(NamedTuple):
    """A run's size: ``params`` (count), ``largest`` (elements of its largest tensor, and
    that tensor's name), ``copies`` of the parameters training holds, and the bytes."""

    params: int
    largest: int
    largest_name: str
    copies: int
    total_bytes: int


def model_of(s: TrainSettings) -> Model:
    """The run's model, as ``rnnx.cli.app.model_for`` builds it (no array is allocated)."""
    return Model(s.cell, len(s.inputs or s.targets) if s.table else 1, s.hidden, len(s.targets) if s.table else 1,
                 num_layers=s.layers, bidirectional=s.bidirectional, **s.model_options,
                 output_activation=s.output_activation, objective=s.objective)


def _two_layer_model(s: TrainSettings) -> Model:
    """The run's model with at most two layers (the shapes of every layer above the first
    are the second's; validity, e.g. --dropout needing two layers, is the same)."""
    return model_of(dataclasses.replace(s, layers=min(s.layers, 2)))


def optimizer_slots(s: TrainSettings) -> int:
    """Per-parameter arrays the optimizer keeps: adam 2, adagrad 1, sgd 1 with momentum, else 0."""
    if s.optimizer == "adam":
        return 2
    if s.optimizer == "adagrad":
        return 1
    return 1 if s.momentum else 0


def param_copies(s: TrainSettings) -> int:
    """Copies of the parameters an update holds at once (module docstring):
    params + new params + best params + gradients (1 + up to 2 transforms) + 2 * slots."""
    transforms = (s.clip_value is not None) + (s.clip_norm is not None) + bool(s.freeze)
    return 3 + 1 + min(2, transforms) + 2 * optimizer_slots(s)


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
    """Elements of every parameter tensor of the run's model.  Layers above the first have
    the same shapes, so the model is built with at most two layers and the count of the
    second repeated (building a model of 10**6 layers would take seconds)."""
    shapes = _two_layer_model(s).param_shapes()
    counts = {k: math.prod(v) for k, v in shapes.items()}
    if s.layers > 2:
        counts["layers 2 and up"] = (s.layers - 2) * sum(n for k, n in counts.items() if "_l1" in k)
    return counts


def estimate(s: TrainSettings, series_length: int | None = None) -> Estimate:
    """The peak bytes of a run of ``s`` (module docstring); ``series_length``: the number of
    values of the series, for the evaluation pass and the cap on the batch (a preset's is
    known)."""
    counts = param_counts(s)
    n_params = sum(counts.values())
    name = max((k for k in counts if k != "layers 2 and up"), key=counts.get)
    b = _ITEMSIZE[s.dtype]
    init_peak = n_params * b + counts[name] * (_PY_FLOAT_BYTES + b)
    copies = param_copies(s)
    spec = cell_spec(s.cell)
    D, H, T = 2 if s.bidirectional else 1, s.hidden, s.window
    G, S = len(spec.gates), len(spec.state)
    parts = _windows(s, series_length)
    batch = s.batch_size if parts is None else min(s.batch_size, parts[0])
    cache = T * batch * s.layers * D * (G + S) * H * b
    evaluation = 0 if parts is None else T * parts[1] * (G * H + 3 * D * H) * b
    train_peak = copies * n_params * b + 3 * counts[name] * b + max(cache, evaluation)
    return Estimate(n_params, counts[name], name, copies, max(init_peak, train_peak))


def available_memory() -> int | None:
    """Bytes of memory available now: ``MemAvailable`` of /proc/meminfo, else
    ``SC_AVPHYS_PAGES * SC_PAGE_SIZE``, else None (not known)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def human(n: float) -> str:
    """``3.2e11`` -> ``'320 GB'`` (decimal units)."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} bytes"


def _about(v: int) -> int:
    """``v`` rounded down to two significant digits (25873 -> 25000)."""
    step = 10 ** max(0, len(str(v)) - 2)
    return v // step * step


def _largest(ok: Callable[[int], bool], lo: int, hi: int) -> int | None:
    """The largest v in [lo, hi] with ``ok(v)``, ``ok`` true up to a point; None if none."""
    if lo > hi or not ok(lo):
        return None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid - 1)
    return lo


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
    return _largest(lambda v: fits(dataclasses.replace(s, **{field: v})), _smallest_valid(s, field), given - 1)


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
    avail = available_memory() if available_bytes is None else available_bytes
    if avail is not None:
        _check_memory(s, avail, PRESETS[s.preset]["series"][1] if "series" in PRESETS.get(s.preset, {})
                      else series_length)
    _check_layers(s)
    _check_tensor_bound(s)


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
                   f"gradients and optimizer state) and the forward cache in {s.dtype}; this machine has "
                   f"{human(avail)} available; {at_most}")
