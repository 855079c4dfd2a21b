"""Panel data for sequence classification: N sequences of T_i steps and I features each, with
a label per sequence (N,) or per step (N, T).  Read from NumPy ``.npz`` files or from the
UEA/UCR ``.ts`` format that sktime and aeon use; returned zero-padded with their lengths.
Both readers take ``labels="required"`` (the default: training data) or ``"optional"``
(cases to predict on: an ``.npz`` without ``y``, a ``.ts`` file whose header says
``@classLabel false``, load with ``y`` None).

Every problem with a file is one :class:`~rnnx.data.DataError` whose message starts with
``panel:`` (the CLI's panel flag) and names the file, the key and the row or step; an
error in an argument starts with the argument's name.  (An I/O module: NumPy and the
``.ts`` loaders are imported inside the functions that need them.)
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import os
import zipfile
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from rnnx import bounds
from rnnx.data import MAX_CSV_BYTES, DataError, size_text
from rnnx.install import install_command
from rnnx.io import checkpoint as ck

__all__ = [
    "LABELS",
    "MAX_PANEL_BYTES",
    "NPZ_KEYS",
    "PREFIX",
    "Panel",
    "PanelTooLarge",
    "bundled_uea",
    "decode_labels",
    "encode_labels",
    "load_npz",
    "load_ts",
    "pad",
]

#: The start of every file error of this module (the CLI maps it to its panel flag).
PREFIX = "panel"
#: The most array data (decompressed, all members together) :func:`load_npz` reads, in bytes.
MAX_PANEL_BYTES = 1 << 31
#: The keys a panel ``.npz`` may hold.
NPZ_KEYS = ("x", "y", "lengths")
#: The values of the readers' ``labels`` argument.
LABELS = ("required", "optional")
_INSTALL = install_command("panel")


@dataclass(frozen=True)
class Panel:
    """``x`` (N, T_max, I) float64, zero past each sequence's length; ``lengths`` (N,) int64
    in [1, T_max]; ``y`` (N,) labels as loaded (integers, or strings for ``.ts`` class
    labels) or (N, T_max) per-step labels, or None for unlabelled cases (read with
    ``labels="optional"``); ``source`` the file they came from."""

    x: Any
    lengths: Any
    y: Any
    source: str


class PanelTooLarge(DataError, bounds.TooLarge):
    """A panel file whose cases, as float64, would not fit in the memory available (said
    from the ``.npz`` headers, or the ``.ts`` cases' lengths, before the padded array is
    built): both a :class:`~rnnx.data.DataError` and an :class:`rnnx.bounds.TooLarge`."""


#: The float64 copies of the padded cases a reader holds at peak (the cases converted, or
#: the trimmed ``.ts`` cases, and the padded or masked array built from them).
READ_COPIES = 2


def _check_memory(path: str, shape: tuple[int, ...], stored: int = 0) -> None:
    """:data:`READ_COPIES` float64 copies of cases of ``shape`` (N, T, I), plus ``stored``
    bytes read as they are, within the memory available (:class:`PanelTooLarge`)."""
    n, t, i = shape
    bounds.check_bytes(f"{PREFIX}: {path!r}: {n} cases of up to {t} steps and {i} features as float64 "
                       f"({READ_COPIES} copies" + (f", and {stored} bytes as stored)," if stored else "),"),
                       READ_COPIES * n * t * i * 8 + stored, error=PanelTooLarge, name=path)


def _fail(path: str, what: str) -> DataError:
    return DataError(f"{PREFIX}: {path!r}{what}")


def _check_labels_arg(labels: Any) -> None:
    if not isinstance(labels, str) or labels not in LABELS:
        raise ValueError(f"labels: expected 'required' or 'optional', got {labels!r}")


# -- pad -------------------------------------------------------------------------------------
def _first_non_finite(a: Any) -> tuple[int, ...] | None:
    """The index of the first NaN/Inf of ``a`` (row-major), or None."""
    import numpy as np

    bad = np.argwhere(~np.isfinite(a))
    return tuple(int(i) for i in bad[0]) if len(bad) else None


def _sequence(name: str, i: int, s: Any) -> Any:
    """Sequence ``i`` of ``name`` as a float64 (T_i, I) array with T_i >= 1 and I >= 1, finite."""
    import numpy as np

    from rnnx.backends import to_numpy

    try:
        a = to_numpy(s)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name}: sequence {i} is not an array ({type(s).__name__}: {e})") from None
    if a.dtype.kind not in "iuf":
        raise TypeError(f"{name}: sequence {i} has dtype {a.dtype}; expected real numbers")
    if a.ndim != 2:
        raise ValueError(f"{name}: sequence {i} has shape {a.shape}; expected 2-D (steps, features)")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"{name}: sequence {i} has shape {a.shape}; expected at least one step and one feature")
    a = a.astype(np.float64)
    at = _first_non_finite(a)
    if at is not None:
        raise ValueError(f"{name}: sequence {i} step {at[0]} feature {at[1]} is {a[at]}; expected finite values")
    return a


def pad(sequences: Sequence[Any], *, name: str = "X") -> tuple[Any, Any]:
    """Stack sequences of different lengths: ``sequences[i]`` (T_i, I) ->
    ``x`` (N, T_max, I) float64 with ``x[i, t] = 0`` for t >= T_i, and ``lengths`` (N,) int64.

    Every sequence needs the features of sequence 0, at least one step, real finite values;
    an error is a ValueError/TypeError starting with ``name`` (the caller's argument)."""
    import numpy as np

    if isinstance(sequences, (str, bytes)) or not isinstance(sequences, Sequence):
        raise TypeError(f"{name}: expected a list of (steps, features) arrays, got {type(sequences).__name__}")
    if len(sequences) == 0:
        raise ValueError(f"{name}: expected at least one sequence, got an empty list")
    arrays = [_sequence(name, i, s) for i, s in enumerate(sequences)]
    n_in = arrays[0].shape[1]
    for i, a in enumerate(arrays):
        if a.shape[1] != n_in:
            raise ValueError(f"{name}: sequence {i} has {a.shape[1]} features, expected {n_in} "
                             "(those of sequence 0)")
    lengths = np.array([a.shape[0] for a in arrays], dtype=np.int64)
    t_max = int(lengths.max())
    x = np.stack([np.concatenate([a, np.zeros((t_max - a.shape[0], n_in), dtype=np.float64)]) for a in arrays])
    return x, lengths


# -- .npz ------------------------------------------------------------------------------------
def _open_file(path: str, kind: str, limit: int) -> Any:
    """The file at ``path`` opened for reading, after checking it exists, is a regular file
    (not a folder, a FIFO, a device: refused before a byte is read) and is at most ``limit``."""
    from rnnx.io.inputs import NotARegularFile, open_regular

    try:
        f = open_regular(path)
    except FileNotFoundError:
        raise _fail(path, " does not exist") from None
    except NotARegularFile as e:
        if os.path.isdir(path):
            raise _fail(path, f" is a directory, expected a {kind} file") from None
        raise _fail(path, f" {e.strerror}") from None
    except OSError as e:
        raise _fail(path, f" cannot be read ({e.strerror or e})") from None
    size = os.fstat(f.fileno()).st_size
    if size > limit:
        f.close()
        raise _fail(path, f" is {size_text(size)}; expected at most {size_text(limit)}")
    return f


def _stat_file(path: str, kind: str, limit: int) -> int:
    """The size of the file at ``path`` after checking it (:func:`_open_file`)."""
    with _open_file(path, kind, limit) as f:
        return os.fstat(f.fileno()).st_size


def _rewrap(path: str, e: ck.FileFormatError) -> DataError:
    """A checkpoint-reader error as this module's: the same text after the file name."""
    msg, head = str(e), f"checkpoint: {path!r}"
    return _fail(path, msg[len(head):] if msg.startswith(head) else f": {msg}")


def _check_header(zf: zipfile.ZipFile, zi: zipfile.ZipInfo, key: str, path: str) -> tuple[tuple, Any]:
    """A member's ``.npy`` header: its shape and dtype, a real number, integer, bool or
    unicode dtype (an object array would need a pickle: refused), sizes matching the zip
    directory (:func:`rnnx.io.checkpoint.check_member_size`)."""
    shape, _, dtype, hlen = ck.member_header(zf, zi, path)
    if dtype.hasobject:
        raise _fail(path, f": {key} is an object array (pickled Python objects); expected numbers or strings "
                          "saved without pickle (np.savez of a numeric or str array)")
    if dtype.fields is not None or dtype.kind not in "biufU":
        raise _fail(path, f": {key} has dtype {dtype}; expected numbers" + (" or strings" if key == "y" else ""))
    ck.check_member_size(zi, path, math.prod(shape) * dtype.itemsize, hlen)
    return shape, dtype


def _read_members(path: str, need: tuple[str, ...] = ("x", "y")) -> dict[str, Any]:
    """The arrays of a panel ``.npz``: the zip directory and every header checked
    (:data:`NPZ_KEYS` only, the keys ``need`` present, at most :data:`MAX_PANEL_BYTES` in
    all) before any data is read, then read with ``allow_pickle=False``."""
    import numpy as np

    f = _open_file(path, ".npz", MAX_CSV_BYTES)
    size = os.fstat(f.fileno()).st_size
    try:
        with f, zipfile.ZipFile(f) as zf:
            members = ck.zip_members(zf, path, size)
            unknown = sorted(k for k in members if k not in NPZ_KEYS)
            if unknown:
                raise _fail(path, f": unknown key(s) {unknown}; expected {', '.join(NPZ_KEYS)}")
            missing = [k for k in need if k not in members]
            if missing:
                raise _fail(path, f": missing key(s) {missing}; expected x (N, T, I) or (N, T), y (N,) or (N, T), "
                                  "optional lengths (N,)")
            headers = {k: _check_header(zf, zi, k, path) for k, zi in members.items()}
            total = sum(math.prod(s) * d.itemsize for s, d in headers.values())
            if total > MAX_PANEL_BYTES:
                raise _fail(path, f" holds {size_text(total)} of arrays; expected at most {size_text(MAX_PANEL_BYTES)} "
                                  "(MAX_PANEL_BYTES)")
            xs = headers["x"][0] if "x" in headers else ()
            if len(xs) in (2, 3):  # as float64 (N, T, I), before any data is read
                _check_memory(path, (xs[0], xs[1], math.prod(xs[2:])), total)
            out = {}
            for k, zi in members.items():
                with zf.open(zi) as m:
                    out[k] = np.lib.format.read_array(m, allow_pickle=False)
    except DataError:
        raise
    except ck.FileFormatError as e:
        raise _rewrap(path, e) from None
    except ck.ZIP_ERRORS as e:
        raise _fail(path, f" is not a readable .npz file ({type(e).__name__}: {e})") from None
    return out


def _check_npz_shapes(path: str, x: Any, y: Any, lengths: Any) -> tuple[Any, Any]:
    """``x`` as (N, T, I) float64 and ``lengths`` as (N,) int64 (all T when absent), after
    checking every shape and dtype against ``x``'s (``y`` None: no labels to check)."""
    import numpy as np

    if x.dtype.kind not in "iuf":
        raise _fail(path, f": x has dtype {x.dtype}; expected real numbers")
    if x.ndim not in (2, 3) or 0 in x.shape:
        raise _fail(path, f": x has shape {x.shape}; expected (N, T, I) or (N, T), none of them 0")
    x = x.astype(np.float64).reshape(*x.shape[:2], -1)
    n, t = x.shape[:2]
    if y is not None:
        _check_y_shape(path, y, n, t)
    if lengths is None:
        return x, np.full((n,), t, dtype=np.int64)
    if lengths.dtype.kind not in "iu":
        raise _fail(path, f": lengths has dtype {lengths.dtype}; expected integers")
    if lengths.shape != (n,):
        raise _fail(path, f": lengths has shape {lengths.shape}, expected ({n},) (one per row of x)")
    bad = np.flatnonzero((lengths < 1) | (lengths > t))
    if len(bad):
        i = int(bad[0])
        raise _fail(path, f": lengths[{i}] is {int(lengths[i])}; expected 1 to {t} (the steps of x)")
    return x, lengths.astype(np.int64)


def _check_y_shape(path: str, y: Any, n: int, t: int) -> None:
    """``y`` is (N,) or (N, T) for ``x`` of N rows of T steps."""
    if y.ndim not in (1, 2):
        raise _fail(path, f": y has shape {y.shape}; expected (N,) or (N, T) with N = {n} (the rows of x)")
    if y.shape[0] != n:
        raise _fail(path, f": y has {y.shape[0]} rows, x has {n}")
    if y.ndim == 2 and y.shape[1] != t:
        raise _fail(path, f": y has {y.shape[1]} steps per row, x has {t}")


def _check_finite_steps(path: str, key: str, a: Any, lengths: Any, given: bool = True) -> None:
    """No NaN/Inf in ``a`` (N, T, ...) at a valid step (t < lengths[i]); ``given``: whether
    the file holds ``lengths`` (when not, every step is valid and the message says so)."""
    import numpy as np

    if a.dtype.kind != "f":
        return
    valid = np.arange(a.shape[1])[None, :] < lengths[:, None]
    bad = ~np.isfinite(a).reshape(*a.shape[:2], -1).all(axis=2) & valid
    if bad.any():
        i, t = (int(v) for v in np.argwhere(bad)[0])
        raise _fail(path, f": {key}[{i}] step {t} is not finite (NaN/Inf) within its length "
                          f"{int(lengths[i])}; clean or drop the sequence"
                          + ("" if given else ", or give each sequence's length in a lengths (N,) key (without "
                                              "it every sequence has all the steps of x)"))


def load_npz(path: str, *, labels: str = "required") -> Panel:
    """A panel from a NumPy ``.npz`` with keys ``x`` (N, T, I) or (N, T) (then I = 1), ``y``
    (N,) or (N, T) and optional ``lengths`` (N,) in [1, T] (T when absent).

    ``labels="required"`` (training data): a file without ``y`` is a DataError (``missing
    key(s) ['y']``); ``"optional"`` (cases to predict on): it loads with ``y`` None, and a
    ``y`` it holds is checked as always.  The file is read as :mod:`rnnx.io.checkpoint`
    reads one: zip directory and ``.npy`` headers first, no pickles, sizes bounded.  ``x``
    (and a float ``y``) must be finite at every valid step; ``x`` past each length is
    returned as 0."""
    import numpy as np

    _check_labels_arg(labels)
    arrays = _read_members(path, ("x", "y") if labels == "required" else ("x",))
    x, lengths = _check_npz_shapes(path, arrays["x"], arrays.get("y"), arrays.get("lengths"))
    y, given = arrays.get("y"), "lengths" in arrays
    _check_finite_steps(path, "x", x, lengths, given)
    if y is not None and y.ndim == 2:
        _check_finite_steps(path, "y", y, lengths, given)
    elif y is not None and y.dtype.kind == "f" and not np.isfinite(y).all():
        raise _fail(path, f": y[{int(np.flatnonzero(~np.isfinite(y))[0])}] is not finite (NaN/Inf); expected labels")
    valid = np.arange(x.shape[1])[None, :, None] < lengths[:, None, None]
    return Panel(np.where(valid, x, 0.0), lengths, y, path)


# -- .ts -------------------------------------------------------------------------------------
def _loader() -> tuple[str, Any]:
    """(name, function) of the ``.ts`` reader installed: sktime's ``load_from_tsfile``, else
    aeon's ``load_from_ts_file``; None when neither imports."""
    for module, fn in (("sktime.datasets", "load_from_tsfile"), ("aeon.datasets", "load_from_ts_file")):
        try:
            return module.split(".")[0], getattr(importlib.import_module(module), fn)
        except ImportError:
            continue
    return "", None


def _header(path: str) -> dict[str, list[str]]:
    """The tags of a ``.ts`` file's header (the lines before ``@data``), lower case: each
    tag's words after it, e.g. ``{"@classlabel": ["true", "a", "b"], ...}`` (a tag given
    twice: its first line)."""
    tags: dict[str, list[str]] = {}
    import io

    with io.TextIOWrapper(_open_file(path, ".ts", MAX_CSV_BYTES), encoding="utf-8", errors="replace") as f:
        for line in f:
            words = line.strip().lower().split()
            if words[:1] == ["@data"]:
                break
            if words and words[0].startswith("@"):
                tags.setdefault(words[0], words[1:])
    return tags


def _equal_length(path: str) -> bool:
    """False when the ``.ts`` header says ``@equalLength false``."""
    return _header(path).get("@equallength", [])[:1] != ["false"]


def _unlabelled(path: str) -> bool:
    """True when the ``.ts`` header says ``@classLabel false``: no label ends a case."""
    return _header(path).get("@classlabel", [])[:1] == ["false"]


def _has_class_labels(path: str) -> bool:
    """Whether a .ts file's header says ``@classLabel true`` (a classification set;
    regression sets say ``@targetLabel true``)."""
    return _header(path).get("@classlabel", [])[:1] == ["true"]


def _nested_cases(frame: Any) -> list[Any]:
    """The cases of sktime's nested DataFrame (a pd.Series per case and channel) as
    (channels, steps) arrays."""
    import numpy as np

    return [np.stack([np.asarray(c, dtype=np.float64) for c in row]) for row in frame.itertuples(index=False)]


def _read_ts(path: str, labelled: bool = True) -> tuple[list[Any], Any]:
    """The cases of a ``.ts`` file as (channels, steps) arrays and their labels (None when
    not ``labelled``), through the loader installed; its exceptions become one DataError
    naming the file.  An unlabelled file: sktime's ``load_from_tsfile`` always unpacks a
    label array (1.2 fails on such a file), so its ``load_from_tsfile_to_dataframe`` reads
    it (the nested DataFrame alone); aeon returns the cases and an empty label array."""
    name, fn = _loader()
    if fn is None:
        raise _fail(path, f": reading .ts files needs sktime or aeon: {_INSTALL}")
    try:
        if name == "sktime" and not labelled:
            frame = importlib.import_module("sktime.datasets").load_from_tsfile_to_dataframe(
                path, return_separate_X_and_y=True)
            return _nested_cases(frame[0] if isinstance(frame, tuple) else frame), None
        if name == "sktime":
            if _equal_length(path):
                x, y = fn(path, return_data_type="np3D")
                return list(x), y
            x, y = fn(path)  # a nested DataFrame: one pd.Series per case and channel
            return _nested_cases(x), y
        got = fn(path)  # aeon: np3D for equal length, a list of (channels, steps) otherwise
        x, y = got if isinstance(got, tuple) else (got, None)
        return list(x), (y if labelled else None)
    except UnicodeDecodeError as e:
        raise _fail(path, f" is not UTF-8 text (byte offset {e.start}); re-save it as UTF-8") from None
    except Exception as e:  # noqa: BLE001 -- the loader's own error, whatever its class: one line naming the file
        text = " ".join(str(e).split())[:200]
        raise _fail(path, f" could not be read by {name} ({type(e).__name__}: {text})") from None


def _trim(path: str, i: int, case: Any) -> Any:
    """Case ``i`` (channels, steps) as (T_i, I): trailing steps missing (NaN, ``?``) in every
    channel (the padding some archives use) dropped; any other missing or infinite value,
    an Inf at the last step included (``inf``, ``1e999``: a value, never padding), is a
    DataError naming the case, channel and step."""
    import numpy as np

    a = np.asarray(case, dtype=np.float64)
    a = a.reshape(1, -1) if a.ndim == 1 else a
    finite = np.isfinite(a)
    kept = np.flatnonzero((~np.isnan(a)).any(axis=0))
    steps = int(kept[-1]) + 1 if len(kept) else 0
    if steps == 0:
        raise _fail(path, f": case {i} has no values; expected at least one step")
    a = a[:, :steps]
    if not finite[:, :steps].all():
        ch, t = (int(v) for v in np.argwhere(~finite[:, :steps])[0])
        raise _fail(path, f": case {i} channel {ch} step {t} is missing or not finite; clean or drop the case")
    return a.T


def load_ts(path: str, *, labels: str = "required") -> Panel:
    """A panel from a UEA/UCR ``.ts`` file through sktime's ``load_from_tsfile`` (``np3D`` for
    equal lengths, the nested DataFrame otherwise) or aeon's ``load_from_ts_file``; neither
    installed: a DataError saying which extra to install.  Unequal lengths are padded
    (:func:`pad`) and kept in ``lengths``; ``y`` holds the class labels as strings.

    A file whose header says ``@classLabel false`` (no label after a case's last channel):
    with ``labels="required"`` (training data) a DataError; with ``"optional"`` (cases to
    predict on) ``y`` is None.  A ``@classLabel true`` file loads its labels either way."""
    import numpy as np

    _check_labels_arg(labels)
    _stat_file(path, ".ts", MAX_CSV_BYTES)
    unlabelled = _unlabelled(path)
    if unlabelled and labels == "required":
        raise _fail(path, " has no class labels (its header says '@classLabel false'); expected labelled cases "
                          "('@classLabel true' with the classes, each case ending with ':' and its label)")
    cases, y = _read_ts(path, labelled=not unlabelled)
    if not cases:
        raise _fail(path, " has no cases")
    if y is not None:
        y = np.asarray(y)
        if y.shape != (len(cases),):
            raise _fail(path, f": labels of shape {y.shape} for {len(cases)} cases; expected one label per case")
    _check_memory(path, (len(cases), max(np.shape(c)[-1] for c in cases),
                         max(1 if np.ndim(c) < 2 else np.shape(c)[0] for c in cases)))  # before the padding
    trimmed = [_trim(path, i, c) for i, c in enumerate(cases)]
    try:
        x, lengths = pad(trimmed, name="cases")
    except ValueError as e:  # channels differ between cases
        raise _fail(path, f": {e}") from None
    return Panel(x, lengths, y, path)


def bundled_uea(name: str, split: str) -> str:
    """The path of ``<name>_<TRAIN|TEST>.ts`` among the UEA/UCR datasets bundled with sktime
    (``sktime/datasets/data/<name>/``: BasicMotions, ItalyPowerDemand, GunPoint,
    JapaneseVowels, ArrowHead, OSULeaf...), found without importing sktime.  ``split`` is
    ``"train"`` or ``"test"``."""
    if split not in ("train", "test"):
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
    spec = importlib.util.find_spec("sktime")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"name: the bundled UEA/UCR datasets come with sktime: {_INSTALL}")
    root = os.path.join(next(iter(spec.submodule_search_locations)), "datasets", "data")
    found = sorted(d for d in os.listdir(root) if os.path.isfile(os.path.join(root, d, f"{d}_TRAIN.ts")))
    classified = [d for d in found if _has_class_labels(os.path.join(root, d, f"{d}_TRAIN.ts"))]
    if name in found and name not in classified:
        raise DataError(f"name: {name!r} is a regression set of sktime (its .ts header has no '@classLabel "
                        f"true'); expected a classification set: {', '.join(classified)}")
    if name not in classified:
        raise DataError(f"name: {name!r} is not a UEA/UCR dataset bundled with sktime; expected one of "
                        f"{', '.join(classified)}")
    return os.path.join(root, name, f"{name}_{split.upper()}.ts")


