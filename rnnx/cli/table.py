"""The one table of ``rnnx train``'s flags: one row per flag (its name, the tasks that read
it, its topic, its help, its argparse type), and one row of defaults per task.

    from rnnx.cli.table import FLAGS, DEFAULTS, used
    FLAGS["min_epochs"].tasks         # ("classification",)
    DEFAULTS["text"]["hidden"]        # 100: the ``text`` row of rnnx.training.defaults
    used("text")                      # every flag a new text run reads

It generates ``rnnx train``'s parser (:func:`add_arguments`: argparse groups by task and
topic, each flag's default shown per task), and says which flags each task reads: a flag
given to a task that does not read it is refused, one line naming it (the tasks' own
refusals say why).  The defaults of the three tasks are the rows of
:mod:`rnnx.training.defaults` (the table the estimators read) with the settings that only
the command has.  To add a flag: a row here, and the task module that reads it.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from rnnx.cells import CELLS, Option
from rnnx.cells import spec as cell_spec
from rnnx.cli.commands import floats, ints, names, number
from rnnx.cli.errors import AppError, flag_for
from rnnx.data.tables import MISSING_POLICIES
from rnnx.nn.layers import LAYER_OPTIONS
from rnnx.training.defaults import CLASSIFICATION as _C
from rnnx.training.defaults import REGRESSION as _R
from rnnx.training.defaults import TEXT as _T

__all__ = ["DASK", "DEFAULTS", "FLAGS", "NOT_SETTINGS", "RESUMABLE", "RESUME_ONLY", "RUNS", "SIZES", "TASKS", "TOPICS",
           "Flag", "add_arguments", "all_options", "cell_options", "cells_with", "defaults_of", "given", "is_int",
           "options_of", "turned_off", "refuse_changed", "refuse_unused", "used", "check_units", "with_unit"]

#: The tasks of ``rnnx train`` (the data flag that chooses each: none, --npz/--ts/--uea, --text, --forecast).
TASKS = ("regression", "classification", "text", "forecasting")
#: The topics, in the order ``rnnx train --help`` lists them (after the tasks' data groups).
TOPICS = {"model": "the model", "training": "the training", "where": "where it runs",
          "diagnostics": "gradient diagnostics", "run": "the run folder"}
#: The flags that size a run of each task (what an out-of-memory refusal may name), with the
#: unit of each value: the first is named when none alone makes the run fit.
SIZES = {"regression": {"hidden": "units", "layers": "layers", "batch_size": "windows per batch", "window": "steps"},
         "classification": {"hidden": "units", "layers": "layers", "batch_size": "cases per batch"},
         "text": {"hidden": "units", "layers": "layers", "seq_len": "steps", "streams": "streams"}}
#: Flags that continue a run (every task's), not settings a new run reads.
RESUME_ONLY = ("resume", "allow_changed_data")

#: The settings that place a run on Dask (a scheduler's address, a number of worker processes, a
#: timeout), the same for every task that has them; a resumed run takes them from its command line.
DASK: dict[str, Any] = {"dask_scheduler": None, "dask_workers": None, "dask_timeout": 60.0}
#: The settings of each task when a flag is not given (``None``: off, or chosen at run time).
DEFAULTS: dict[str, dict[str, Any]] = {
    "regression": {
        "missing": "error", "difference": False, "window": 20, "horizon": 1, "split": _R.split, "backend": "numpy",
        "device": None, "devices": None, **DASK, "dtype": "float64", "cell": _R.cell, "hidden": _R.hidden,
        "layers": _R.layers, "bidirectional": False, "output_activation": "none", "objective": "many-to-one",
        "optimizer": _R.optimizer, "lr": _R.lr, "momentum": 0.0, "nesterov": False, "batch_size": _R.batch_size,
        "shuffle": True, "epochs": _R.epochs, "clip_value": _R.clip_value, "clip_norm": _R.clip_norm, "tbptt": None,
        "seed": 0, "early_stopping": _R.patience, "checkpoint_every": 10, "diagnostics": None, "probe_size": 32},
    "classification": {
        "cell": _C.cell, "hidden": _C.hidden, "layers": _C.layers, "bidirectional": False,
        "optimizer": _C.optimizer, "lr": _C.lr, "momentum": 0.0, "nesterov": False,
        "batch_size": _C.batch_size, "epochs": _C.epochs, "early_stopping": _C.patience,
        "min_epochs": _C.min_epochs, "clip_norm": _C.clip_norm, "clip_value": _C.clip_value, "seed": 0,
        "backend": "numpy", "device": None, "dtype": "float64", "shuffle": True, "checkpoint_every": 10,
        "diagnostics": None, "probe_size": 32, "devices": None, **DASK},
    "text": {
        "cell": _T.cell, "hidden": _T.hidden, "layers": _T.layers, "optimizer": _T.optimizer, "lr": _T.lr,
        "epochs": _T.epochs, "seq_len": 25, "streams": _T.batch_size, "clip_value": _T.clip_value, "seed": 0,
        "backend": "numpy", "dtype": "float64", "checkpoint_every": 1000},
    "forecasting": {},  # rnnx.Forecaster's own defaults (_forecaster_defaults, below the rows)
}


class Flag(NamedTuple):
    """One flag of ``rnnx train``: ``--name`` (``_`` as ``-``), the tasks that read it, its
    topic (a key of :data:`TOPICS`, or ``data``: in its task's data group), its help and
    the keywords of ``argparse.add_argument``."""

    name: str
    tasks: tuple[str, ...]
    topic: str
    help: str
    arg: dict
    #: what a default of None means for this flag
    off: str = "off"


R, C, T, F = ("regression",), ("classification",), ("text",), ("forecasting",)
RC, ALL = R + C, R + C + T
_ON = {"action": "store_true", "default": None}
_SWITCH = {"action": "store_true"}


def _rows() -> list[Flag]:
    from rnnx.data.dataset import PRESETS

    split = " --split: train,val,test fractions of the cases (default 0.7,0.15,0.15), stratified by class"
    f = Flag
    return [
        # -- regression: a series or a table of a CSV, or a preset -------------------------------------------
        f("preset", R, "data", " | ".join(PRESETS), {}),
        f("csv", R + F, "data", "CSV file with a header row", {}),
        f("column", R, "data", "the column of --csv to model (one series: its past predicts its next value; the "
          "same as --targets NAME)", {}),
        f("inputs", R + F, "data", "columns of --csv the model reads at each step (default: the --targets column; "
          "with --forecast the others are past-observed covariates)", {"type": names}),
        f("targets", R + F, "data", "the column(s) of --csv to predict (A or A,B), after each window of --inputs",
          {"type": names}),
        f("time_column", R + F, "data", "a column of --csv labelling the rows (dates): the x-axis of the plots", {}),
        f("units", R + F, "data", "the unit of each --targets column (degC, or degC,mm for two), on the value axes "
          "of the plots (predictions.png, forecast.png, backtest.png)", {"type": names}),
        f("missing", R + F, "data", "blank/NA cells of the used columns: refuse them naming row and column, "
          "interpolate linearly, or drop their rows", {"choices": MISSING_POLICIES}),
        f("difference", R, "data", "model the change of the target over the horizon from first differences of the "
          "inputs; metrics stay in the target's units", _ON),
        f("window", R + F, "data", "input steps per window", {"type": int}),
        f("horizon", R, "data", "predict this many steps after the window", {"type": int}),
        f("split", RC, "data", "train,val,test fractions in time order", {"type": floats}),
        # -- forecasting: one column of a CSV, H steps at once (rnnx.Forecaster) ----------------------------------
        f("forecast", F, "data", "forecast the next H values of the one --targets column of --csv at once (an "
          "rnnx.Forecaster: its preprocessing chosen on 20-100 validation origins, 80%/95% conformal intervals, "
          "the --time-column's dates continued)", {"type": int, "metavar": "H"}),
        f("transform", F, "data", "with --forecast: the transform of the series; auto: chosen on validation among "
          "none, log and boxcox (the last two for a positive series)", {"choices": ["auto", "none", "log", "boxcox"]}),
        f("differencing", F, "data", "with --forecast: the differencing; auto: chosen on validation (seasonal and "
          "both only with a season)", {"choices": ["auto", "none", "first", "seasonal", "both"]}),
        f("period", F, "data", "with --forecast: the seasonal period (default: the time column's: 12 monthly, "
          "4 quarterly, ...; else 1)", {"type": int, "metavar": "N"}, "the time column's"),
        f("strategy", F, "data", "with --forecast: direct (the model outputs the H steps at once), recursive (one "
          "step fed back H times; not with --inputs) or auto: the better on validation (direct with --inputs)",
          {"choices": ["auto", "direct", "recursive"]}),
        f("ensemble", F, "model", "with --forecast: refit the chosen model this many times (seeds --seed, "
          "--seed + 1, ...) and forecast their mean", {"type": int, "metavar": "K"}),
        f("future_inputs", F, "data", "with --forecast: columns of --csv known ahead (future-known covariates: "
          "prices, promotions, holidays); the CSV goes on after the last --targets value with the rows of the next "
          "dates, the target empty and these columns filled (at least H rows); not also in --inputs",
          {"type": names, "metavar": "A,B"}),
        f("backtest", F, "data", "with --forecast: also a rolling-origin backtest (rnnx.Forecaster.backtest): FOLDS "
          "origins at the end of the series, --backtest-step apart, each forecasting H steps from the history "
          "before it; writes backtest.csv, backtest.png and metrics.json's backtest", {"type": int, "metavar": "FOLDS"}),
        f("backtest_step", F, "data", "with --backtest: the steps between two origins", {"type": int, "metavar": "S"},
          "H, the --forecast steps"),
        f("backtest_fit_once", F, "data", "with --backtest: fit once, at the first origin (the later origins only "
          "read more history), instead of refitting at every origin (default: refit at every origin)", _ON),
        # -- classification ------------------------------------------------------------------------------------
        f("npz", C, "data", "classify the sequences of a NumPy .npz: x (N, T, I) or (N, T), y (N,) labels per "
          "sequence or (N, T) per step, optional lengths (N,);" + split, {"metavar": "FILE"}),
        f("ts", C, "data", "classify the cases of a UEA/UCR .ts file (needs sktime or aeon); without --test-ts,"
          + split, {"metavar": "TRAIN.ts"}),
        f("test_ts", C, "data", "the test cases for --ts (same features, no class unseen in training); --split is "
          "then train,val of TRAIN.ts (default 0.8,0.2)", {"metavar": "TEST.ts"}),
        f("uea", C, "data", "classify a UEA/UCR dataset bundled with sktime (BasicMotions, ItalyPowerDemand, ...; "
          "an unknown name lists them) on its own TRAIN/TEST split; --split is train,val of the TRAIN cases "
          "(default 0.8,0.2)", {"metavar": "NAME"}),
        # -- text -----------------------------------------------------------------------------------------------
        f("text", T, "data", "train a character model on this UTF-8 text file, or on 'bundled' (the pydoc topics "
          "CPython ships, 465,000 characters)", {"metavar": "FILE"}),
        f("seq_len", T, "data", "characters per update and stream", {"type": int}),
        f("streams", T, "data", "contiguous streams of the text read in parallel, the batch", {"type": int}),
        f("max_updates", T, "data", "stop after this many updates (default: every chunk of every --epochs)",
          {"type": int}),
        f("sample_every", T, "data", "print a 200-character sample every N updates", {"type": int, "metavar": "N"}),
        # -- the model -----------------------------------------------------------------------------------------
        f("cell", ALL + F, "model", "the recurrent cell", {"choices": list(CELLS)}),
        f("hidden", ALL + F, "model", "hidden units", {"type": int}),
        f("layers", ALL, "model", "stacked recurrent layers", {"type": int}),
        f("bidirectional", RC, "model", "a second layer reads each sequence backwards", _ON),
        *_option_rows(),
        f("output_activation", R, "model", "the activation of the output layer (the targets are scaled onto its "
          "range)", {"choices": ["none", "tanh", "sigmoid"]}),
        f("objective", R, "model", "a target after each window, or at every step",
          {"choices": ["many-to-one", "many-to-many"]}),
        # -- the training --------------------------------------------------------------------------------------
        f("optimizer", ALL, "training", "the optimizer", {"choices": ["sgd", "adam", "adagrad", "rmsprop", "adamw"]}),
        f("lr", ALL + F, "training", "learning rate, > 0", {"type": number}, "the optimizer's own (adagrad 0.1)"),
        f("momentum", RC, "training", "SGD momentum", {"type": float}),
        f("nesterov", RC, "training", "Nesterov momentum (SGD)", _ON),
        f("batch_size", RC + F, "training", "windows (cases) per update; 1 is per-sample SGD", {"type": int}),
        f("shuffle", RC, "training", "a new seeded order of the training windows every epoch, or --no-shuffle: in "
          "time order, as Keras's shuffle=False", {"action": argparse.BooleanOptionalAction, "default": None}),
        f("epochs", ALL + F, "training", "epochs (at most, under early stopping)", {"type": int}),
        f("clip_value", ALL, "training", "clip every gradient element to [-v, v]", {"type": float}),
        f("clip_norm", RC + F, "training", "clip the global gradient norm to this", {"type": float}),
        f("tbptt", R, "training", "K1,K2: truncated BPTT, update every K1 steps through K2 steps", {"type": ints}),
        f("seed", ALL + F, "training", "the seed of the initial weights, the split and the order", {"type": int}),
        f("early_stopping", RC + F, "training", "stop after PATIENCE epochs without a better validation loss, keep "
          "the best params", {"type": int, "metavar": "PATIENCE"}),
        f("min_epochs", C, "training", "early stopping never stops a run before epoch N, nor keeps an epoch before "
          "it as the best (Keras's start_from_epoch)", {"type": int, "metavar": "N"}),
        f("no_early_stopping", RC, "training", "train every --epochs epoch (turns a preset's early stopping off)",
          _SWITCH),
        f("no_clip", ALL, "training", "no gradient clipping (turns a preset's or the task's --clip-norm / "
          "--clip-value off)", _SWITCH),
        # -- where it runs -------------------------------------------------------------------------------------
        f("backend", ALL + F, "where", "numpy | jax | torch | cupy | array-api-strict", {}),
        f("device", ALL + F, "where", "the backend's device: cpu, cuda, gpu, device1", {}, "its first"),
        f("dtype", ALL + F, "where", "the floating-point type", {"choices": ["float32", "float64"]}),
        f("devices", RC, "where", "data parallel: split every batch over N devices (--backend jax; on one CPU "
          "start with XLA_FLAGS=--xla_force_host_platform_device_count=N); the same numbers as one device",
          {"type": int, "metavar": "N"}),
        f("dask_workers", RC, "where", "data parallel on a Dask LocalCluster of N worker processes (--backend numpy "
          "or cupy; needs rnnx[dask]): every batch in N parts, the optimizer here; with --resume too (a resumed "
          "run never takes its Dask settings from its folder)", {"type": int, "metavar": "N"}),
        f("dask_scheduler", RC, "where", "data parallel on a running Dask cluster (tcp://HOST:PORT): every batch in "
          "one part per worker; with --resume too", {"metavar": "ADDRESS"}),
        f("dask_timeout", RC, "where", "with --dask-*: seconds to reach the scheduler, and to wait for one "
          "update's result", {"type": float, "metavar": "S"}),
        f("coordinator", RC, "where", "a multi-process run (jax.distributed): process 0 serves HOST:PORT, every "
          "process runs the same command with its --process-id; 'auto': detect a SLURM or Open MPI job. Needs "
          "--backend jax --devices N; only process 0 writes --out", {"metavar": "HOST:PORT"}),
        f("num_processes", RC, "where", "with --coordinator HOST:PORT: the number of processes",
          {"type": int, "metavar": "N"}),
        f("process_id", RC, "where", "with --coordinator HOST:PORT: this process's index (0 .. N-1)",
          {"type": int, "metavar": "I"}),
        f("coordinator_timeout", RC, "where", "with --coordinator: seconds to wait for every process (default 60)",
          {"type": int, "metavar": "S"}),
        # -- gradient diagnostics ------------------------------------------------------------------------------
        f("diagnostics", RC, "diagnostics", "record gradient diagnostics in diagnostics.json and diagnostics.png: "
          "per update the gradient norm before clipping, per-parameter norms, clipping and update/parameter ratio; "
          "per epoch on a probe batch ||dL/dh_t||, the Jacobian profile and gate saturation. WHAT: all (default) "
          "or some of updates,flow,cell,jacobian,gates (cell: LSTM only)",
          {"nargs": "?", "const": ("all",), "type": names, "metavar": "WHAT"}),
        f("probe_size", RC, "diagnostics", "with --diagnostics: the first N training windows are the probe batch",
          {"type": int, "metavar": "N"}),
        # -- the run folder ------------------------------------------------------------------------------------
        f("out", ALL + F, "run", "output folder (default runs/<preset, csv, data or text name>)", {}),
        f("checkpoint_every", ALL, "run", "checkpoint every N epochs (text: every N updates); regression: 0, at the end only",
          {"type": int, "metavar": "N"}),
        f("resume", ALL, "run", "continue the run in DIR from its checkpoint (with --epochs N: extend it to N "
          "epochs, also a finished one; a text run: --max-updates N or --epochs N); in this process, or on Dask "
          "with --dask-workers N / --dask-scheduler ADDRESS given again", {"metavar": "DIR"}),
        f("overwrite", ALL + F, "run", "let a new run use an --out folder that holds files (a previous run's files "
          "there are replaced; other files stay)", _SWITCH),
        f("allow_changed_data", ALL, "run", "with --resume: continue on data that changed since the run began",
          _SWITCH),
        f("quiet", ALL + F, "run", "no progress bar", _SWITCH),
    ]


# -- the model options of the cells (one flag each, from the registry) -------------------------------------------
#: Layer and cell options that are not model options of a run: they have a setting of
#: their own (``--layers``, ``--bidirectional``), mean nothing to it (a Model is time-major),
#: or choose how rather than what is computed (``fused``: the library picks the kernel).
_NOT_OPTIONS = ("num_layers", "bidirectional", "batch_first", "fused")


def options_of(cell: str) -> tuple[Option, ...]:
    """The model options a run of ``cell`` carries: the layer's (``dropout``, ``bias``) and
    the cell's own (:data:`rnnx.cells.CELLS`)."""
    spec = cell_spec(cell)  # ValueError naming the cells
    return tuple(o for o in (*LAYER_OPTIONS, *spec.options) if o.name not in _NOT_OPTIONS)


def all_options() -> dict[str, Option]:
    """Every model option of any cell, by name, in the order the layer and the cells declare
    them (the first declaration of a name)."""
    out: dict[str, Option] = {}
    for cell in CELLS:
        for o in options_of(cell):
            out.setdefault(o.name, o)
    return out


def cells_with(option: str) -> tuple[str, ...]:
    return tuple(c for c in CELLS if any(o.name == option for o in options_of(c)))


def defaults_of(cell: str) -> dict[str, Any]:
    return {o.name: o.default for o in options_of(cell)}


def cell_options(given: Mapping[str, Any], cell: str) -> dict[str, Any]:
    """The layer and cell options ``given`` (None: not given) for every task; one that ``cell``
    lacks is refused, one line naming it and the cells that have it."""
    applies = defaults_of(cell)
    for k in all_options():
        if given.get(k) is not None and k not in applies:
            raise AppError(f"{flag_for(k)}: applies to --cell {', '.join(cells_with(k))} only, got --cell {cell}")
    return {k: given[k] for k in all_options() if given.get(k) is not None}


def _option_rows() -> list[Flag]:
    """One flag per layer and cell option (its name with - for _), valid with the cells that
    have it: a bool is --name/--no-name, a finite set a choice; the default per cell."""
    rows = []
    for name, o in all_options().items():
        cells = cells_with(name)
        defaults = dict.fromkeys(str(defaults_of(c)[name]) for c in cells)
        where = "" if len(cells) == len(CELLS) else f"--cell {', '.join(cells)}; "
        text = f"{o.help} ({where}default {' / '.join(defaults)})"
        if o.allowed is not None and set(o.allowed) == {True, False}:
            arg = {"action": argparse.BooleanOptionalAction, "default": None}
        elif o.allowed is not None:
            arg = {"choices": o.allowed}
        else:
            arg = {"type": type(o.default), "metavar": name.upper()}
        rows.append(Flag(name, ALL, "model", text, arg))
    return rows


def used(task: str) -> frozenset[str]:
    """The flags (``args`` names) a new run of ``task`` reads (not :data:`RESUME_ONLY`)."""
    if task not in TASKS:
        raise ValueError(f"task: expected one of {', '.join(TASKS)}, got {task!r}")
    return frozenset(n for n, r in FLAGS.items() if task in r.tasks and n not in RESUME_ONLY)


# -- refusals: a flag a task does not use, a setting a resumed run may not change -------------------------------
#: How a refusal names a run of each task.
RUNS = {"regression": "a series run (--preset, --csv)", "classification": "a classification run",
        "text": "a character model (--text)", "forecasting": "a forecasting run (--forecast)"}
#: Why a flag no task's new run reads is refused (any task's).
WHY = {"allow_changed_data": "applies with --resume only",
       "resume": "continues a run with its own data and settings; give --resume DIR without a data flag"}
#: The flags a resumed run of each task may take besides --resume, --quiet, --allow-changed-data and --out
#: (its own folder): first the ones that extend it, then where it trains (never taken from its files).
RESUMABLE = {"regression": ("epochs", *DASK), "classification": ("epochs", *DASK), "text": ("max_updates", "epochs"),
             "forecasting": ("epochs",)}  # a forecasting run is not resumable yet: its task refuses --resume
#: The flags that say what the command does, not settings of a run.
_COMMAND = ("command", "resume", "quiet", "allow_changed_data", "out")
#: Flags of ``rnnx train`` that are not settings of a new run (what it does, where it writes, its processes).
NOT_SETTINGS = ("out", "resume", "quiet", "overwrite", "allow_changed_data", "no_early_stopping", "no_clip",
                "coordinator", "num_processes", "process_id", "coordinator_timeout")


#: The switches that turn settings off (a preset's or the task's), and the settings each clears.
OFF = {"no_early_stopping": ("early_stopping",), "no_clip": ("clip_value", "clip_norm")}


def turned_off(switches: Any, explicit: Mapping[str, Any]) -> tuple[str, ...]:
    """The settings the ``switches`` given (keys of :data:`OFF`) clear, for every task; a
    setting ``explicit`` (what the command line gave; None: not given) holds too is refused,
    one line naming both flags."""
    cleared: list[str] = []
    for switch in switches:
        both = [k for k in OFF[switch] if explicit.get(k) is not None]
        if both:
            raise AppError(f"{flag_for(switch)}: turns {flag_for(both[0])} off, but {flag_for(both[0])} "
                           f"{explicit[both[0]]} was given too; expected one of them")
        cleared += OFF[switch]
    return tuple(cleared)


def given(args: Any) -> list[str]:
    """The flags (``args`` names) the command line gave: any value but None and False."""
    return sorted(k for k, v in vars(args).items() if v is not None and v is not False)


def refuse_unused(args: Any, task: str, *, why: Mapping[str, str] | None = None, where: str = "") -> None:
    """A flag given that a new run of ``task`` does not read (its row's tasks,
    :func:`used`) is refused, not ignored: one AppError line naming it, the task's reason
    (``why``; :data:`WHY`) or ``does not apply to <the run>; drop it``, then ``where``."""
    why = {**WHY, **(why or {})}
    read = used(task) | {"command"}
    got = given(args)
    for key in (*why, *got):
        if key not in read and key in got:
            raise AppError(f"{flag_for(key)}: {why.get(key, f'does not apply to {RUNS[task]}; drop it')}{where}")


def refuse_changed(args: Any, task: str) -> None:
    """``--resume``: a run continues with its own settings; a flag given that is not one a
    resumed run of ``task`` may take (:data:`RESUMABLE`), or ``--out`` elsewhere than its
    folder, is refused, one line naming every such flag."""
    import os

    extra = [k for k in given(args) if k not in _COMMAND and k not in RESUMABLE[task]]
    if args.out is not None and os.path.abspath(args.out) != os.path.abspath(args.resume):
        extra.append("out")  # the run stays in its folder
    if extra:
        extend = " or ".join(flag_for(k) for k in RESUMABLE[task] if not k.startswith("dask_"))
        raise AppError(f"--resume: continues with the run's own settings (only {extend} may extend it); drop "
                       + ", ".join(flag_for(k) for k in extra))


# -- the values: checked once, here, for every task ---------------------------------------------------------
def is_int(v: Any) -> bool:
    """An int, not a bool."""
    return isinstance(v, int) and not isinstance(v, bool)


def _finite_positive(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


#: A kind of value: what it must be, and how a refusal words it (the library's words where it has them).
KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "count": (lambda v: is_int(v) and v >= 1, "a positive integer"),
    "size": (lambda v: is_int(v) and v >= 1, "a positive int"),
    "length": (lambda v: is_int(v) and v >= 1, "a positive length"),
    "steps": (lambda v: is_int(v) and v >= 1, "a positive number of steps"),
    "patience": (lambda v: is_int(v) and v >= 1, "a patience >= 1 epoch"),
    "count0": (lambda v: is_int(v) and v >= 0, "an integer >= 0"),
    "integer": (is_int, "an integer"),
    "every": (lambda v: is_int(v) and v >= 0,
              "N >= 1 (a checkpoint every N epochs) or 0 (a checkpoint at the end only)"),
    "lr": (_finite_positive, "a finite learning rate > 0"),
    "positive": (_finite_positive, "a finite number > 0"),
    "momentum": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1,
                 "a number in [0, 1)"),
}
#: The value each flag takes (a kind of :data:`KINDS`, or one per task), in the order they are checked.
CHECKS: dict[str, str | dict[str, str]] = {
    "epochs": "count", "batch_size": "count", "window": "length", "horizon": "steps", "hidden": "size",
    "layers": "size", "seq_len": "count", "streams": "count", "max_updates": "count", "sample_every": "count",
    "checkpoint_every": {"regression": "every", "classification": "count", "text": "count"},
    "lr": "lr", "clip_value": "positive", "clip_norm": "positive", "momentum": "momentum",
    "early_stopping": "patience", "min_epochs": "count0", "seed": {"classification": "integer", "text": "count0"},
    "backtest": "count", "backtest_step": "count", "ensemble": "count",
}


