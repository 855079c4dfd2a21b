"""The settings of ``rnnx train``: a frozen dataclass whose field defaults are the defaults
table, and :func:`resolve`: defaults, then a preset's values, then what the command line
gave explicitly (a value of ``None`` is "not given").

A run stores its settings (``TrainSettings.to_json()``, the :func:`dataclasses.asdict` of
it) in ``checkpoint.npz``, ``model.npz`` and ``metrics.json``; :meth:`TrainSettings.from_json`
reads them back, also those of runs written before ``model_options`` existed (they held
``nonlinearity`` at the top level, for every cell).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, field, fields, make_dataclass
from typing import Any

from rnnx.cells import CELLS  # noqa: F401 (re-exported)
from rnnx.cli.errors import AppError, flag_for
from rnnx.data.tables import MISSING_POLICIES
from rnnx.cli.table import (DASK, DEFAULTS, all_options, cells_with, defaults_of, is_int, options_of,  # noqa: F401
                            cell_options, turned_off)
from rnnx.data.dataset import PRESETS

class _Settings:
    """The methods of :class:`TrainSettings` (its fields are generated from the table)."""

    def __post_init__(self) -> None:  # JSON gives lists: the sequence fields are tuples
        for name in ("split", "tbptt", "freeze", "inputs", "targets", "diagnostics"):
            v = getattr(self, name)
            if isinstance(v, list):
                object.__setattr__(self, name, tuple(v))
        object.__setattr__(self, "model_options", dict(self.model_options))

    @property
    def table(self) -> bool:
        """A run of named CSV columns (``--targets``, or a preset of a table), not one series."""
        return self.targets is not None

    @property
    def name(self) -> str:
        """The preset's name or the CSV file's."""
        return self.preset or str(self.csv)

    def to_json(self) -> dict[str, Any]:
        """The settings as a JSON-able dict (tuples as lists)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> TrainSettings:
        """Settings a run stored.  A cell option at the top level (the layout before
        ``model_options``) moves into it; an option that does not apply to the run's cell
        never had an effect and is dropped; missing ones take their defaults."""
        d = dict(d)
        column = d.pop("column", None)  # a run of one series (--column, before it became --targets NAME):
        if column is not None and d.get("targets") is None:  # the same windows, bit for bit
            d["targets"] = [column]
        names = {f.name for f in fields(cls)}
        opts = dict(d.pop("model_options", None) or {})
        for k in [k for k in d if k not in names and k in all_options()]:
            opts.setdefault(k, d.pop(k))
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"settings: unknown key(s) {unknown}; expected some of {sorted(names)}")
        cell = d.get("cell", cls.cell)
        applies = defaults_of(cell)
        return cls(**{**d, "model_options": {**applies, **{k: v for k, v in opts.items() if k in applies}}})


#: The settings only a preset sets (no flag), and their values in a run of a CSV.
PRESET_ONLY = {"loss": "mse", "init": "torch", "final_target_every_step": False, "freeze": (), "normalise": True}
#: Everything that fixes a run of ``rnnx train``: a frozen dataclass whose fields are the data
#: source (``--preset``, or ``--csv`` with ``--inputs``/``--targets``/``--time-column``:
#: ``--column NAME`` is ``--targets NAME``), then the ``regression`` row of
#: :data:`rnnx.cli.table.DEFAULTS` (:mod:`rnnx.training.defaults`' row, which RNNRegressor
#: reads too, and the command's own) in its order, ``model_options`` after ``bidirectional``,
#: and :data:`PRESET_ONLY`.  ``model_options`` holds every option of the layer and of the
#: chosen cell (:func:`options_of`: ``dropout``, ``nonlinearity`` of the RNN, ``proj_size`` of
#: the LSTM, ...), given or default, as :class:`rnnx.Model` takes them.  The dataclass does not
#: check values: :func:`check_settings` and the library do.
TrainSettings = make_dataclass("TrainSettings", [
    *[(k, Any, None) for k in ("preset", "csv", "inputs", "targets", "time_column", "units")],
    *[f for k, v in DEFAULTS["regression"].items() for f in [(k, Any, v)] + (
        [("model_options", dict, field(default_factory=dict))] if k == "bidirectional" else [])],
    *[(k, Any, v) for k, v in PRESET_ONLY.items()]], bases=(_Settings,), frozen=True)
