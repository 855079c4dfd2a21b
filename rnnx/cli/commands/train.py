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
    from rnnx.cli import settings

    settings.refuse("coordinator", args, {})  # the flags checked (rnnx.cli.settings.RULES)
    if args.coordinator is None:
        return None
    explicit = args.coordinator != "auto"
    timeout = 60 if args.coordinator_timeout is None else args.coordinator_timeout
    from rnnx.training import distributed
    from rnnx.backends import Unavailable, get

    try:
        xp = get("jax").load()
        distributed.initialize(xp, coordinator=args.coordinator if explicit else None,
                               num_processes=args.num_processes, process_id=args.process_id, timeout=timeout)
    except Unavailable as e:
        raise AppError(f"--{e}") from None
    return _process_index(xp)


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
