"""``rnnx train``: train a model on a preset or a CSV series and write a run folder; or
continue one (``--resume DIR``).  Every setting flag defaults to ``None`` ("not given"):
:func:`rnnx.cli.settings.resolve` lays the flags given over the preset and the defaults."""

from __future__ import annotations

import argparse
import contextlib
import io
import os

from rnnx.cli.commands import backend_arguments, floats, ints, names, number
from rnnx.cli.errors import AppError

#: Flags of the text and classification runs (rnnx/cli/text_app.py, panel_app.py), not settings of a series run.
OTHER_RUNS = {"text", "seq_len", "streams", "max_updates", "sample_every", "npz", "ts", "test_ts", "uea",
               "min_epochs"}
#: Flags of the command that are not settings of the run.
NOT_SETTINGS = ("out", "resume", "quiet", "overwrite", "allow_changed_data", "no_early_stopping", "no_clip",
                "coordinator", "num_processes", "process_id", "coordinator_timeout")


def add_arguments(t: argparse.ArgumentParser) -> None:
    from rnnx.cli import settings

    t.add_argument("--preset", help=" | ".join(settings.PRESETS))
    t.add_argument("--csv", help="CSV file with a header row")
    t.add_argument("--column", help="the column of --csv to model (one series: its past predicts its next value; "
                   "the same as --targets NAME)")
    t.add_argument("--inputs", type=names, help="columns of --csv the model reads at each step (default: the "
                   "--targets column)")
    t.add_argument("--targets", type=names, help="the column(s) of --csv to predict (A or A,B), after each window of --inputs")
    t.add_argument("--time-column", help="a column of --csv labelling the rows (dates): the x-axis of the plots")
    t.add_argument("--missing", choices=["error", "interpolate", "drop"], help="blank/NA cells of the used columns: "
                   "refuse them naming row and column (default), interpolate linearly, or drop their rows")
    t.add_argument("--difference", action="store_true", default=None, help="model the change of the target "
                   "over the horizon from first differences of the inputs; metrics stay in the target's units")
    t.add_argument("--window", type=int, help="input steps per window")
    t.add_argument("--horizon", type=int, help="predict this many steps after the window (default 1)")
    t.add_argument("--split", type=floats, help="train,val,test fractions in time order (default 0.7,0.15,0.15)")
    backend_arguments(t)
    t.add_argument("--dtype", choices=["float32", "float64"])
    t.add_argument("--cell", choices=list(settings.CELLS))
    t.add_argument("--hidden", type=int, help="hidden units")
    t.add_argument("--layers", type=int, help="stacked recurrent layers")
    t.add_argument("--bidirectional", action="store_true", default=None)
    _model_option_arguments(t, settings)
    t.add_argument("--output-activation", choices=["none", "tanh", "sigmoid"])
    t.add_argument("--objective", choices=["many-to-one", "many-to-many"])
    t.add_argument("--optimizer", choices=["sgd", "adam", "adagrad", "rmsprop", "adamw"])
    t.add_argument("--lr", type=number, help="learning rate (> 0)")
    t.add_argument("--momentum", type=float, help="SGD momentum")
    t.add_argument("--nesterov", action="store_true", default=None, help="Nesterov momentum (SGD)")
    t.add_argument("--batch-size", type=int, help="windows per update; 1 is per-sample SGD")
    t.add_argument("--shuffle", action=argparse.BooleanOptionalAction, default=None, help="a new seeded order of "
                   "the training windows every epoch (default), or --no-shuffle: in time order, as Keras's "
                   "shuffle=False")
    t.add_argument("--epochs", type=int)
    t.add_argument("--clip-value", type=float, help="clip every gradient element to [-v, v]")
    t.add_argument("--clip-norm", type=float, help="clip the global gradient norm to this")
    t.add_argument("--tbptt", type=ints, help="K1,K2: truncated BPTT, update every K1 steps through K2 steps")
    t.add_argument("--seed", type=int)
    t.add_argument("--early-stopping", type=int, metavar="PATIENCE", help="stop after PATIENCE epochs without a "
                   "better validation loss, keep the best params")
    t.add_argument("--min-epochs", type=int, metavar="N", help="classification: early stopping never stops a run "
                   "before epoch N, nor keeps an epoch before it as the best (Keras's start_from_epoch)")
    t.add_argument("--no-early-stopping", action="store_true", help="train every --epochs epoch (turns a "
                   "preset's early stopping off)")
    t.add_argument("--no-clip", action="store_true", help="no gradient clipping (turns a preset's --clip-norm / "
                   "--clip-value off)")
    t.add_argument("--checkpoint-every", type=int, metavar="N", help="checkpoint every N epochs (default 10); with "
                   "--text: every N updates (default 1000)")
    t.add_argument("--diagnostics", nargs="?", const=("all",), type=names, metavar="WHAT",
                   help="record gradient diagnostics in diagnostics.json and diagnostics.png: per update the "
                   "gradient norm before clipping, per-parameter norms, clipping and update/parameter ratio; per "
                   "epoch on a probe batch ||dL/dh_t||, the Jacobian profile and gate saturation. WHAT: all "
                   "(default) or some of updates,flow,cell,jacobian,gates (cell: LSTM only)")
    t.add_argument("--devices", type=int, metavar="N", help="data parallel: split every batch over N devices "
                   "(--backend jax; on one CPU start with XLA_FLAGS=--xla_force_host_platform_device_count=N); "
                   "the same numbers as one device")
    t.add_argument("--dask-workers", type=int, metavar="N", help="data parallel on a Dask LocalCluster of N worker "
                   "processes (--backend numpy or cupy; needs rnnx[dask]): every batch in N parts, the optimizer here; "
                   "with --resume too (a resumed run never takes its Dask settings from its folder)")
    t.add_argument("--dask-scheduler", metavar="ADDRESS", help="data parallel on a running Dask cluster "
                   "(tcp://HOST:PORT): every batch in one part per worker; with --resume too")
    t.add_argument("--dask-timeout", type=float, metavar="S", help="with --dask-*: seconds to reach the scheduler, "
                   "and to wait for one update's result (default 60)")
    t.add_argument("--coordinator", metavar="HOST:PORT", help="a multi-process run (jax.distributed): process 0 "
                   "serves HOST:PORT, every process runs the same command with its --process-id; 'auto': "
                   "detect a SLURM or Open MPI job. Needs --backend jax --devices N; only process 0 writes --out")
    t.add_argument("--num-processes", type=int, metavar="N", help="with --coordinator HOST:PORT: the number of "
                   "processes")
    t.add_argument("--process-id", type=int, metavar="I", help="with --coordinator HOST:PORT: this process's index "
                   "(0 .. N-1)")
    t.add_argument("--coordinator-timeout", type=int, metavar="S", help="with --coordinator: seconds to wait for "
                   "every process (default 60)")
    t.add_argument("--probe-size", type=int, metavar="N", help="with --diagnostics: the first N training windows "
                   "are the probe batch (default 32)")
    t.add_argument("--out", help="output folder (default runs/<preset or csv name>)")
    t.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its checkpoint (with --epochs N: "
                   "extend it to N epochs, also a finished one; a text run: --max-updates N or --epochs N); in this "
                   "process, or on Dask with --dask-workers N / --dask-scheduler ADDRESS given again")
    t.add_argument("--overwrite", action="store_true", help="let a new run use an --out folder that holds files "
                   "(a previous run's files there are replaced; other files stay)")
    t.add_argument("--allow-changed-data", action="store_true", help="with --resume: continue on a CSV that "
                   "changed since the run began")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    from rnnx.cli import panel_app, text_app

    panel_app.add_panel_arguments(t)  # --npz / --ts / --uea: sequence classification
    text_app.add_text_arguments(t)  # --text: a character-level model


