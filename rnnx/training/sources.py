r"""The data of a training run: :class:`Batches` (time-major x, y, lengths, sample
weights), :func:`prepare` (the user's arrays checked and laid out), the validation split,
the once-only input checks, and the per-batch length cut.

Shapes: x (T, B, I) time-major inside; y (B, O) many-to-one or (T, B, O) many-to-many
(``y_axis`` the batch axis of y), integer labels (B,) / (T, B) for cross-entropy; ``lengths``
(B,); ``w`` (B,) sample weights.  Everything stays on x's backend and device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import array_api_compat as compat

from rnnx import losses as L
from rnnx._xp import namespace, take, where

__all__ = ["Stream", "Batches", "CUT_RATIO", "cut_length", "batch_cuts", "is_label_loss", "as_array", "prepare", "check_labels", "check_probabilities", "split_validation", "check_inputs", "sample_weights"]


# -- the data ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Batches:
    """Data in the model's layout: x (T, N, I) time-major; y (N, O) / labels (N,)
    (many-to-one, ``y_axis`` 0) or (T, N, O) / labels (T, N) (many-to-many, ``y_axis`` 1);
    lengths (N,) or None; w (N,) the samples' weights (``fit``'s ``sample_weight``) or None."""

    x: Any
    y: Any
    lengths: Any = None
    y_axis: int = 0
    w: Any = None

    @property
    def n(self) -> int:
        return self.x.shape[1]

    def take(self, idx: Any, *, xp: Any) -> Batches:
        """The samples ``idx`` (an integer index array), in that order (``xp.take``, through
        the backend's own where its capability record has one: :func:`rnnx._xp.take`)."""
        return Batches(take(self.x, idx, axis=1, xp=xp), take(self.y, idx, axis=self.y_axis, xp=xp),
                       None if self.lengths is None else take(self.lengths, idx, axis=0, xp=xp), self.y_axis,
                       None if self.w is None else take(self.w, idx, axis=0, xp=xp))

    def part(self, a: int, b: int) -> Batches:
        """Samples [a, b) (a < b <= n)."""
        y = self.y[a:b, ...] if self.y_axis == 0 else self.y[:, a:b, ...]
        return Batches(self.x[:, a:b, ...], y, None if self.lengths is None else self.lengths[a:b], self.y_axis,
                       None if self.w is None else self.w[a:b])

    def cut(self, steps: int) -> Batches:
        """The first ``steps`` time steps (x, and y where it has a time axis): what a batch
        whose sequences are all at most ``steps`` long reads (a view where the library has
        views)."""
        if steps >= self.x.shape[0]:
            return self
        y = self.y[:steps, ...] if self.y_axis == 1 else self.y
        return Batches(self.x[:steps, ...], y, self.lengths, self.y_axis, self.w)


#: Cut lengths of compiled updates go up in steps of this ratio (and multiples of 8), so
#: that a panel of T steps compiles at most ``2 * ceil(log2(T)) + 1`` programs per batch
#: shape, each running at most 41% more steps than its batch's longest sequence.
CUT_RATIO = 2 ** 0.5


def cut_length(longest: int, steps: int, *, compiled: bool) -> int:
    """The time steps a batch whose longest sequence is ``longest`` (of a panel of
    ``steps``) runs: ``longest`` itself in eager code; where updates are compiled (one
    program per distinct length), the next of a few lengths (multiples of 8 growing by
    :data:`CUT_RATIO` from 8, and ``steps``)."""
    if not compiled or longest >= steps:
        return min(longest, steps)
    b = 8
    while b < longest:
        b = -(-int(b * CUT_RATIO) // 8) * 8
    return min(b, steps)


def batch_cuts(lengths: list[int], order: list[int], starts: list[tuple[int, int]], steps: int, *,
               compiled: bool) -> dict[int, int]:
    """{first sample a: the time steps of the update over samples ``order[a:e]``}, from the
    host copy of ``lengths`` (no read from the device)."""
    return {a: cut_length(max(lengths[i] for i in order[a:e]), steps, compiled=compiled) for a, e in starts}


def is_label_loss(loss_name: str) -> bool:
    return L.target_kind(loss_name) == "labels"


def as_array(name: str, a: Any, like: Any, xp: Any) -> Any:
    """Lists and scalars become arrays on ``like``'s device; arrays must share its library."""
    if a is None or compat.is_array_api_obj(a):
        return a
    if isinstance(a, (list, tuple)):
        return xp.asarray(a, device=compat.device(like))
    raise TypeError(f"{name}: expected an array, got {type(a).__name__}")


def prepare(model, x: Any, y: Any, lengths: Any = None, *, loss: str, batch_first: bool = True,
            names: tuple[str, str, str] = ("x", "y", "lengths")) -> Batches:
    """Check ``x``, ``y``, ``lengths`` against the model and the loss and put them in the
    model's layout.  Every error names the argument, what it got and what was expected."""
    nx, ny, nl = names
    if not compat.is_array_api_obj(x):
        raise TypeError(f"{nx}: expected an array (B, T, I), got {type(x).__name__}")
    xp0 = compat.array_namespace(x)
    y = as_array(ny, y, x, xp0)
    lengths = as_array(nl, lengths, x, xp0)
    xp = namespace(**{nx: x, ny: y, nl: lengths})
    if x.ndim != 3:
        raise ValueError(f"{nx}: expected a 3-D array ({'B, T' if batch_first else 'T, B'}, I), got shape "
                         f"{tuple(x.shape)}")
    if not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(f"{nx}: expected a real floating array, got dtype {x.dtype}")
    B, T = (x.shape[0], x.shape[1]) if batch_first else (x.shape[1], x.shape[0])
    if x.shape[-1] != model.layer.input_size:
        raise ValueError(f"{nx}: expected {model.layer.input_size} features on the last axis (the model's "
                         f"input_size), got shape {tuple(x.shape)}")
    O, m2m, labels = model.output_size, model.objective == "many-to-many", is_label_loss(loss)
    lead = ((B, T) if batch_first else (T, B)) if m2m else (B,)
    if labels:
        want = lead
        if not xp.isdtype(y.dtype, "integral"):
            raise TypeError(f"{ny}: expected integer class labels of shape {want} for {loss}, got dtype {y.dtype}"
                            " (the estimators rnnx.RNNClassifier map any labels to integers)")
        if tuple(y.shape) != want:
            raise ValueError(f"{ny}: expected class labels of shape {want} ({model.objective}), got "
                             f"{tuple(y.shape)}")
        check_labels(ny, y, O, xp=xp, lengths=lengths if m2m else None, batch_first=batch_first)
    else:
        want = (*lead, O)
        if O == 1 and tuple(y.shape) == lead:
            y = xp.expand_dims(y, axis=-1)
        if tuple(y.shape) != want:
            raise ValueError(f"{ny}: expected shape {want} ({model.objective}, output_size={O}), got "
                             f"{tuple(y.shape)}")
        if not xp.isdtype(y.dtype, "real floating"):
            raise TypeError(f"{ny}: expected real floating targets for loss {loss!r}, got dtype {y.dtype}")
        if y.dtype != x.dtype:
            raise TypeError(f"{ny}: expected dtype {x.dtype} (that of {nx}), got {y.dtype}")
        if loss == "bce-logits":
            check_probabilities(ny, y, xp=xp, lengths=lengths if m2m else None, batch_first=batch_first)
    if lengths is not None:
        if lengths.ndim != 1 or lengths.shape[0] != B:
            raise ValueError(f"{nl}: expected shape ({B},) (one length per sequence of {nx}), got "
                             f"{tuple(lengths.shape)}")
        if not xp.isdtype(lengths.dtype, "integral"):
            raise TypeError(f"{nl}: expected integers, got dtype {lengths.dtype}")
        lo, hi = int(xp.min(lengths)), int(xp.max(lengths))
        if lo < 1 or hi > T:
            raise ValueError(f"{nl}: expected every length in [1, T={T}], got values in [{lo}, {hi}]")
    if batch_first:
        x = xp.permute_dims(x, (1, 0, 2))
        if m2m:
            y = xp.permute_dims(y, (1, 0)) if labels else xp.permute_dims(y, (1, 0, 2))
    return Batches(x, y, lengths, 1 if m2m else 0)


def check_labels(name: str, y: Any, n_classes: int, *, xp: Any, lengths: Any, batch_first: bool) -> None:
    """Class labels in [0, n_classes) (padded steps past ``lengths`` are not read)."""
    if lengths is not None:
        T = y.shape[1] if batch_first else y.shape[0]
        t = xp.arange(T, device=compat.device(y))
        valid = (t[None, :] < lengths[:, None]) if batch_first else (t[:, None] < lengths[None, :])
        lo = int(xp.min(where(valid, y, 0, xp=xp)))
        hi = int(xp.max(where(valid, y, 0, xp=xp)))
    else:
        lo, hi = int(xp.min(y)), int(xp.max(y))
    if lo < 0 or hi >= n_classes:
        raise ValueError(f"{name}: expected class labels in [0, {n_classes}) (the model's output_size), got values "
                         f"in [{lo}, {hi}]")


def check_probabilities(name: str, y: Any, *, xp: Any, lengths: Any, batch_first: bool) -> None:
    """bce-logits targets in [0, 1] (padded steps past ``lengths`` are not read)."""
    if math.prod(y.shape) == 0:
        return
    if lengths is not None:
        T = y.shape[1] if batch_first else y.shape[0]
        t = xp.arange(T, device=compat.device(y))
        valid = (t[None, :] < lengths[:, None]) if batch_first else (t[:, None] < lengths[None, :])
        y = where(xp.expand_dims(valid, axis=-1), y, 0.5, xp=xp)
    lo, hi = float(xp.min(y)), float(xp.max(y))
    if not (0.0 <= lo and hi <= 1.0):
        raise ValueError(f"{name}: expected targets in [0, 1] for bce-logits, got values in [{lo:g}, {hi:g}]")


def split_validation(model, data: Batches, validation_data: Any, validation_split: float, *, loss: str,
                batch_first: bool) -> tuple[Batches, Batches | None]:
    """(training part, validation part or None) from ``validation_data`` or the last
    ``validation_split`` of the samples (before any shuffling, as Keras)."""
    if validation_data is not None and validation_split:
        raise ValueError("validation_split: give validation_data or validation_split, not both")
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise TypeError("validation_data: expected a tuple (x, y) or (x, y, lengths), got "
                            f"{type(validation_data).__name__}")
        vx, vy, *vl = validation_data
        val = prepare(model, vx, vy, vl[0] if vl else None, loss=loss, batch_first=batch_first,
                      names=("validation_data[0]", "validation_data[1]", "validation_data[2]"))
        namespace(x=data.x, **{"validation_data[0]": val.x})  # one library and device
        return data, val
    if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float)) or not (
            0.0 <= validation_split < 1.0):
        raise ValueError(f"validation_split: expected a fraction in [0, 1), got {validation_split!r}")
    if not validation_split:
        return data, None
    n_train = int(data.n * (1.0 - validation_split))
    if n_train < 1 or n_train >= data.n:
        raise ValueError(f"validation_split: {validation_split} of {data.n} samples leaves "
                         f"{n_train} to train on and {data.n - n_train} to validate; expected at least 1 of each")
    return data.part(0, n_train), data.part(n_train, data.n)


