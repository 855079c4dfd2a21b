"""The ``meta`` record of an rnnx ``.npz``: every field checked by kind, and the array shapes
the record implies.

:func:`validate` reads a decoded record (whatever ``json.loads`` returned) and either returns
the shapes the file's arrays must have, ``{group: {name: shape}}``, or raises
:class:`FileFormatError` naming the file and the field::

    checkpoint: 'm.npz': meta.model.hidden_size: expected a positive int, got -3

Every record has ``format`` (:data:`FORMAT`), ``version`` (:data:`VERSION`; a kind of several
versions, :data:`VERSIONS`: one of them) and ``kind``; the fields of each kind are the tables
:data:`FIELDS` (required) and :data:`OPTIONAL` (absent from files written before them), or, for
a later version of a kind, :data:`VERSIONED`.  A field this rnnx does not know is an error naming it.
Integers are Python ints (not bool); numbers are ints or floats (not bool).  The layer or
model configuration is checked by building it (:func:`layer_from_config`,
:meth:`rnnx.nn.model.Model.from_config`), so the library's own checks name the bad option.
"""

from __future__ import annotations

import math
import os
import re
import reprlib
from typing import Any, Callable

from rnnx.nn import layers
from rnnx.nn.layers import Recurrent
from rnnx.nn.model import Model

__all__ = ["FORMAT", "VERSION", "OPT", "OPT_GROUP", "FileFormatError", "Shapes", "show", "layer_from_config",
           "FIELDS", "OPTIONAL", "VERSIONS", "current_version", "VERSIONED", "validate"]

FORMAT = "rnnx-checkpoint"
VERSION = 1
#: The group name that stands for every ``opt.<slot>`` group of a checkpoint: each holds a
#: subset of the model's parameter names, with the model's shapes.
OPT = "opt.*"
OPT_GROUP = re.compile(r"opt\.[A-Za-z_][A-Za-z0-9_]*\Z")


class FileFormatError(ValueError):
    """A file that cannot be loaded as asked: missing, corrupt, truncated, foreign, malformed,
    or holding another cell or size than expected.  The message names the file and the
    field or array.  (``rnnx.io.checkpoint.CheckpointError`` is this class.)"""


class Shapes(dict):
    """``{group: {name: shape}}``: the arrays a record implies (group :data:`OPT` stands for
    every ``opt.<slot>`` group, each a subset); ``what`` names the layer or model the record
    describes, as error messages name it (``LSTM(1, 4) + head``)."""

    def __init__(self, groups: dict[str, dict[str, tuple[int, ...]]], what: str,
                 optional: tuple[str, ...] = ()) -> None:
        super().__init__(groups)
        self.what, self.optional = what, optional  # optional: groups a file may leave out


_short = reprlib.Repr()
_short.maxstring, _short.maxother, _short.maxlevel, _short.maxlist, _short.maxdict = 60, 60, 3, 6, 6


def show(value: Any) -> str:
    """A short repr of a stored value for an error message (long or deep values elided)."""
    return _short.repr(value)