# -- labels ----------------------------------------------------------------------------------
def _label_array(y: Any) -> Any:
    """``y`` as a NumPy array: lists and tuples keep their Python objects (so mixed types are
    seen before NumPy would turn them all into strings), arrays of any backend go to host."""
    import numpy as np

    from rnnx.backends import to_numpy

    if isinstance(y, (list, tuple)):
        return np.asarray(y, dtype=object)  # ragged rows: a 1-D array of lists, refused as unhashable
    return to_numpy(y)


def encode_labels(y: Any) -> tuple[Any, tuple]:
    """Labels (N,) or (N, T) of any hashable, sortable type -> (``codes`` int64 of the same
    shape, ``classes`` the sorted unique labels), so that ``classes[codes[i]] == y[i]``: as
    scikit-learn's ``LabelEncoder`` (``classes_`` sorted).  Labels of types that do not sort
    together (1 and "a"), NaN, unhashable or empty labels: ValueError/TypeError naming ``y``."""
    import numpy as np

    a = _label_array(y)
    if a.ndim not in (1, 2):
        raise ValueError(f"y: labels of shape {a.shape}; expected (N,) or (N, T)")
    if a.size == 0:
        raise ValueError("y: expected at least one label, got none")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        at = int(np.flatnonzero(~np.isfinite(a))[0])
        raise ValueError(f"y: label {a.ravel()[at]} at flat index {at}; expected finite labels")
    if a.dtype.kind != "O":
        classes, codes = np.unique(a, return_inverse=True)
        return codes.reshape(a.shape).astype(np.int64), tuple(c.item() for c in classes)
    items = a.ravel().tolist()
    for v in items:
        if not isinstance(v, Hashable) or (isinstance(v, float) and math.isnan(v)):
            raise TypeError(f"y: label {v!r} is not a hashable, comparable value; expected labels such as ints or str")
    try:
        classes = tuple(sorted(set(items)))
    except TypeError:
        kinds = sorted({type(v).__name__ for v in items})
        raise TypeError(f"y: labels of mixed types ({', '.join(kinds)}) cannot be sorted; expected labels "
                        "of one type") from None
    index = {c: k for k, c in enumerate(classes)}
    return np.array([index[v] for v in items], dtype=np.int64).reshape(a.shape), classes


def decode_labels(codes: Any, classes: Sequence[Any]) -> Any:
    """``classes[codes]``: integer ``codes`` of any shape back to their labels (a NumPy array
    of that shape); a code outside [0, len(classes)) is a ValueError naming ``codes``."""
    import numpy as np

    from rnnx.backends import to_numpy

    c = to_numpy(codes)
    if c.dtype.kind not in "iu":
        raise TypeError(f"codes: expected integer class codes, got dtype {c.dtype}")
    if len(classes) == 0:
        raise ValueError("classes: expected at least one class, got none")
    bad = (c < 0) | (c >= len(classes))
    if bad.any():
        raise ValueError(f"codes: {int(c[bad].ravel()[0])} is outside [0, {len(classes)}) "
                         f"(the {len(classes)} classes)")
    return np.asarray(list(classes))[c]