TrainSettings.__module__ = __name__


#: The fields a command line or a preset may set (all but model_options: its options go by name).
FIELDS: tuple[str, ...] = tuple(f.name for f in fields(TrainSettings) if f.name != "model_options")


#: What ``unset`` may clear: the optional settings a preset can switch on, by the switch that
#: turns them off (:data:`rnnx.cli.table.OFF`).
UNSET = {"early_stopping": "no_early_stopping", "clip": "no_clip"}


def resolve(given: Mapping[str, Any], unset: tuple[str, ...] = ()) -> TrainSettings:
    """Defaults, then the preset's values, then what ``given`` sets (``None``: not given),
    then ``unset`` (keys of :data:`UNSET`: ``"early_stopping"`` and ``"clip"`` turn a
    preset's early stopping / gradient clipping off; giving the setting too is an error).
    ``given`` holds field names (``column``: ``targets`` of one name) and model option names
    (``nonlinearity=...``); an option
    given that the chosen cell does not have is an error naming it.

    Refused (:class:`AppError`, code 2, one line naming the flag): ``--preset`` with ``--csv``
    (:func:`_check_data_source`), and what :func:`check_settings` refuses."""
    known = set(FIELDS) | set(all_options()) | {"column"}
    extra = sorted(set(given) - known)
    if extra:
        raise TypeError(f"resolve: unknown setting(s) {extra}")
    explicit = {k: v for k, v in given.items() if v is not None}
    preset = explicit.get("preset")
    from_preset: dict[str, Any] = {}
    if preset is not None:
        if preset not in PRESETS:
            raise AppError(f"--preset: unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
        from_preset = {k: v for k, v in PRESETS[preset].items() if k not in ("series", "table")}
    _check_data_source(explicit)
    if "column" in explicit:  # one series = one target: the run of --targets NAME
        explicit["targets"] = (explicit.pop("column"),)
    s = {**from_preset, **explicit}
    s.update(dict.fromkeys(turned_off([UNSET[key] for key in unset], explicit)))
    cell = s.get("cell", TrainSettings.cell)
    cell_options(explicit, cell)
    opts = {k: s.get(k, default) for k, default in defaults_of(cell).items()}  # a preset's other cell's: dropped
    settings = TrainSettings(**{k: v for k, v in s.items() if k in FIELDS}, model_options=opts)
    check_settings(settings, explicit)
    return settings


def _check_data_source(explicit: Mapping[str, Any]) -> None:
    """Either ``--preset``, or ``--csv`` with ``--column`` (one series) or with
    ``--targets`` (and ``--inputs``: named columns)."""
    has = {k for k in ("preset", "csv", "column", "inputs", "targets", "time_column") if k in explicit}
    csv_only = has & {"csv", "column", "inputs", "targets", "time_column"}
    got = lambda k: f"{flag_for(k)} {','.join(v) if isinstance(v := explicit[k], tuple) else v}"  # noqa: E731
    if "preset" in has and csv_only:
        key = "csv" if "csv" in has else sorted(csv_only)[0]
        raise AppError(f"{flag_for(key)}: give either --preset or --csv, not both (--preset {explicit['preset']} "
                       f"brings its own data; got {got(key)})")
    if not has:
        raise AppError("train: give --preset NAME, or --csv FILE with --column NAME (one series) or --targets "
                       "NAMES (and --inputs NAMES)")
    if "preset" in has:
        return
    if "csv" not in has:
        key = sorted(has)[0]
        what = "a column" if key in ("column", "time_column") else "columns"
        raise AppError(f"{flag_for(key)}: names {what} of --csv, but no --csv was given (got {got(key)})")
    if "column" in has and has & {"inputs", "targets"}:
        other = "--inputs" if "inputs" in has else "--targets"
        raise AppError(f"{other}: give --column NAME (one series) or --inputs/--targets, not both")
    if "inputs" in has and "targets" not in has:
        raise AppError("--targets: required with --inputs (the column(s) to predict)")
    if "column" not in has and "targets" not in has:
        raise AppError("--column: required with --csv (the name of the column to model), or --targets NAMES")


def _origin(key: str, s: Any, explicit: Mapping[str, Any]) -> str:
    """``--optimizer adam`` and where it came from: ``(from --preset seed001)``, ``(the default)``."""
    text = f"{flag_for(key)} {getattr(s, key)}"
    if key in explicit:
        return text
    preset = getattr(s, "preset", None)
    return f"{text} (from --preset {preset})" if preset is not None else f"{text} (the default)"


def _fractions(split: tuple) -> str:
    return ",".join(f"{f:g}" if isinstance(f, (int, float)) else repr(f) for f in split)


def _twice(cols: Any) -> Any:
    return next((c for i, c in enumerate(cols) if c in cols[:i]), None)


def _dask(s: Any) -> str | None:
    """The Dask flag a run gives (``--dask-scheduler`` first), or None."""
    return next((flag_for(k) for k in ("dask_scheduler", "dask_workers") if getattr(s, k) is not None), None)


def _tbptt(s: Any) -> bool:
    return getattr(s, "tbptt", None) is not None


def _coordinated(a: Any) -> list[str]:
    """The multi-process flags besides --coordinator that the command line ``a`` gave."""
    return [k for k in ("num_processes", "process_id", "coordinator_timeout") if getattr(a, k) is not None]


def _port(address: str) -> bool:
    """``HOST:PORT`` with a host and a port from 1 to 65535."""
    host, _, port = address.rpartition(":")
    return bool(host.strip("[]")) and port.isascii() and port.isdigit() and 1 <= int(port) <= 65535


#: The settings of a run that are out of range or conflict, refused before it creates anything,
#: in the order they are checked: ``(flag, refused(s, e), words(s, e))``, ``s`` the settings
#: (attributes), ``e`` what the command line gave (:func:`_origin` says where a value came from);
#: ``flag`` a callable of ``s`` where it depends on them.  One AppError line: ``<flag>: <words>``.
#: A group is checked by :func:`refuse`; ``series`` holds a series run's own (three fractions in
#: [0, 1] summing to 1 with a training and a test part; early stopping needs a validation part;
#: --momentum and --nesterov are SGD's; --tbptt K1,K2 within --window for the many-to-many
#: objective of a one-way layer; distinct column names; --difference many-to-one with mse),
#: ``dask`` and ``devices`` every run's that trains data parallel, ``coordinator`` the flags of a
#: multi-process run (``rnnx train --coordinator``).
RULES: dict[str, list[tuple[Any, Callable[..., Any], Callable[..., str]]]] = {
    "series": [
        ("--split", lambda s, e: len(s.split) != 3 or not all(isinstance(f, (int, float)) and 0 <= f <= 1
                                                               for f in s.split) or abs(math.fsum(s.split) - 1) > 1e-9,
         lambda s, e: "expected three fractions train,val,test summing to 1, each in [0, 1]; got "
         + _fractions(s.split)),
        ("--split", lambda s, e: s.split[2] == 0, lambda s, e: f"{_fractions(s.split)} leaves no test part; expected a "
         "test fraction > 0 (the run ends by evaluating on it)"),
        ("--split", lambda s, e: s.split[0] == 0,
         lambda s, e: f"{_fractions(s.split)} leaves no training part; expected a train fraction > 0"),
        ("--early-stopping", lambda s, e: s.early_stopping is not None and not s.split[1] > 0 and "early_stopping" in e,
         lambda s, e: f"watches the validation loss, but --split {_fractions(s.split)} has no validation part; "
         "expected a validation fraction > 0 with it"),
        ("--split", lambda s, e: s.early_stopping is not None and not s.split[1] > 0,
         lambda s, e: f"{_fractions(s.split)} has no validation part, which {_origin('early_stopping', s, e)} watches; "
         "expected a validation fraction > 0"),
        ("--momentum", lambda s, e: s.momentum > 0 and s.optimizer != "sgd", lambda s, e: "applies to --optimizer sgd "
         f"only, got --momentum {s.momentum} with {_origin('optimizer', s, e)}"),
        ("--nesterov", lambda s, e: s.nesterov and s.optimizer != "sgd",
         lambda s, e: f"applies to --optimizer sgd only, got --nesterov with {_origin('optimizer', s, e)}"),
        ("--nesterov", lambda s, e: s.nesterov and s.momentum <= 0, lambda s, e: "needs --momentum > 0 (Nesterov's is "
         f"a form of momentum), got {_origin('momentum', s, e)}"),
        ("--tbptt", lambda s, e: s.tbptt is not None and (len(s.tbptt) != 2 or not all(map(is_int, s.tbptt))),
         lambda s, e: "expected two integers K1,K2 (update every K1 steps, backpropagating through K2), got "
         + ",".join(map(str, s.tbptt))),
        ("--tbptt", lambda s, e: s.tbptt is not None and not 1 <= s.tbptt[0] <= s.tbptt[1] <= s.window,
         lambda s, e: f"expected 1 <= K1 <= K2 <= --window {s.window}, got K1={s.tbptt[0]}, K2={s.tbptt[1]}"),
        ("--tbptt", lambda s, e: s.tbptt is not None and s.objective != "many-to-many", lambda s, e: "truncated BPTT "
         f"needs --objective many-to-many (a target at every step), got {_origin('objective', s, e)}"),
        ("--tbptt", lambda s, e: s.tbptt is not None and s.bidirectional, lambda s, e: "carries the state forward in "
         "time, which the reverse direction of --bidirectional cannot use; drop one of them"),
        ("--missing", lambda s, e: s.missing not in MISSING_POLICIES,
         lambda s, e: f"expected one of {', '.join(MISSING_POLICIES)}, got {s.missing!r}"),
        *[(flag_for(k), lambda s, e, k=k, on=on: not s.table and on(s) and k in e,
           lambda s, e: "applies to a run of named columns (--csv FILE --targets NAME [--inputs ...], or --column "
           f"NAME); got the series preset {s.preset}")
          for k, on in (("missing", lambda s: s.missing != "error"), ("difference", lambda s: s.difference))],
        *[r for k in ("inputs", "targets") for r in (
            (flag_for(k), lambda s, e, k=k: s.table and getattr(s, k) is not None and (
                not getattr(s, k) or not all(isinstance(c, str) and c for c in getattr(s, k))),
             lambda s, e, k=k: f"expected comma-separated column names, got {','.join(map(str, getattr(s, k)))!r}"),
            (flag_for(k), lambda s, e, k=k: s.table and getattr(s, k) is not None and _twice(getattr(s, k)) is not None,
             lambda s, e, k=k: f"column {_twice(getattr(s, k))!r} listed twice (got {','.join(getattr(s, k))})"))],
        ("--difference", lambda s, e: s.table and s.difference and s.objective != "many-to-one", lambda s, e: "models "
         f"the change to the value after each window (--objective many-to-one), got {_origin('objective', s, e)}"),
        ("--difference", lambda s, e: s.table and s.difference and s.loss != "mse",
         lambda s, e: f"applies to regression with mse, got loss {s.loss}")],
    "dask": [
        ("--dask-timeout", lambda s, e: _dask(s) is None and "dask_timeout" in e,
         lambda s, e: "applies with --dask-scheduler or --dask-workers only"),
        ("--dask-workers", lambda s, e: s.dask_scheduler is not None and s.dask_workers is not None,
         lambda s, e: "starts a LocalCluster, --dask-scheduler joins a running one; give one of them"),
        ("--dask-timeout", lambda s, e: _dask(s) and not (isinstance(s.dask_timeout, (int, float)) and not isinstance(
            s.dask_timeout, bool) and s.dask_timeout > 0),
         lambda s, e: f"expected a number of seconds > 0, got {s.dask_timeout!r}"),
        ("--dask-workers", lambda s, e: s.dask_workers is not None and not (is_int(s.dask_workers)
                                                                             and s.dask_workers >= 1),
         lambda s, e: f"expected a positive integer, got {s.dask_workers!r}"),
        (_dask, lambda s, e: _dask(s) and s.devices is not None,
         lambda s, e: "Dask workers or JAX --devices, not both; drop one of them"),
        (_dask, lambda s, e: _dask(s) and s.backend not in ("numpy", "cupy"), lambda s, e: "Dask workers run --backend "
         f"numpy or cupy, got {_origin('backend', s, e)} (for jax use --devices)"),
        (_dask, lambda s, e: _dask(s) and _tbptt(s), lambda s, e: "not with --tbptt; drop one of them"),
        (_dask, lambda s, e: _dask(s) and s.diagnostics is not None,
         lambda s, e: "not with --diagnostics; drop one of them")],
    "devices": [
        ("--devices", lambda s, e: s.devices is not None and (not is_int(s.devices) or s.devices < 1),
         lambda s, e: f"expected a positive integer, got {s.devices!r}"),
        ("--devices", lambda s, e: s.devices is not None and s.backend != "jax", lambda s, e: "data parallel runs on "
         f"--backend jax (XLA SPMD), got {_origin('backend', s, e)}"),
        ("--devices", lambda s, e: s.devices is not None and _tbptt(s),
         lambda s, e: "not with --tbptt (its windows update within a batch); drop one of them"),
        ("--devices", lambda s, e: s.devices is not None and s.diagnostics is not None,
         lambda s, e: "--diagnostics are recorded on one device; drop one of them"),
        ("--batch-size", lambda s, e: s.devices is not None and s.batch_size % s.devices,
         lambda s, e: f"{s.batch_size} does not split over --devices {s.devices}; expected a multiple of {s.devices}")],
    "coordinator": [  # the command line of a multi-process run (``s``: its args)
        (lambda a: flag_for(_coordinated(a)[0]), lambda a, e: a.coordinator is None and _coordinated(a),
         lambda a, e: "applies with --coordinator only"),
        ("--coordinator", lambda a, e: a.coordinator is not None and {getattr(a, "text", None), a.resume} != {None},
         lambda a, e: "a multi-process run starts a new regression or classification run; not with "
         + ("--text" if getattr(a, "text", None) is not None else "--resume")),
        ("--coordinator", lambda a, e: a.coordinator is not None and (a.backend != "jax" or a.devices is None),
         lambda a, e: "a multi-process run splits every batch over the devices of all processes; expected --backend "
         "jax --devices N"),
        ("--coordinator", lambda a, e: a.coordinator not in (None, "auto") and not _port(a.coordinator),
         lambda a, e: f"expected HOST:PORT with a port from 1 to 65535, got {a.coordinator!r}"),
        ("--coordinator", lambda a, e: a.coordinator not in (None, "auto") and None in (a.num_processes, a.process_id),
         lambda a, e: f"{a.coordinator} needs --num-processes N and --process-id I (or --coordinator auto under "
         "SLURM / Open MPI)"),
        ("--coordinator", lambda a, e: a.coordinator == "auto" and (a.num_processes, a.process_id) != (None, None),
         lambda a, e: "auto detects the processes of a SLURM / Open MPI job; drop --num-processes and --process-id"),
        ("--num-processes", lambda a, e: a.coordinator not in (None, "auto") and a.num_processes < 1,
         lambda a, e: f"expected a positive integer, got {a.num_processes}"),
        ("--process-id", lambda a, e: a.coordinator not in (None, "auto") and not 0 <= a.process_id < a.num_processes,
         lambda a, e: f"expected 0 <= I < --num-processes {a.num_processes}, got {a.process_id}"),
        ("--coordinator-timeout", lambda a, e: None not in (a.coordinator, a.coordinator_timeout)
         and a.coordinator_timeout < 1,
         lambda a, e: f"expected a positive number of seconds, got {a.coordinator_timeout}")],
}


def refuse(group: str, s: Any, explicit: Mapping[str, Any]) -> None:
    """The first rule of ``RULES[group]`` that refuses the settings ``s`` (``explicit``: what
    the command line gave, to say where a conflicting value came from): one AppError line."""
    for flag, refused, words in RULES[group]:
        if refused(s, explicit):
            raise AppError(f"{flag(s) if callable(flag) else flag}: {words(s, explicit)}")


def check_dask(s: Any, explicit: Mapping[str, Any]) -> None:
    """--dask-scheduler ADDRESS or --dask-workers N (one of them): NumPy or CuPy workers;
    not with --devices, --tbptt, --diagnostics.  ``s``: a run's settings as attributes (a
    classification run's too: it has no --tbptt)."""
    refuse("dask", s, explicit)


# DASK (rnnx.cli.table.DASK): the settings that place a run on Dask.  A run that is resumed takes
# them from its command line, never from the file it resumes (:func:`placement`): a stored file
# is data, not instructions.


def _shown(v: Any, *, stored: bool) -> str:
    """A Dask setting in a note: a stored one as its repr (it may be anything), cut at 80 characters."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return f"{v:g}"
    text = repr(v) if stored else str(v)
    return text if len(text) <= 80 else text[:77] + "..."


def _where(d: Mapping[str, Any], *, stored: bool, timeout: bool) -> str:
    """``--dask-scheduler ADDRESS`` / ``--dask-workers N`` (and ``--dask-timeout S``) of ``d``."""
    keys = [k for k in ("dask_scheduler", "dask_workers") if d.get(k) is not None]
    if timeout:
        keys.append("dask_timeout")
    return " ".join(f"{flag_for(k)} {_shown(d.get(k), stored=stored)}" for k in keys)


def placement(stored: Mapping[str, Any], given: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The Dask settings of a resumed run and the note that compares them with the stored run's.

    ``given``: the command line's ``dask_scheduler`` / ``dask_workers`` / ``dask_timeout``
    (None: not given); ``stored``: the settings the run's file holds.  The values are the
    command line's (or the defaults: one process), never the file's, which are only shown:
    a run stored on Dask and resumed without the flags trains in this process (the same
    numbers: Dask's data-parallel sums are one process's) and the note says so; a given
    placement that differs from the stored one is said in the note too.  The note is one
    line, None when there is nothing to say."""
    new = {k: given.get(k) if given.get(k) is not None else v for k, v in DASK.items()}
    old = {k: stored.get(k, v) for k, v in DASK.items()}
    was = old["dask_scheduler"] is not None or old["dask_workers"] is not None
    now = new["dask_scheduler"] is not None or new["dask_workers"] is not None
    if not now:
        note = (f"the run trained on Dask (stored {_where(old, stored=True, timeout=False)}); resuming in this "
                "process; pass --dask-workers N or --dask-scheduler ADDRESS to resume on Dask") if was else None
        return new, note
    if was and all(type(old[k]) is type(new[k]) and old[k] == new[k] for k in DASK):
        return new, None
    before = _where(old, stored=True, timeout=True) if was else "none (it trained in one process)"
    return new, f"resuming on Dask with {_where(new, stored=False, timeout=True)}; the run stored {before}"


def check_resumed_dask(s: TrainSettings, given: Mapping[str, Any]) -> None:
    """The Dask flags of a resumed run (``given``: those on the command line, None where not
    given) checked as a new run's are (:func:`check_settings`), against the run's own
    settings (``s``, with :func:`placement`'s values)."""
    check_dask(s, {**{k: getattr(s, k) for k in FIELDS if k not in DASK},
                    **{k: v for k, v in given.items() if v is not None}})


def check_devices(s: Any, explicit: Mapping[str, Any]) -> None:
    """--devices N >= 1: data parallel needs --backend jax, and not --tbptt or --diagnostics;
    --batch-size a multiple of N (the rest rnnx.training.distributed checks when the run starts)."""
    refuse("devices", s, explicit)


def check_settings(s: TrainSettings, explicit: Mapping[str, Any] | None = None) -> None:
    """Refuse (AppError, code 2, naming the flag) settings that are out of range or that
    conflict, so a run refuses them before it creates anything: see :func:`resolve`.
    ``explicit``: what the command line gave, to say where a conflicting value came from."""
    from rnnx.cli import run_diagnostics, table

    explicit = {} if explicit is None else explicit
    table.check({k: getattr(s, k) for k in table.CHECKS if hasattr(s, k)}, "regression")  # as every task's
    refuse("series", s, explicit)
    table.check_units(s.units, s.targets)
    run_diagnostics.check(s.diagnostics, s.probe_size, s.cell, tbptt=s.tbptt, probe_given="probe_size" in explicit)
    check_dask(s, explicit)
    check_devices(s, explicit)