class _Bad(Exception):
    """One malformed field: ``field`` (``model.hidden_size``, ``history[2].val_mse``) and why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


# -- field kinds: each checks ``v`` (the value of ``field``) and returns what it built, if anything
def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _int(low: int) -> Callable[[Any, str], None]:
    def check(v: Any, field: str) -> None:
        if not _is_int(v) or v < low:
            raise _Bad(field, f"expected an int >= {low}, got {show(v)}")
    return check


def _dict(v: Any, field: str) -> None:
    if not isinstance(v, dict):
        raise _Bad(field, f"expected a JSON object, got {show(v)}")


def _one_of(*choices: str) -> Callable[[Any, str], None]:
    def check(v: Any, field: str) -> None:
        if not isinstance(v, str) or v not in choices:
            raise _Bad(field, f"expected one of {', '.join(map(repr, choices))}, got {show(v)}")
    return check


def _str_or_null(v: Any, field: str) -> None:
    if v is not None and not isinstance(v, str):
        raise _Bad(field, f"expected a string or null, got {show(v)}")


def _names(v: Any, field: str) -> tuple[str, ...]:
    """A list of distinct strings (parameter names, checked against the model's once it is built)."""
    if not isinstance(v, list) or not all(isinstance(n, str) for n in v) or len(set(v)) != len(v):
        raise _Bad(field, f"expected a list of distinct parameter names, got {show(v)}")
    return tuple(v)


def _callback_states(v: Any, field: str) -> None:
    """fit's callbacks' ``state_dict()``s: a list of JSON objects."""
    if not isinstance(v, list) or not all(isinstance(d, dict) for d in v):
        raise _Bad(field, f"expected a list of JSON objects (each callback's state), got {show(v)}")


def _best_val(v: Any, field: str) -> None:
    if not _is_number(v) or math.isnan(v):
        raise _Bad(field, f"expected a number (inf allowed), got {show(v)}")


def _norm(v: Any, field: str) -> None:
    """``[mean, std]``: a finite mean, a finite std > 0."""
    ok = (isinstance(v, list) and len(v) == 2 and all(_is_number(x) and math.isfinite(x) for x in v)
          and v[1] > 0)
    if not ok:
        raise _Bad(field, f"expected [mean, std] with a finite mean and a finite std > 0, got {show(v)}")


def _scalers(v: Any, field: str) -> None:
    """One ``[mean, std]`` per input column (a run of several CSV columns)."""
    if not isinstance(v, list) or not v:
        raise _Bad(field, f"expected a list of [mean, std], one per input column, got {show(v)}")
    for i, x in enumerate(v):
        _norm(x, f"{field}[{i}]")


def _target_norms(v: Any, field: str) -> None:
    """One ``[mean, std]`` per target column (a run of several targets; ``norm`` is the first's)."""
    if not isinstance(v, list) or not v:
        raise _Bad(field, f"expected a list of [mean, std], one per target column, got {show(v)}")
    for i, x in enumerate(v):
        _norm(x, f"{field}[{i}]")


def _history(v: Any, field: str) -> None:
    """A list of rows, each a JSON object of numbers or nulls (nan and inf allowed)."""
    if not isinstance(v, list):
        raise _Bad(field, f"expected a list of JSON objects, got {show(v)}")
    for i, row in enumerate(v):
        if not isinstance(row, dict):
            raise _Bad(f"{field}[{i}]", f"expected a JSON object, got {show(row)}")
        for k, x in row.items():
            if x is not None and not _is_number(x):
                raise _Bad(f"{field}[{i}].{k}", f"expected a number or null, got {show(x)}")


_SHA256 = re.compile(r"[0-9a-f]{64}\Z")


def _data(v: Any, field: str) -> None:
    """Where a run's series came from: ``kind`` preset or csv, the csv's absolute ``path``, its
    ``sha256`` (64 lowercase hex digits) and size in ``bytes``; path and sha256 may be null
    for a preset, bytes may be null."""
    _dict(v, field)
    _fields_present(v, field, ("kind", "path", "sha256", "bytes"), ())
    _one_of("preset", "csv")(v["kind"], f"{field}.kind")
    preset = v["kind"] == "preset"
    path, digest, size = v["path"], v["sha256"], v["bytes"]
    if not (path is None and preset) and not (isinstance(path, str) and os.path.isabs(path)):
        raise _Bad(f"{field}.path", f"expected an absolute path{' or null' if preset else ''}, got {show(path)}")
    if not (digest is None and preset) and not (isinstance(digest, str) and _SHA256.match(digest)):
        raise _Bad(f"{field}.sha256",
                   f"expected 64 lowercase hex digits{' or null' if preset else ''}, got {show(digest)}")
    if size is not None and (not _is_int(size) or size < 0):
        raise _Bad(f"{field}.bytes", f"expected an int >= 0 or null, got {show(size)}")


def _window(v: Any, field: str) -> None:
    """``[sum, count]`` of a text run's losses since its last history row: a finite number
    and an int >= 1, or null and 0."""
    ok = isinstance(v, list) and len(v) == 2 and _is_int(v[1]) and (
        (v[0] is None and v[1] == 0) or (_is_number(v[0]) and math.isfinite(v[0]) and v[1] >= 1))
    if not ok:
        raise _Bad(field, f"expected [sum, count]: a finite number and an int >= 1, or [null, 0], got {show(v)}")


_PARAM = re.compile(r"([A-Za-z_][A-Za-z0-9_]*): ")


def _config_error(field: str, cfg: dict, e: Exception) -> _Bad:
    """The library's refusal of a stored configuration as a field error: a message that
    names a stored option (``hidden_size: expected ...``) -> ``<field>.hidden_size: expected ...``."""
    msg = str(e)
    m = _PARAM.match(msg)
    if m and m[1] in cfg:
        return _Bad(f"{field}.{m[1]}", msg[m.end():])
    return _Bad(field, msg)


def _build_layer(cfg: dict) -> Recurrent:
    """A layer from its stored configuration: :meth:`Recurrent.config`'s dict, or the
    ``{"type": "LSTM", ...}`` dict of files written before the cell spec (ValueError or
    TypeError naming the option it refuses)."""
    cfg = dict(cfg)
    if "type" in cfg:  # the first format: the class name, torch's options only
        kind = cfg.pop("type")
        if kind not in ("RNN", "LSTM", "GRU"):
            raise ValueError(f"type: expected 'RNN', 'LSTM' or 'GRU', got {show(kind)}")
        cfg["cell"] = kind.lower()
    return layers.layer_from_config(cfg)


_REFUSALS = (TypeError, ValueError, KeyError, AttributeError, OverflowError)


def _config(v: Any, field: str, build: Callable[[dict], Any], keys: tuple[str, ...]) -> Any:
    """Build a stored configuration ``v``, which must hold ``keys``; a refusal names the option."""
    _dict(v, field)
    for k in keys:
        if k not in v and not (k == "cell" and "type" in v and build is _build_layer):
            raise _Bad(f"{field}.{k}", "missing")
    try:
        return build(v)
    except _REFUSALS as e:
        raise _config_error(field, v, e) from None


def _layer(v: Any, field: str) -> Recurrent:
    return _config(v, field, _build_layer, ("cell", "input_size", "hidden_size"))


def _model(v: Any, field: str) -> Model:
    return _config(v, field, Model.from_config, ("cell", "input_size", "hidden_size"))


def layer_from_config(cfg: dict) -> Recurrent:
    """A layer from its stored configuration (:func:`_build_layer`); a configuration it
    refuses is a :class:`FileFormatError` naming the option."""
    try:
        return _build_layer(cfg)
    except _REFUSALS as e:
        raise FileFormatError(f"file: the stored layer configuration {show(cfg)} is not valid here: "
                              f"{_config_error('layer', dict(cfg), e)}") from None


#: kind -> its required fields and their checks (the common ``format``, ``version``,
#: ``kind`` aside).
FIELDS: dict[str, dict[str, Callable[[Any, str], Any]]] = {
    "rnnx-layer": {"layer": _layer},
    "rnnx-model": {"model": _model},
    # rnnx.Forecaster.save: the model and the forecaster's state (checked field by field by Forecaster.load)
    "rnnx-forecaster": {"model": _model, "forecaster": _dict},
    "model": {"model": _model, "norm": _norm, "window": _int(1), "horizon": _int(1),
              "dtype": _one_of("float32", "float64"), "settings": _dict},
    # the series CLI's run folder before fit-state version 2 (read, never written)
    "checkpoint": {"settings": _dict, "model": _model, "epoch": _int(0), "opt_step": _int(0),
                   "history": _history, "best_val": _best_val, "best_epoch": _int(0), "clipped": _int(0),
                   "updates": _int(0), "norm": _norm, "rng": _dict},
    # rnnx.fit(..., checkpoint=PATH): the state to resume from, version 1 (version 2, every run kind's
    # training checkpoint (rnnx.training.state.save_state): VERSIONED)
    "fit-state": {"model": _model, "epoch": _int(0), "updates": _int(0), "opt_step": _int(0),
                  "history": _history, "best_score": _best_val, "best_epoch": _int(0), "settings": _dict},
    # rnnx.text.fit_text(..., checkpoint=PATH) and rnnx train --text before fit-state version 2 (read, never written)
    "text-state": {"model": _model, "updates": _int(0), "opt_step": _int(0), "history": _history,
                   "window": _window, "streams": _int(1), "settings": _dict},
}
#: kind -> the fields files written before them lack.
OPTIONAL: dict[str, dict[str, Callable[[Any, str], Any]]] = {
    "rnnx-layer": {},
    "rnnx-model": {"frozen": _names},  # Model.frozen, written when not empty
    "rnnx-forecaster": {},
    "model": {"data": _data, "scalers": _scalers, "target_norms": _target_norms},
    "fit-state": {"callbacks": _callback_states, "clipped": _int(0)},
    "text-state": {"run": _dict},
    "checkpoint": {"data": _data, "scalers": _scalers, "target_norms": _target_norms, "finished": _str_or_null,
                   "epochs": _int(1), "patience_from": _int(0)},
}
COMMON = ("format", "version", "kind")
#: kind -> the versions of it this rnnx reads (every other kind: :data:`VERSION` only); the last
#: is the one written (:func:`current_version`).
VERSIONS: dict[str, tuple[int, ...]] = {"fit-state": (1, 2)}


def current_version(kind: Any) -> int:
    """The version of ``kind`` this rnnx writes (a record that names none is of it)."""
    return VERSIONS.get(kind, (VERSION,))[-1] if isinstance(kind, str) else VERSION
#: (kind, version) -> its required and optional fields, where they are not :data:`FIELDS` and
#: :data:`OPTIONAL`'s: ``fit-state`` version 2, the one training checkpoint of every run kind
#: (:func:`rnnx.training.state.save_state`); ``streams`` (the carried state's) with a ``state`` group.
VERSIONED: dict[tuple[str, int], tuple[dict[str, Callable[[Any, str], Any]], dict[str, Callable[[Any, str], Any]]]] = {
    ("fit-state", 2): ({"model": _model, "epoch": _int(0), "updates": _int(0), "opt_step": _int(0),
                        "history": _history, "best_score": _best_val, "best_epoch": _int(0), "clipped": _int(0),
                        "callbacks": _callback_states, "settings": _dict, "run": _dict},
                       {"streams": _int(1)}),
}


def _fields_present(d: dict, field: str, required: tuple[str, ...], optional: tuple[str, ...]) -> None:
    unknown = [k for k in d if k not in required and k not in optional]
    if unknown:
        raise _Bad(field, f"unexpected field(s) {show(unknown)}; expected {', '.join(required + optional)}")
    for k in required:
        if k not in d:
            raise _Bad(f"{field}.{k}", "missing")


def _header(meta: Any) -> str:
    """Check ``format``, ``version`` and ``kind``; the kind."""
    if not isinstance(meta, dict):
        raise _Bad("meta", f"expected a JSON object, got {type(meta).__name__}")
    for k in COMMON:
        if k not in meta:
            raise _Bad(f"meta.{k}", "missing" + (" (not an rnnx file)" if k == "format" else ""))
    if meta["format"] != FORMAT or not isinstance(meta["format"], str):
        raise _Bad("meta.format", f"expected {FORMAT!r}, got {show(meta['format'])} (not an rnnx file)")
    _one_of(*FIELDS)(meta["kind"], "meta.kind")
    known = VERSIONS.get(meta["kind"], (VERSION,))
    if not _is_int(meta["version"]) or meta["version"] not in known:
        if len(known) == 1:
            raise _Bad("meta.version", f"expected {VERSION}, got {show(meta['version'])} "
                                       f"(this rnnx reads version {VERSION})")
        raise _Bad("meta.version", f"expected one of {', '.join(map(str, known))}, got {show(meta['version'])} "
                                   f"(this rnnx reads {meta['kind']} versions {', '.join(map(str, known))})")
    return meta["kind"]


def _check(meta: Any) -> Shapes:
    kind = _header(meta)
    required, optional = VERSIONED.get((kind, meta["version"]), (FIELDS[kind], OPTIONAL[kind]))
    _fields_present(meta, "meta", COMMON + tuple(required), tuple(optional))
    built = {}
    for k, check in {**required, **optional}.items():
        if k in meta:
            built[k] = check(meta[k], f"meta.{k}")
    if kind == "rnnx-layer":
        layer = built["layer"]
        return Shapes({"params": layer.param_shapes()}, repr(layer))
    model = built["model"]
    shapes, what = model.param_shapes(), f"{model.layer!r} + head"
    unknown = [n for n in built.get("frozen", ()) if n not in shapes]
    if unknown:
        raise _Bad("meta.frozen", f"{show(unknown)} are not parameters of {what}; expected some of "
                                  f"{', '.join(shapes)}")
    if kind in ("checkpoint", "fit-state"):
        groups = {"params": shapes, "best": shapes, OPT: shapes}
        if "streams" in meta:  # a stream run's carried state: (L*D, streams, n) per component
            groups["state"] = _carried(model, meta["streams"])
        # a run that kept no best epoch stores its params once (fit-state version 2)
        return Shapes(groups, what, ("best",) if kind == "fit-state" and not meta.get("best_epoch") else ())
    if kind == "rnnx-forecaster":  # settings.ensemble members: params, member1, member2, ...
        sets = meta["forecaster"].get("settings")  # checked a JSON object above
        k = sets.get("ensemble", 1) if isinstance(sets, dict) else 1
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 1000:
            raise _Bad("meta.forecaster.settings.ensemble", f"expected an int from 1 to 1000, got {show(k)}")
        return Shapes({"params": shapes, **{f"member{i}": shapes for i in range(1, k)}}, what)
    if kind == "text-state":  # the state the streams are carried in: (L*D, streams, n) per component
        return Shapes({"params": shapes, OPT: shapes, "state": _carried(model, meta["streams"])}, what)
    return Shapes({"params": shapes}, what)


def _carried(model: Model, streams: int) -> dict[str, tuple[int, ...]]:
    """The shapes of the state ``streams`` streams are carried in: (L*D, streams, n) per component."""
    layer, lead = model.layer, model.layer.num_layers * model.layer.num_directions
    return {n: (lead, streams, k) for n, k in zip(layer.spec.state, layer.state_sizes)}


def validate(meta: object, path: str) -> Shapes:
    """Check the decoded record ``meta`` of the file ``path`` field by field; the array shapes
    it implies (:class:`Shapes`).  Any malformed field: :class:`FileFormatError`
    ``checkpoint: '<path>': meta.<field>: <expected what, got what>``."""
    try:
        return _check(meta)
    except _Bad as e:
        raise FileFormatError(f"checkpoint: {path!r}: {e.field}: {e.reason}") from None
    except RecursionError:
        raise FileFormatError(f"checkpoint: {path!r}: meta: nested too deeply") from None
