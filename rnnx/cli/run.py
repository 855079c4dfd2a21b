"""The run-folder transaction every task of ``rnnx train`` shares (regression, classification,
text): the same steps, in the same order, for each.

1. Before anything is created: every input checked, then :func:`check_new` (``--out`` a
   folder that is missing or empty, unless ``--overwrite``), :func:`need` (matplotlib for
   the plots, tqdm for the progress bar) and :func:`target` (the backend, device and dtype).
2. :func:`new_run`: the folder made and locked (:class:`rnnx.cli.runfolder.Lock`), checked
   again under the lock, the temporaries of killed writes removed, then the task's work; a
   run that fails before its first checkpoint removes what it wrote (its record) and the
   folder if it made it.  :func:`continue_run`: the same, for ``--resume`` of a locked folder.
3. The task writes its files through :mod:`rnnx.io.atomic`, checkpoint first and the marker
   of a finished run last (its module says the order); a signal (:mod:`rnnx.cli.signals`)
   ends the run with one line, :func:`stopped` (exit status 128 + the signal's number), that
   says what is kept and the command that continues it.

Also here: what a task needs of another's folder-level helpers (:func:`target_for`,
:func:`distribution_for`, :func:`checkpoint_epoch`), and where ``predict``/``forecast`` may
write beside a run (:func:`out_file`, :func:`writing_into`).  A task module imports this
module, never another task's.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from typing import Any

from rnnx.cli import runfolder
from rnnx.cli.errors import AppError, under_flag
from rnnx.cli.runfolder import CHECKPOINT, Lock

__all__ = ["check_new", "checkpoint_epoch", "continue_run", "distribution_for", "need", "need_module", "new_run",
           "out_file", "stopped", "stopped_message", "target", "target_for", "writing_into"]


# -- before anything is created ----------------------------------------------------------------------------
def check_new(out: str, *, overwrite: bool) -> None:
    """``--out``: a name for a folder, missing or empty unless ``overwrite`` (one AppError line)."""
    runfolder.check_out(out)
    runfolder.check_new(out, overwrite=overwrite)


def need_module(module: str, what: str) -> None:
    """An AppError saying how to install ``module`` (needed for ``what``) unless it is importable."""
    import importlib.util

    from rnnx.install import install_command

    if importlib.util.find_spec(module) is None:
        raise AppError(f"train: {module} is not installed, needed for {what}; install it with: "
                       f"{install_command('cli')}")


def need(*, quiet: bool, plots: bool = True) -> None:
    """matplotlib for the plots, and tqdm for the progress bar unless ``quiet``."""
    if plots:
        need_module("matplotlib", "the plots")
    if not quiet:
        need_module("tqdm", "the progress bar (or pass --quiet)")


def target_for(backend: str, device: str | None):
    """The backend target, or an AppError saying why it is unusable and how to install it;
    glibc's malloc tuned for it (:func:`rnnx.cli.tune_memory`)."""
    from rnnx import backends
    from rnnx.cli import tune_memory

    try:
        mod = backends.get(backend)
    except ValueError as e:
        raise AppError(under_flag("--backend", str(e))) from None
    tune_memory(mod.NAME)  # malloc for this backend's loops, before it starts threads
    try:
        dev = backends.resolve_device(mod.NAME, device)
    except ValueError as e:
        raise AppError(f"--{e}") from None
    t = backends.Target(mod.NAME, dev)
    why = t.unavailable()
    if why:
        raise AppError(f"--{'device' if device else 'backend'}: {t.id} is not usable here: {why}")
    return t


def target(backend: str, device: str | None, dtype: str):
    """:func:`target_for`, and an AppError when it has no ``dtype``."""
    t = target_for(backend, device)
    check_dtype(t, dtype)
    return t


def check_dtype(t, dtype: str) -> None:
    if dtype not in t.dtypes():
        raise AppError(f"--dtype: {t.id} has no {dtype}; expected one of {', '.join(t.dtypes())}")


def distribution_for(s: Any) -> Any:
    """``--devices N``: an :class:`rnnx.training.distributed.DataParallel` over N devices;
    ``--dask-scheduler`` / ``--dask-workers``: an :class:`rnnx.training.dask_parallel.DaskParallel`;
    else None (``s``: any object with those settings as attributes)."""
    if getattr(s, "dask_scheduler", None) is not None or getattr(s, "dask_workers", None) is not None:
        from rnnx.training.dask_parallel import DaskParallel

        return DaskParallel(s.dask_scheduler, s.dask_workers, timeout=getattr(s, "dask_timeout", 60.0))
    if s.devices is None:
        return None
    from rnnx.training.distributed import DataParallel

    return DataParallel(s.devices)