def check_inputs(x: Any, y: Any, data: Batches, params: dict, *, xp: Any, resumed: bool, batch_first: bool,
                  validation: tuple[Any, Any, Batches] | None = None) -> None:
    """:func:`fit`'s one-time input checks: at least one sequence; x, floating y (their
    valid steps, where ``lengths`` pads), ``validation`` (``validation_data``'s x and y with
    their prepared batches: ``validation_data[0]`` / ``[1]``, likewise) and the starting
    parameters finite (:func:`rnnx.checks.first_non_finite`: one host read when all are, the
    message naming the array and its first bad element in the caller's layout)."""
    from rnnx import checks

    if data.x.shape[1] == 0:
        raise ValueError(f"x: expected at least one sequence, got shape {tuple(x.shape)}"
                         f"{'' if batch_first else ' (T, B, I)'}")
    named = _valid_steps("x", "y", x, y, data, xp=xp, batch_first=batch_first)
    if validation is not None:
        named += _valid_steps("validation_data[0]", "validation_data[1]", *validation, xp=xp, batch_first=batch_first)
    named += [(f"{'resume.params' if resumed else 'params'}[{k!r}]", v) for k, v in params.items()]
    bad = checks.first_non_finite(named, xp=xp)
    if bad is not None:
        raise ValueError(bad)


