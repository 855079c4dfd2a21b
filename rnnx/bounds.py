r"""Does a run fit this machine?  Sizes a training run from the model's parameter shapes (a
:class:`rnnx.Model` allocates no array when it is built) and the sizes of its data, before
anything is allocated, and refuses with :class:`TooLarge` (a ValueError) one that needs
more memory than is available.  Host-side arithmetic only: no array library is imported.
:func:`rnnx.fit`, :func:`rnnx.text.fit_text`, the ``.npz``/``.ts`` readers of
:mod:`rnnx.data.panel` and :func:`rnnx.io.checkpoint.load` call it; the command line's layer,
:mod:`rnnx.cli.bounds`, names the flag to lower.

The estimate (bytes, ``b`` the dtype's itemsize, ``P`` the parameter count, ``n`` the
elements of the largest parameter tensor) is the larger of two peaks:

* initialisation: :func:`rnnx.nn.params.init` draws each tensor as a Python list of floats
  (``sys.getsizeof(0.0)`` + a pointer each, 32 bytes on CPython) before the array exists:
  ``P b + n (32 + b)``;
* training: ``copies * P b + 3 n b`` (element-wise temporaries of the optimizer step) plus
  the larger of the training step's activations and one evaluation pass (they do not
  overlap).  ``copies`` (:func:`param_copies`) counts what rnnx/training/engine.py,
  rnnx/training/strategies.py and rnnx/optim.py hold at once during an update: the params, the new params being built,
  the best params (the state keeps the dict of its best epoch alive), the gradients (one
  more per transform, clipping or freezing, up to two: the caller keeps the raw ones), and
  the optimizer's slots twice (the old and the new state): adam 2 (3 with amsgrad), sgd
  with momentum 1, adagrad 1, sgd without momentum 0 (:func:`optimizer_slots`).  A
  checkpoint's host copy (params, best, slots) is taken between epochs, when the gradients
  and the new params are gone: ``2 (2 + slots)`` copies at most, never more than an
  update's ``4 + 2 slots``.

  The activations of a batch: ``T * B * D * H * b * (L * (G + S) + K_G * G + K_0)`` (T the
  steps, B the batch, capped at the sequences, L layers, D directions, G gate blocks and S
  state components of the cell): the forward cache every layer keeps per step (rnnx/nn/stack.py,
  rnnx/nn/loop.py: ``L * (G + S)``) and the backward pass's per-step arrays of the one layer it
  is in (the gate gradients kept for the weight gradients' one product after the loop, the
  lists and their stacked copies, the hoisted projection: ``K_G * G + K_0`` with
  :data:`BACKWARD_PER_GATE` and :data:`BACKWARD_EXTRA`).  Measured as the ``tracemalloc``
  peak of one epoch of :func:`rnnx.fit` on NumPy (per ``T B D H b``, 1 layer: rnn 5.4, gru
  19.3, lstm 21.3; 2 bidirectional layers: 4.3, 10.8, 11.8); this formula gives 9, 21, 28
  and 5.5, 12.5, 17: an upper bound within 1.7x, which tests/test_bounds.py checks; plus the batch's inputs and outputs three times (the
  input, the predictions and their gradient): ``3 * B * (T * I + T_o * O) * b`` (I the
  input size, O the output size, T_o = T many-to-many, else 1; a character model's
  one-hot inputs and logits are this term).  One evaluation pass over ``N`` sequences at
  once (inference, one layer at a time): its hoisted input projection and outputs,
  ``T * N * (G * H + 3 * D * H) * b`` (0 when the caller evaluates in batches).

``extra_bytes``: what the caller holds besides (the data's copies).  Memory is counted as
one pool (a GPU backend's device memory is not told apart).
"""

from __future__ import annotations

import math
import os
import struct
import sys
from typing import Any, NamedTuple

__all__ = ["TooLarge", "Estimate", "available_memory", "human", "param_counts", "param_copies", "optimizer_slots",
           "estimate", "check_training", "check_bytes", "largest"]