# -- the folder -----------------------------------------------------------------------------------------------
def new_run(out: str, *, overwrite: bool, work: Callable[[str], Any], undo: Sequence[str] = ()) -> Any:
    """``work(out)`` in a new run's folder: made, locked, checked again under the lock
    (another run may have been quicker), the temporaries of killed writes removed and the
    lock's notes said.  If ``work`` fails before the run's first checkpoint, the files
    ``undo`` (names in ``out``: the task's record) are removed, and the folder if this call
    made it; a failure after it leaves everything for ``--resume``."""
    created = not os.path.isdir(out)
    runfolder.make_folder(out)
    try:
        with Lock(out, option="--out") as lock:
            runfolder.check_new(out, overwrite=overwrite)
            continue_run(out, lock, fresh=True)
            try:
                return work(out)
            except BaseException:
                if not os.path.exists(os.path.join(out, CHECKPOINT)):
                    for name in undo:
                        with contextlib.suppress(OSError):
                            os.unlink(os.path.join(out, name))
                raise
    except BaseException:
        if created:  # a run that failed before its first checkpoint leaves no empty folder behind
            with contextlib.suppress(OSError):
                os.rmdir(out)
        raise


def continue_run(folder: str, lock: Lock, *, fresh: bool = False) -> None:
    """Under ``lock``: the temporaries of killed writes removed, the lock's notes said (a
    stale lock taken over, the temporaries removed)."""
    runfolder.start(folder, lock, fresh=fresh)
    runfolder.say(lock.notes)


def checkpoint_epoch(out: str) -> Any:
    """The epoch of the run's checkpoint (``?`` where it cannot be read)."""
    from rnnx.io import checkpoint

    try:
        return checkpoint.load(os.path.join(out, CHECKPOINT), nofollow=True)[0]["epoch"]
    except checkpoint.CheckpointError:
        return "?"


# -- a signal: one line ---------------------------------------------------------------------------------------
def stopped_message(out: str, epoch: int, signum: int, *, written: bool) -> str:
    """``stopped by SIGTERM; kept epoch 3 in DIR/checkpoint.npz; continue with: ...``
    (``written``: the checkpoint of ``epoch`` was just written; else the last one is kept)."""
    kept = f"kept epoch {epoch} in {os.path.join(out, CHECKPOINT)}" if written else \
        f"the last checkpoint (epoch {checkpoint_epoch(out)}) is kept in {out}"
    return stopped_line(out, signum, kept)


def stopped_line(out: str, signum: int, kept: str) -> str:
    from rnnx.cli import signals

    return f"stopped by {signals.name(signum)}; {kept}; continue with: {runfolder.resume_command(out)}"


def stopped(message: str, signum: int) -> AppError:
    """The one line a run stopped by signal ``signum`` ends with (exit status 128 + it)."""
    return AppError(message, code=128 + signum, label=None)


# -- writing beside a run (predict, forecast) ------------------------------------------------------------------
def out_file(folder: str, out: str | None, default: str, *, overwrite: bool, also: tuple[str, ...] = ()) -> str:
    """Where ``predict``/``forecast`` write: never over a file of the run (model,
    checkpoint, metrics, history, plots); an existing file that is not the command's own
    earlier output only with ``--overwrite`` (:func:`rnnx.cli.runfolder.check_output`); the
    folder must exist.  ``also``: the other files written beside ``out`` (forecast's PNG),
    checked the same way, and never the same file as ``out``."""
    out = out if out is not None else os.path.join(folder, default)
    run_dir = os.path.realpath(folder)
    paths = [out, *(os.path.splitext(out)[0] + ext for ext in also)]
    for path in paths:
        real = os.path.realpath(path) if path.strip() else ""
        in_run = os.path.dirname(real) == run_dir
        if in_run and os.path.basename(real) in runfolder.PROTECTED and runfolder.protected(path) is None:
            raise AppError(f"--out: {path!r} is a file of the run in {folder!r}; choose another name "
                           "(nothing was written)")
        runfolder.check_output("--out", path, overwrite=overwrite,
                               replaceable=in_run and os.path.basename(real) in runfolder.COMMAND_FILES)
    for path in paths[1:]:
        if runfolder.same_file(out, path):
            raise AppError(f"--out: {out!r} would be both the {default.split('.')[0]} CSV and its plot {path!r} "
                           "(the same file); give --out a name of its own, ending in .csv (nothing was written)")
    return out


@contextlib.contextmanager
def writing_into(folder: str, out: str):
    """Hold the run folder's lock while writing into it (not while writing elsewhere)."""
    if os.path.dirname(os.path.realpath(out)) == os.path.realpath(folder):
        with Lock(folder, option="--model"):
            yield
    else:
        yield