def _model_option_arguments(t: argparse.ArgumentParser, settings) -> None:
    """One flag per layer and cell option of the registry (its name with - for _), valid
    with the cells that have it: a bool is --name/--no-name, a finite set a choice."""
    for name, o in settings.all_options().items():
        cells = settings.cells_with(name)
        defaults = dict.fromkeys(str(settings.defaults_of(c)[name]) for c in cells)
        where = "" if len(cells) == len(settings.CELLS) else f"--cell {', '.join(cells)}; "
        text = f"{o.help} ({where}default {' / '.join(defaults)})".replace("%", "%%")
        flag = "--" + name.replace("_", "-")
        if o.allowed is not None and set(o.allowed) == {True, False}:
            t.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=text)
        elif o.allowed is not None:
            t.add_argument(flag, choices=o.allowed, help=text)
        else:
            t.add_argument(flag, type=type(o.default), metavar=name.upper(), help=text)


def _multi_process(args: argparse.Namespace) -> int | None:
    """``--coordinator``: join the multi-process run (before JAX makes any array) and
    return this process's index; None without it.  AppError for flags that do not fit."""
    given = [k for k in ("num_processes", "process_id", "coordinator_timeout") if getattr(args, k) is not None]
    if args.coordinator is None:
        if given:
            raise AppError(f"--{given[0].replace('_', '-')}: applies with --coordinator only")
        return None
    if getattr(args, "text", None) is not None or args.resume is not None:
        flag = "--text" if getattr(args, "text", None) is not None else "--resume"
        raise AppError(f"--coordinator: a multi-process run starts a new regression or classification run; "
                       f"not with {flag}")
    if args.backend != "jax" or args.devices is None:
        raise AppError("--coordinator: a multi-process run splits every batch over the devices of all processes; "
                       "expected --backend jax --devices N")
    explicit = args.coordinator != "auto"
    if explicit:
        _check_port(args.coordinator)
    if explicit and (args.num_processes is None or args.process_id is None):
        raise AppError(f"--coordinator: {args.coordinator} needs --num-processes N and --process-id I (or "
                       "--coordinator auto under SLURM / Open MPI)")
    if not explicit and (args.num_processes is not None or args.process_id is not None):
        raise AppError("--coordinator: auto detects the processes of a SLURM / Open MPI job; drop --num-processes "
                       "and --process-id")
    if explicit and args.num_processes < 1:
        raise AppError(f"--num-processes: expected a positive integer, got {args.num_processes}")
    if explicit and not 0 <= args.process_id < args.num_processes:
        raise AppError(f"--process-id: expected 0 <= I < --num-processes {args.num_processes}, got "
                       f"{args.process_id}")
    timeout = 60 if args.coordinator_timeout is None else args.coordinator_timeout
    if timeout < 1:
        raise AppError(f"--coordinator-timeout: expected a positive number of seconds, got {timeout}")
    from rnnx import distributed
    from rnnx.backends import Unavailable, get

    try:
        xp = get("jax").load()
        distributed.initialize(xp, coordinator=args.coordinator if explicit else None,
                               num_processes=args.num_processes, process_id=args.process_id, timeout=timeout)
    except Unavailable as e:
        raise AppError(f"--{e}") from None
    return _process_index(xp)