#: Bytes per element of the Python list a parameter is drawn into (a float object + its pointer).
PY_FLOAT_BYTES = sys.getsizeof(0.0) + struct.calcsize("P")
#: The batch's inputs, predictions and their gradient: the copies of the input/output term.
IO_COPIES = 3
#: Per-step arrays of the backward pass of one layer, per gate block and besides (module
#: docstring: measured with tracemalloc, an upper bound checked by tests/test_bounds.py).
BACKWARD_PER_GATE, BACKWARD_EXTRA = 5, 2


class TooLarge(ValueError):
    """A run, a file or an array that would not fit in the memory available: the message is
    one line naming the parameter (or file), the bytes needed and the bytes available;
    ``name``, ``needed`` and ``available`` hold them."""

    def __init__(self, message: str, *, name: str = "", needed: int = 0, available: int = 0) -> None:
        super().__init__(message)
        self.name, self.needed, self.available = name, needed, available


class Estimate(NamedTuple):
    """A run's size: ``params`` (count), ``largest`` (elements of its largest tensor, and
    that tensor's name), ``copies`` of the parameters training holds, and the bytes; also
    ``param_bytes`` (the part that does not shrink with the batch or the steps)."""

    params: int
    largest: int
    largest_name: str
    copies: int
    total_bytes: int
    param_bytes: int = 0


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


def _avail(available_bytes: int | None) -> int | None:
    return available_memory() if available_bytes is None else available_bytes


def optimizer_slots(optimizer: Any) -> int:
    """Per-parameter arrays an optimizer keeps: the slots of ``optimizer.init({})`` (an
    :mod:`rnnx.optim` object; nothing is allocated for no parameters), or 2 (adam's) when
    that cannot be asked."""
    try:
        return len(optimizer.init({})["slots"])
    except Exception:  # noqa: BLE001 -- a foreign optimizer: assume adam's two slots
        return 2


def param_copies(slots: int, transforms: int = 0) -> int:
    """Copies of the parameters an update holds at once (module docstring):
    params + new params + best params + gradients (1 + up to 2 transforms) + 2 * slots."""
    return 3 + 1 + min(2, transforms) + 2 * slots


def param_counts(model: Any, num_layers: int | None = None) -> dict[str, int]:
    """Elements of every parameter tensor of ``model`` (from ``model.param_shapes()``).
    ``num_layers``: the layers of the run when ``model`` was built with at most two of them
    (the shapes of every layer above the first are the second's): the count of the second
    is repeated under ``"layers 2 and up"`` (building a model of 10**6 layers would take
    seconds)."""
    counts = {k: math.prod(v) for k, v in model.param_shapes().items()}
    if num_layers is not None and num_layers > 2:
        counts["layers 2 and up"] = (num_layers - 2) * sum(n for k, n in counts.items() if "_l1" in k)
    return counts


def estimate(model: Any, *, batch_size: int, steps: int, sequences: int | None = None, itemsize: int = 8,
             slots: int = 2, transforms: int = 0, eval_sequences: int = 0, num_layers: int | None = None,
             extra_bytes: int = 0) -> Estimate:
    """The peak bytes of training ``model`` (module docstring) on batches of ``batch_size``
    sequences (capped at ``sequences`` when known) of ``steps`` steps, in a dtype of
    ``itemsize`` bytes, with an optimizer of ``slots`` slots and ``transforms`` gradient
    transforms; ``eval_sequences`` evaluated at once; ``num_layers`` as
    :func:`param_counts`; plus ``extra_bytes``."""
    counts = param_counts(model, num_layers)
    n_params = sum(counts.values())
    name = max((k for k in counts if k != "layers 2 and up"), key=counts.get)
    b = itemsize
    init_peak = n_params * b + counts[name] * (PY_FLOAT_BYTES + b)
    copies = param_copies(slots, transforms)
    layer = model.layer
    spec = layer.spec
    D, H, T = layer.num_directions, layer.hidden_size, steps
    L = layer.num_layers if num_layers is None else num_layers
    G, S = len(spec.gates), len(spec.state)
    batch = batch_size if sequences is None else min(batch_size, sequences)
    t_out = T if getattr(model, "objective", "many-to-one") == "many-to-many" else 1
    cache = T * batch * D * H * b * (L * (G + S) + BACKWARD_PER_GATE * G + BACKWARD_EXTRA)
    io = IO_COPIES * batch * (T * layer.input_size + t_out * getattr(model, "output_size", 0)) * b
    evaluation = T * eval_sequences * (G * H + 3 * D * H) * b
    fixed = max(init_peak, copies * n_params * b + 3 * counts[name] * b)
    train_peak = copies * n_params * b + 3 * counts[name] * b + max(cache + io, evaluation)
    return Estimate(n_params, counts[name], name, copies, max(init_peak, train_peak) + extra_bytes,
                    fixed + extra_bytes)