def check(values: Mapping[str, Any], task: str, *, name: Callable[[str], str] = flag_for) -> None:
    """Each value of ``values`` (a run's settings; None: not set) that :data:`CHECKS` has
    for ``task``, checked: one AppError line naming it (``name(key)``: its flag, or where a
    stored run keeps it), what it got and what it expects."""
    for key, kind in CHECKS.items():
        kind = kind.get(task) if isinstance(kind, dict) else kind
        v = values.get(key)
        if kind is None or v is None or key not in values:
            continue
        ok, words = KINDS[kind]
        if not ok(v):
            raise AppError(f"{name(key)}: expected {words}, got {v!r}")


# -- the parser ------------------------------------------------------------------------------------------------
def _value(v: Any, off: str = "off") -> str:
    if v is None:
        return off
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, tuple):
        return ",".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v)
    return f"{v:g}" if isinstance(v, float) else str(v)


def _shown(row: Flag) -> str:
    """``(default 32; classification 64; text 100)``, or ``''`` where no task has one."""
    per = [(t, DEFAULTS[t][row.name]) for t in row.tasks if row.name in DEFAULTS[t]]
    if not per or row.arg.get("action") == "store_true" and all(v is False for _, v in per):
        return ""
    v0 = per[0][1]
    parts = [f"default {_value(v0, row.off)}"]
    parts += [f"{t} {_value(v, row.off)}" for t, v in per[1:] if v != v0]
    return " (" + "; ".join(parts) + ")"


