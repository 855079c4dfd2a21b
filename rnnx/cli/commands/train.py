"""``rnnx train``: train a model on a preset or a CSV series and write a run folder; or
continue one (``--resume DIR``).  Every setting flag defaults to ``None`` ("not given"):
:func:`rnnx.cli.settings.resolve` lays the flags given over the preset and the defaults."""

from __future__ import annotations

import argparse
import contextlib
import io

from rnnx.cli import table
from rnnx.cli.errors import AppError


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
    """The task the command line names (:func:`rnnx.cli.tasks.chosen`): a new run, or ``--resume``
    with only the flags that may extend it (:data:`rnnx.cli.table.RESUMABLE`), checked."""
    from rnnx.cli import tasks

    mod, resuming = tasks.chosen(args)
    if not resuming:
        return mod.start_run(args)
    table.refuse_changed(args, mod.TASK)
    table.check({k: getattr(args, k) for k in table.RESUMABLE[mod.TASK]}, mod.TASK)
    return mod.resume_run(args)
