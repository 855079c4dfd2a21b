"""``rnnx train``: train a model on a preset or a CSV series and write a run folder; or
continue one (``--resume DIR``).  Every setting flag defaults to ``None`` ("not given"):
:func:`rnnx.cli.settings.resolve` lays the flags given over the preset and the defaults."""

from __future__ import annotations

import argparse
import contextlib
import io
import os

from rnnx.cli import table
from rnnx.cli.errors import AppError

#: Flags of the text and classification runs (rnnx/cli/tasks/text.py, panel_app.py), not settings of a series run.
OTHER_RUNS = frozenset(table.FLAGS) - table.used("regression") - set(table.RESUME_ONLY)
#: Flags of the command that are not settings of the run.
NOT_SETTINGS = ("out", "resume", "quiet", "overwrite", "allow_changed_data", "no_early_stopping", "no_clip",
                "coordinator", "num_processes", "process_id", "coordinator_timeout")


def add_arguments(t: argparse.ArgumentParser) -> None:
    """The flags of :data:`rnnx.cli.table.FLAGS`, grouped by task and topic, defaults shown."""
    table.add_arguments(t)


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
    from rnnx.training import distributed
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
    from rnnx.cli.tasks import classification as panel_app
    from rnnx.cli.tasks import regression as app
    from rnnx.cli.tasks import text as text_app
    from rnnx.cli.settings import DASK, resolve

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
        if panel_app.holds_run(args.resume): return panel_app.resume_panel(args)
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