#: Each task's data group: its title, the defaults its description lists, and what follows them.
_GROUPS = {"regression": ("a series or table: --preset, or --csv with --column / --targets (regression)",
                          ("window", "horizon", "split", "cell", "hidden", "epochs"), ""),
           "classification": ("sequence classification (--npz, --ts, --uea)",
                              ("cell", "hidden", "optimizer", "lr", "batch_size", "epochs", "early_stopping",
                               "min_epochs", "clip_norm", "checkpoint_every"), "; continue a run with --resume DIR"),
           "text": ("character model (--text)", ("cell", "hidden", "optimizer", "seq_len", "streams", "epochs",
                                                 "clip_value", "checkpoint_every"), " (updates)"),
           "forecasting": ("forecasting one series (--forecast H, with --csv, --targets, --time-column)",
                           ("transform", "differencing", "cell", "hidden", "epochs"), "")}


class _Formatter(argparse.HelpFormatter):
    """Help wrapped at spaces only: ``--early-stopping 30`` stays on one line."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        import textwrap

        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        return textwrap.fill(" ".join(text.split()), width, initial_indent=indent, subsequent_indent=indent,
                             break_on_hyphens=False)


def add_arguments(p: argparse.ArgumentParser, *, tasks: tuple[str, ...] = TASKS, hide: tuple[str, ...] = ()) -> None:
    """``rnnx train``'s flags, every one ``None`` (or False) when not given: one group per
    task's data, then one per topic; each help ends with the defaults of the tasks that read
    the flag and, where not every task does, which do.  Another command that takes them
    (``rnnx diagnose --compare``) shows only those of ``tasks`` but not ``hide``: the others
    are parsed, so that its refusal can say why they do not apply, and left out of its help."""
    p.formatter_class = _Formatter
    groups = {t: p.add_argument_group(title, "defaults: " + " ".join(f"{flag_for(k)} {_value(DEFAULTS[t][k])}"
                                                                     for k in keys) + tail)
              for t, (title, keys, tail) in _GROUPS.items() if t in tasks}
    groups.update({k: p.add_argument_group(title) for k, title in TOPICS.items()})
    for row in FLAGS.values():
        shown = set(row.tasks) & set(tasks) and row.name not in hide
        g = groups.get(row.tasks[0] if row.topic == "data" else row.topic, groups["run"])
        text = row.help + _shown(row)
        if row.topic != "data" and not set(ALL) <= set(row.tasks) and tasks == TASKS:
            text += " [" + ", ".join(row.tasks) + "]"
        g.add_argument(flag_for(row.name), help=text.replace("%", "%%") if shown else argparse.SUPPRESS,
                       **row.arg)


#: Every row, by name, in the order ``rnnx train --help`` lists them within each group.
FLAGS: dict[str, Flag] = {r.name: r for r in _rows()}


def _forecaster_defaults() -> dict[str, Any]:
    """The ``forecasting`` task's defaults: :class:`rnnx.Forecaster`'s (but ``window``: chosen at
    run time; ``--differencing`` is its ``difference``, ``--early-stopping`` its ``patience``)."""
    import inspect

    from rnnx.interop.forecaster import Forecaster

    names = {"difference": "differencing", "patience": "early_stopping"}
    given = {names.get(k, k): p.default for k, p in inspect.signature(Forecaster.__init__).parameters.items()}
    return {k: v for k, v in given.items() if k in FLAGS and "forecasting" in FLAGS[k].tasks and k != "window"}


DEFAULTS["forecasting"].update(missing="error", **_forecaster_defaults(), backtest=None, backtest_step=None,
                               backtest_fit_once=False)


def check_units(units: tuple[str, ...] | None, targets: tuple[str, ...] | None) -> None:
    """``--units``: one per target (``targets`` None: one series); else one AppError line."""
    n = len(targets or ("",))
    if units is not None and len(units) != n:
        what = ", ".join(targets) if targets else "the series"
        raise AppError(f"--units: {len(units)} units ({','.join(units)}) for {n} target{'s' if n > 1 else ''} "
                       f"({what}); expected one per --targets column")


def with_unit(name: str, unit: str | None) -> str:
    """A column's name on a plot's value axis: ``temp_max (degC)`` with ``--units degC``."""
    return f"{name} ({unit})" if unit else name