def largest(ok: Any, lo: int, hi: int) -> int | None:
    """The largest v in [lo, hi] with ``ok(v)``, ``ok`` true up to a point; None if none."""
    if lo > hi or not ok(lo):
        return None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid - 1)
    return lo


def check_training(model: Any, *, batch_size: int, steps: int, sequences: int, itemsize: int = 8, slots: int = 2,
                   transforms: int = 0, available_bytes: int | None = None,
                   names: tuple[str, str, str] = ("model", "batch_size", "x")) -> Estimate | None:
    """Refuse (:class:`TooLarge`) training ``model`` on ``sequences`` sequences of ``steps``
    steps in batches of ``batch_size`` (:func:`estimate`) when it needs more than
    ``available_bytes`` (default :func:`available_memory`; nothing is checked when that is
    not known).  The message names, of ``names`` (the caller's parameters for the model,
    the batch size and the data), the model when its parameters alone do not fit, else the
    batch size when a smaller one fits (and the largest that does), else the data (its
    steps).  Returns the estimate (None when the memory is not known).  Allocates nothing."""
    avail = _avail(available_bytes)
    if avail is None:
        return None

    def size(batch: int) -> Estimate:
        return estimate(model, batch_size=batch, steps=steps, sequences=sequences, itemsize=itemsize, slots=slots,
                        transforms=transforms)

    e = size(batch_size)
    if e.total_bytes <= avail:
        return e
    layer = model.layer
    dtype = f"{itemsize * 8}-bit floats"
    need = f"need about {e.total_bytes:.2g} bytes ({human(e.total_bytes)})"
    have = f"this machine has {human(avail)} ({avail} bytes) available"
    if e.param_bytes > avail:
        raise TooLarge(f"{names[0]}: hidden_size={layer.hidden_size}, num_layers={layer.num_layers} {need} for "
                       f"{e.params} parameters ({e.copies} copies: parameters, gradients and optimizer state) in "
                       f"{dtype}; {have}; expected a smaller model", name=names[0], needed=e.total_bytes,
                       available=avail)
    top = largest(lambda v: size(v).total_bytes <= avail, 1, min(batch_size, sequences) - 1)
    if top is not None:
        raise TooLarge(f"{names[1]}: {batch_size} sequences of {steps} steps {need} for the activations "
                       f"(forward cache and backward pass) and {e.params} parameters in {dtype}; {have}; expected at most about {top}",
                       name=names[1], needed=e.total_bytes, available=avail)
    raise TooLarge(f"{names[2]}: sequences of {steps} steps {need} for the activations of one sequence and "
                   f"{e.params} parameters in {dtype}; {have}; expected shorter sequences (or a smaller model)",
                   name=names[2], needed=e.total_bytes, available=avail)


def check_bytes(what: str, needed: int, *, available_bytes: int | None = None, name: str = "",
                error: type[TooLarge] = TooLarge) -> None:
    """Refuse (``error``, :class:`TooLarge` or a subclass) ``needed`` bytes above
    ``available_bytes`` (default :func:`available_memory`; nothing checked when not known):
    ``<what> need about <n> bytes (<human>); this machine has <human> (<n> bytes)
    available``, ``what`` naming the file or parameter and what it holds."""
    avail = _avail(available_bytes)
    if avail is None or needed <= avail:
        return
    raise error(f"{what} need about {needed:.2g} bytes ({human(needed)}); this machine has {human(avail)} "
                   f"({avail} bytes) available", name=name, needed=needed, available=avail)