def _valid_steps(x_name: str, y_name: str, x: Any, y: Any, data: Batches, *, xp: Any,
                 batch_first: bool) -> list[tuple[str, Any]]:
    """``[(x_name, x), (y_name, y)]`` to check, in the caller's layout, the steps past a
    sequence's length (padding: anything may be there) zeroed; y only when floating."""
    if not compat.is_array_api_obj(y):
        y = data.y
    if data.lengths is not None:  # the steps past a sequence's length are padding: anything may be there
        T = data.x.shape[0]
        steps = xp.arange(T, dtype=data.lengths.dtype, device=compat.device(data.lengths))
        valid = steps[None, :] < data.lengths[:, None]  # (B, T)
        if not batch_first:
            valid = xp.permute_dims(valid, (1, 0))
        x = xp.where(valid[..., None], x, xp.zeros((), dtype=x.dtype, device=compat.device(x)))
        if y.ndim == 3:  # many-to-many targets follow x's steps
            y = xp.where(valid[..., None], y, xp.zeros((), dtype=y.dtype, device=compat.device(y)))
    named = [(x_name, x)]
    if xp.isdtype(data.y.dtype, "real floating"):
        named.append((y_name, y))
    return named


def sample_weights(w: Any, data: Batches, x: Any, *, tbptt: Any, distribution: Any) -> Any:
    """``fit``'s ``sample_weight`` checked (one host read): an array (B,) of real floats >= 0,
    finite, at least one not zero, on x's library and device; in x's dtype."""
    if tbptt is not None or distribution is not None:
        raise ValueError(f"sample_weight: weights the whole-sequence loss of one process; got it with "
                         f"{'tbptt' if tbptt is not None else 'distribution'}")
    xp0 = compat.array_namespace(x)
    w = as_array("sample_weight", w, x, xp0)
    xp = namespace(x=x, sample_weight=w)
    if w.ndim != 1 or w.shape[0] != data.n:
        raise ValueError(f"sample_weight: expected shape ({data.n},) (one weight per sequence of x), got "
                         f"{tuple(w.shape)}")
    if not (xp.isdtype(w.dtype, "real floating") or xp.isdtype(w.dtype, "integral")):
        raise TypeError(f"sample_weight: expected real numbers, got dtype {w.dtype}")
    w = xp.astype(w, x.dtype)
    if not bool(xp.all(xp.isfinite(w))) or bool(xp.any(w < 0)) or not bool(xp.any(w > 0)):
        raise ValueError(f"sample_weight: expected finite weights >= 0, at least one weight not zero; got values in "
                         f"[{float(xp.min(w))}, {float(xp.max(w))}]")
    return w


@dataclass(frozen=True)
class Stream:
    r"""A stream source (Keras's ``stateful=True``; min-char-rnn's and char-rnn's batches): B
    parallel streams cut into ``n_chunks`` consecutive chunks of T steps.  Update n reads
    chunk ``n % n_chunks`` of every stream, from the state the previous chunk ended in (a
    constant: no gradient flows into it), zeros at each pass's start; nothing is shuffled.

    ``x`` (n_chunks, T, B) what ``encode`` turns into the model's input (T, B, I) inside the
    update (character ids -> one-hot: the whole text is never one-hot at once); ``y``
    (n_chunks, T, B[, O]) the targets, on x's device; ``per_step``: each update's loss (what
    callbacks see) divided by T, for a loss summed over the steps.  Trained by :func:`rnnx.fit`
    (``rnnx.fit(model, stream, None, ...)``)."""

    x: Any
    y: Any
    encode: Callable[[Any], Any]
    per_step: bool = False  # the update's loss divided by T (a loss summed over the steps)

    @property
    def n_chunks(self) -> int:
        return int(self.x.shape[0])

    @property
    def steps(self) -> int:
        return int(self.x.shape[1])

    @property
    def streams(self) -> int:
        return int(self.x.shape[2])