def _check_port(address: str) -> None:
    """``--coordinator HOST:PORT``: a host and a port from 1 to 65535 (before anything starts)."""
    host, _, port = address.rpartition(":")
    if not host.strip("[]") or not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        raise AppError(f"--coordinator: expected HOST:PORT with a port from 1 to 65535, got {address!r}")


def _process_index(xp) -> int:
    from rnnx.backends import capabilities

    return capabilities(xp).process_index()


def run(args: argparse.Namespace) -> int:
    import shutil
    import tempfile

    process = _multi_process(args)
    if not process:  # one process, or process 0: the run folder is --out
        return _run(args)
    # every other process trains the same updates and writes nothing of the run: a private folder, removed
    args.out, args.quiet, args.overwrite = tempfile.mkdtemp(prefix=f"rnnx-process-{process}-"), True, False
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            _run(args)
    finally:
        shutil.rmtree(args.out, ignore_errors=True)
    print(f"rnnx train: process {process} done; process 0 wrote the run")
    return 0


def _run(args: argparse.Namespace) -> int:
    from rnnx.cli import app
    from rnnx.cli.settings import DASK, resolve

    from rnnx.cli import panel_app, text_app

    if panel_app.wants_panel(args):
        return panel_app.run_panel(args)
    if args.resume is not None and text_app.is_text_run(args.resume):  # before the checks below: --max-updates
        return text_app.resume_text(args)  # extends a text run (its own flag checks)
    if getattr(args, "text", None) is not None:
        return text_app.run_text(args)
    if getattr(args, "min_epochs", None) is not None:
        if args.resume is not None:
            raise AppError("--resume: continues with the run's own settings (only --epochs may extend it); drop "
                           "--min-epochs")
        raise AppError("--min-epochs: applies to classification runs (--npz, --ts, --uea); a series run keeps its "
                       "best validation epoch")
    extra = OTHER_RUNS & {k for k, v in vars(args).items() if v is not None and v is not False}
    if extra:
        flag = "--" + sorted(extra)[0].replace("_", "-")
        raise AppError(f"{flag}: applies to a character model (--text FILE) only")
    given = {k: v for k, v in vars(args).items() if k not in ("command", *NOT_SETTINGS, *OTHER_RUNS)}
    if args.resume is not None:  # --dask-*: where a resumed run trains comes from the command line only
        extra = sorted(k for k, v in given.items() if v is not None and k not in ("epochs", *DASK))
        if args.out is not None and os.path.abspath(args.out) != os.path.abspath(args.resume):
            extra.append("out")  # the run stays in its folder
        extra += [k for k in ("overwrite", "no_early_stopping", "no_clip") if getattr(args, k)]
        if extra:
            raise AppError("--resume: continues with the run's own settings (only --epochs may extend it); drop "
                           + ", ".join("--" + k.replace("_", "-") for k in extra))
        if panel_app.holds_run(args.resume): return panel_app.resume_panel(args)  # noqa: E701 (classification)
        m = app.resume(args.resume, quiet=args.quiet, epochs=args.epochs, allow_changed_data=args.allow_changed_data,
                       dask={k: getattr(args, k) for k in DASK})
        if m.get("finished"):
            print(f"rnnx train: {args.resume} is finished ({m['epochs']} epochs, {m['stopped']}, best val epoch "
                  f"{m['best_epoch']}); nothing was changed; extend it with --resume {args.resume} --epochs N")
            return 0
    else:
        if args.allow_changed_data:
            raise AppError("--allow-changed-data: applies with --resume only")
        unset = tuple(k for k, on in (("early_stopping", args.no_early_stopping), ("clip", args.no_clip)) if on)
        try:
            m = app.train(resolve(given, unset), out=args.out, quiet=args.quiet, overwrite=args.overwrite)
        except ValueError as e:  # --column NAME is --targets NAME: name the flag the user gave
            if args.column is None or not str(e).startswith("targets: "):
                raise
            raise type(e)("column: " + str(e).removeprefix("targets: ")) from None
    print(f"rnnx train: {m['epochs']} epochs ({m['stopped']}) in {m['seconds_training']:.2f} s on "
          f"{m['target']} {m['dtype']}; test MSE {m['test_mse']:.3g} "
          f"(persistence {m['persistence_test_mse']:.3g}, best val epoch {m['best_epoch']}); "
          f"clipped {m['clipped_updates']}/{m['updates']} updates; wrote {m['out']}")
    return 0
