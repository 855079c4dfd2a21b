"""The run-folder transaction every task of ``rnnx train`` shares (regression, classification,
text): the same steps, in the same order, for each.

1. Before anything is created: every input checked, then :func:`check_new` (``--out`` a
   folder that is missing or empty, unless ``--overwrite``), :func:`need` (matplotlib for
   the plots, tqdm for the progress bar) and :func:`target` (the backend, device and dtype).
2. :func:`new_run`: the folder made and locked (:class:`rnnx.cli.runfolder.Lock`), checked
   again under the lock, the temporaries of killed writes removed, then the task's work; a
   run that fails before its first checkpoint removes what it wrote (its record) and the
   folder if it made it.  :func:`continue_run`: the same, for ``--resume`` of a locked folder.
3. The task trains inside :func:`training`, the one stop/error path of every task: a signal
   (:mod:`rnnx.cli.signals`) ends the run with one line (exit status 128 + the signal's
   number) that says what is kept and the command that continues it; a non-finite loss
   (exit 3) and a disk error (exit 1) are one line each, naming what is kept; an error of
   where it trains (``--devices``, ``--dask-*``) is :func:`placement_error`'s.  It writes its
   files through :mod:`rnnx.io.atomic`, checkpoint first and the marker of a finished run
   last (its module says the order; :meth:`Training.results` around the last writes).

Also here: what a task needs of another's folder-level helpers (:func:`target_for`,
:func:`distribution_for`, :func:`kept`), and where ``predict``/``forecast`` may
write beside a run (:func:`out_file`, :func:`writing_into`).  A task module imports this
module, never another task's.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from rnnx.cli import runfolder
from rnnx.cli.errors import AppError, flag_for, under_flag
from rnnx.cli.runfolder import CHECKPOINT, Lock

__all__ = ["CHANGED", "Training", "changed_note", "check_dtype", "check_new", "continue_run", "csv_text", "distribution_for",
           "extending", "finished_line", "history_csv", "json_text", "kept", "model_of", "need",
           "need_module", "new_run", "optimizer_for", "out_file", "placement_error", "read_checkpoint", "resume", "resume_run", "setting",
           "stopped", "stored_model", "target", "target_for", "train_task", "training", "versions", "writing_into"]


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
    else None (``s``: a task's settings, :func:`setting`)."""
    if setting(s, "dask_scheduler") is not None or setting(s, "dask_workers") is not None:
        from rnnx.training.dask_parallel import DaskParallel

        return DaskParallel(setting(s, "dask_scheduler"), setting(s, "dask_workers"),
                            timeout=setting(s, "dask_timeout", 60.0))
    if setting(s, "devices") is None:
        return None
    from rnnx.training.distributed import DataParallel

    return DataParallel(setting(s, "devices"))


def setting(s: Any, key: str, default: Any = None) -> Any:
    """Setting ``key`` of ``s``, a task's settings mapping or object."""
    return s.get(key, default) if isinstance(s, dict) else getattr(s, key, default)


def model_of(s: Any, n_in: int, n_out: int, **task: Any) -> Any:
    """Every task's :class:`rnnx.nn.model.Model` (no array allocated) of its settings ``s``, with
    ``n_in`` inputs, ``n_out`` outputs and the ``task``'s own keywords (its objective...)."""
    from rnnx.nn.model import Model

    return Model(setting(s, "cell"), n_in, setting(s, "hidden"), n_out, num_layers=setting(s, "layers"),
                 bidirectional=bool(setting(s, "bidirectional")), **(setting(s, "model_options") or {}), **task)


def optimizer_for(s: Any, **extra: Any) -> Any:
    """Every task's optimizer, :func:`rnnx.optim.make` of its settings ``s`` (``momentum``,
    ``nesterov`` where set) and ``extra``; a bad one is the library's ValueError naming it."""
    from rnnx import optim

    hyper = {"momentum": setting(s, "momentum")} if setting(s, "momentum") else {}
    if setting(s, "nesterov"):
        hyper["nesterov"] = True
    return optim.make(setting(s, "optimizer"), lr=setting(s, "lr"), **hyper, **extra)


def history_csv(rows: Sequence[dict], fields: Sequence[str] | None = None, *, end: str = "\r\n") -> str:
    """Every task's ``history.csv``: a header of ``fields`` (default: the first row's keys), the rows."""
    import csv
    import io

    buf = io.StringIO()
    fields = list(fields) if fields is not None else list(rows[0]) if rows else None
    if fields:
        w = csv.DictWriter(buf, fieldnames=fields, lineterminator=end)
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()


def json_text(obj: Any) -> str:
    """Every task's JSON files: indented, a non-finite number as null, a final newline."""
    import json

    from rnnx.io.jsonfile import finite_or_null

    return json.dumps(finite_or_null(obj), indent=2, allow_nan=False) + "\n"


def versions(target: Any) -> dict:
    """metrics.json's ``versions``: rnnx, Python, NumPy, array-api-compat and the backend's own
    (:func:`rnnx.backends.versions`: the library, CUDA and the GPU's name where there is one)."""
    import importlib.metadata as md
    import platform

    import rnnx
    from rnnx import backends

    v = {"rnnx": rnnx.__version__, "python": platform.python_version()}
    for dist in ("numpy", "array-api-compat"):
        with contextlib.suppress(md.PackageNotFoundError):
            v[dist] = md.version(dist)
    return {**v, **backends.versions(target.backend, target.device)}


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


def resume(args: Any, task: Any) -> dict | str:
    """``rnnx train --resume DIR``, every task's one path (``args``: the flags, ``task``: the task's
    module): ``DIR`` must hold a run's checkpoint (else one line: start it again); then, under the
    folder's lock, ``task.resumed(folder, args, lock)`` reads the run's record once, checks it and
    the flags against it (a refusal changes no file: the task calls :func:`continue_run` only once
    every check passed) and trains on, returning its metrics; or it finds a finished run that trains
    nothing and returns the line to print (:func:`finished_line`), the folder's temporaries removed."""
    folder = args.resume
    if not os.path.isdir(folder):
        raise AppError(f"--resume: {folder!r} is not a folder holding a run")
    if not os.path.lexists(os.path.join(folder, CHECKPOINT)):  # anything else there: its reader names what it is
        raise AppError(f"--resume: {folder!r} holds no {CHECKPOINT} (not a run folder, a run of an older rnnx, or "
                       "one stopped before its first checkpoint); start it again with --out")
    with Lock(folder, option="--resume") as lock:
        got = task.resumed(folder, args, lock)
        if isinstance(got, str):
            continue_run(folder, lock)
        return got


def resume_run(args: Any, task: Any) -> int:
    """:func:`resume`, then its one line: the finished run's, or the task's summary (``task.summary``)."""
    got = resume(args, task)
    print(got if isinstance(got, str) else task.summary(got, args.resume))
    return 0


def extending(folder: str, at: int, done: Any, epochs: int | None, dask: dict) -> bool:
    """``--resume`` of a run at epoch ``at`` (``done``: its finished marker) with the ``--epochs``
    and ``--dask-*`` given: one that trains nothing refused; True for a finished run not extended."""
    flag = next((flag_for(k) for k, v in dask.items() if v is not None), None)
    if done and epochs is None and flag is not None:
        raise AppError(f"{flag}: the run in {folder!r} is finished ({at} epochs): nothing trains; extend it with "
                       "--epochs N (nothing was changed)")
    if epochs is not None and (epochs < at or (done and epochs == at)):
        raise AppError(f"--epochs: the run in {folder!r} has {at} epochs; expected more to extend it (nothing was "
                       "changed)")
    return bool(done) and epochs is None


def finished_line(folder: str, done: str, flag: str = "--epochs") -> str:
    """What ``rnnx train --resume`` of a finished run prints (``done``: what it did, ``40 epochs, done,
    best val epoch 39``; ``flag``: the one that extends it)."""
    return f"rnnx train: {folder} is finished ({done}); nothing was changed; extend it with --resume {folder} {flag} N"


#: How a refusal of a resumed run's changed data ends (every task's).
CHANGED = "resume on it as it is now with --allow-changed-data, or restore it"


def changed_note(what: Any, recorded: dict, now: dict, unit: str, n: int) -> None:
    """``--allow-changed-data``: one note line when the file ``what`` now (``now``'s
    ``sha256``) is not the one the run ``recorded``; it trains on from ``unit`` ``n``."""
    if now.get("sha256") != recorded.get("sha256"):
        print(f"rnnx train: note: {what} changed since the run began (--allow-changed-data): training on it as it "
              f"is now from {unit} {n}", file=sys.stderr)


def read_checkpoint(path: str, option: str, what: str) -> Any:
    """A run's ``checkpoint.npz`` of any kind this rnnx reads (:func:`rnnx.training.state.read_state`,
    never through a link: a run's own file), every task's one reader: a file of another kind
    is one AppError line ``OPTION: 'PATH' is a 'KIND' file, expected WHAT``, a damaged one the
    reader's line."""
    from rnnx.io import checkpoint
    from rnnx.training import state

    try:
        return state.read_state(path, nofollow=True)
    except checkpoint.CheckpointError as e:
        if " file, expected a training checkpoint" in str(e):
            kind = str(e).split(" is a ", 1)[1].split(" file", 1)[0]
            raise AppError(f"{option}: {path!r} is a {kind} file, expected {what}") from None
        raise AppError(str(e)) from None


def continue_run(folder: str, lock: Lock, *, fresh: bool = False) -> None:
    """Under ``lock``: the temporaries of killed writes removed, the lock's notes said (a
    stale lock taken over, the temporaries removed)."""
    runfolder.start(folder, lock, fresh=fresh)
    runfolder.say(lock.notes)


# -- training: a signal, a diverged loss, a disk error -> one line ---------------------------------------------
class Training:
    """What :func:`training` yields: the run's :attr:`signals` (:class:`rnnx.cli.signals.Signals`),
    :meth:`stop_requested` for the trainer's ``should_stop`` and :meth:`results` around the last writes."""

    def __init__(self, out: str, sig: Any) -> None:
        self.out, self.signals = out, sig
        self.checkpoint = os.path.join(out, CHECKPOINT)

    def stop_requested(self) -> bool:
        return self.signals.stop_requested()

    def results(self) -> contextlib.AbstractContextManager:
        """The last writes, once the trained state is in the checkpoint: a first signal waits for
        them, a second or a failure there is one line naming the stage and the ``--resume`` that
        writes them (:func:`rnnx.cli.signals.writing_results`)."""
        from rnnx.cli import signals

        return signals.writing_results(self.out, self.checkpoint, self.signals)


@contextlib.contextmanager
def training(out: str, *, unit: str = "epoch", hint: str = "try --clip-norm 1.0 or a lower --lr", rec: Any = None,
             diverged: Callable[[Any], Sequence[str]] | None = None):
    """``with training(out, unit=...) as t:`` a task's training call and its last writes, in
    the locked folder ``out``, every task's the same way (``unit``: what its checkpoint counts,
    ``epoch`` or ``update``):

    - the first SIGINT/SIGTERM/SIGHUP asks the trainer to stop (``should_stop=t.stop_requested``);
      its checkpoint written, the run ends with ``stopped by SIGTERM; kept epoch N in
      OUT/checkpoint.npz; continue with: rnnx train --resume OUT``, exit 128 + the signal's number;
    - a second one stops at once: the last checkpoint kept (or nothing, before the first);
    - a non-finite loss (:class:`rnnx.training.state.NonFiniteLoss`): ``rec`` (the run's
      diagnostics recorder) saved, ``diverged(e)`` writes what the task keeps of the run up to it
      (the names it wrote), exit 3 with the task's ``hint``;
    - an OSError: the file and the reason, what is kept, exit 1."""
    from rnnx import text
    from rnnx.cli import signals
    from rnnx.cli.errors import os_error
    from rnnx.training.state import NonFiniteLoss, Stopped

    ckpt = os.path.join(out, CHECKPOINT)
    with signals.Signals() as sig:
        try:
            yield Training(out, sig)
        except (Stopped, text.Stopped) as e:
            _save_diagnostics(rec, out)
            n = e.state.epoch if unit == "epoch" else e.state.updates
            raise stopped(stopped_line(out, sig.pending, f"kept {unit} {n} in {ckpt}"), sig.pending) from None
        except signals.Forced as f:
            if not os.path.exists(ckpt):
                raise stopped(f"stopped by {signals.name(f.signum)} before the first checkpoint; nothing was kept; "
                              "start the run again", f.signum) from None
            raise stopped(stopped_line(out, f.signum, f"the last checkpoint ({unit} {kept(out, unit)}) is kept in "
                                                      f"{out}"), f.signum) from None
        except NonFiniteLoss as e:
            _save_diagnostics(rec, out)  # the updates of the epoch that went non-finite are on record
            last = f"the last good checkpoint ({unit} {kept(out, unit)}) is kept in {out}" if os.path.exists(ckpt) \
                else "no checkpoint had been written yet"
            wrote = list(diverged(e)) if diverged is not None else []
            shown = f"; {', '.join(wrote)} show the run up to it" if wrote else ""
            where = f" ({e.where})" if e.where else ""
            raise AppError(f"train: the loss became {e.value} at epoch {e.epoch}{where}; stopped, {last}{shown}; "
                           f"{hint}", code=3) from None
        except OSError as e:
            then = f"the last checkpoint ({unit} {kept(out, unit)}) is kept; free space or fix permissions, then " \
                f"continue with: {runfolder.resume_command(out)}" if os.path.exists(ckpt) else \
                "no checkpoint was written; free space or fix permissions, then start the run again"
            raise AppError(f"{os_error(e)}; {then}", code=1) from None


def train_task(out: str, settings: Any, *, fit: Callable[[Any, dict], Any], results: Callable[[Any, float], dict],
               finish: Callable[[Any], None], t_start: float, rec: Any = None, title: str | None = None,
               bar: Any = None, resumed: bool = False, what: str = "training cases", placed: bool = True,
               total: str = "seconds_total", **how: Any) -> dict:
    """Every task's training and last writes in the locked folder ``out``, inside :func:`training`
    (``how``: its ``unit``, ``hint``, ``diverged``; ``rec``: the run's diagnostics recorder):
    ``fit(t, seen)`` trains (``t``: the :class:`Training`; ``seen["started"]`` set once the run is
    placed), ``bar`` (a progress bar) closed after it; an error of where it trains (``placed``:
    the task has such settings) is :func:`placement_error`'s.  Then, the last writes inside
    :meth:`Training.results`: ``results(got, seconds)`` (``got``: what ``fit`` returned,
    ``seconds``: its wall time) writes the task's files and returns its metrics, ``rec``'s
    diagnostics finished into them (``title``), ``metrics[total]`` (seconds since ``t_start``)
    and ``metrics.json`` written, then ``finish(got)`` writes the run's finished marker.
    Returns the metrics with ``out``."""
    import time

    from rnnx.backends import Unavailable
    from rnnx.io import atomic
    from rnnx.training.dask_parallel import WorkersLost

    t0, seen = time.perf_counter(), {"started": False}
    with training(out, rec=rec, **how) as t:
        try:
            got = fit(t, seen)
        except (Unavailable, WorkersLost, ValueError) as e:
            if not placed:
                raise
            raise placement_error(e, settings, out, started=seen["started"], resumed=resumed, what=what) from None
        finally:
            if bar is not None:
                bar.close()
        seconds = time.perf_counter() - t0
        with t.results():  # the last writes: a first signal now waits for them
            metrics = results(got, seconds)
            if rec is not None:
                from rnnx.cli import run_diagnostics

                run_diagnostics.finish(rec, out, title, metrics)
            metrics[total] = time.perf_counter() - t_start
            atomic.write_text(os.path.join(out, "metrics.json"), json_text(metrics))
            finish(got)
    return {**metrics, "out": out}


def placement_error(e: Exception, settings: Any, out: str, *, started: bool, resumed: bool = False,
                    what: str = "training cases") -> BaseException:
    """What a task raises for ``e`` from its training call, an error of where the run trains
    (``--devices``, ``--dask-*``, ``--probe-size``; ``settings``: a mapping or an object with
    those settings): before the run started (``started`` False), one AppError naming the flag;
    Dask workers lost after it, one line saying what is kept (exit 1); anything else ``e``."""
    from rnnx.backends import Unavailable

    get = lambda k: setting(settings, k)  # noqa: E731
    msg = str(e)
    if isinstance(e, (ValueError, TypeError)):
        if started:
            return e
        flag = next((f"--{k.replace('_', '-')}" for k in ("devices", "dask_workers", "dask_scheduler")
                     if get(k) is not None), None)
        if flag is not None and msg.startswith(("distribution:", "loss:")):
            return AppError(f"{flag}: {msg.split(': ', 1)[1]}")
        if msg.startswith("dask-scheduler:"):
            return AppError(f"--{e}")
        if msg.startswith("probe_size"):
            from rnnx.cli import run_diagnostics

            return run_diagnostics.probe_error(e, what)
        return e
    if not started:  # more --devices than present; no Dask scheduler there
        if not msg.startswith(("devices:", "dask-scheduler:")):
            return AppError(msg)
        own = f" (the run's own --devices {get('devices')})" if resumed and msg.startswith("devices:") else ""
        return AppError(f"--{e}{own}")
    if isinstance(e, Unavailable):
        return e
    then = f"the last checkpoint (epoch {kept(out)}) is kept; continue with: " \
        f"{runfolder.resume_command(out)}" if os.path.exists(os.path.join(out, CHECKPOINT)) else \
        "no checkpoint was written; start the run again"
    return AppError(f"{e}; {then}", code=1)


def _save_diagnostics(rec: Any, out: str) -> None:
    if rec is not None:
        from rnnx.cli import run_diagnostics

        with contextlib.suppress(OSError):
            run_diagnostics.save(rec, out)


def kept(out: str, unit: str = "epoch") -> Any:
    """The epoch (``unit`` ``epoch``) or update (``update``) the run's checkpoint holds (``?``
    where it cannot be read)."""
    from rnnx.io import checkpoint

    try:
        return checkpoint.load(os.path.join(out, CHECKPOINT), nofollow=True)[0]["epoch" if unit == "epoch" else
                                                                               "updates"]
    except (checkpoint.CheckpointError, KeyError):
        return "?"


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


def csv_text(header: Sequence[Any], rows: Any) -> str:
    """What ``predict``/``forecast`` write (``predictions.csv``, ``forecast.csv``): the line
    ``header`` then one line per row of ``rows``, ``\\n`` line ends; a field with a comma or a
    quote is quoted, a float written as its ``repr``."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


@contextlib.contextmanager
def stored_model(path: str, s: Any, dtype: str, restore: Callable[[Any, str], tuple], backend: str | None,
                 device: str | None):
    """The model a run stored in ``path`` where ``predict``/``forecast``/``diagnose --model``
    compute (the run's backend and device, ``s`` its settings, unless given), inside that
    backend's precision scope so it computes as it was trained: ``restore(target, dtype)`` reads
    ``(model, params)`` in ``dtype``, the run's own (float32 where the backend has no such
    dtype); yields ``(target, dtype, model, params)`` once every parameter is finite (else one
    AppError naming the first non-finite number)."""
    from rnnx import checks

    target = target_for(backend or setting(s, "backend"), device if backend else (device or setting(s, "device")))
    with target.scope():
        dtype = dtype if dtype in target.dtypes() else "float32"
        model, params = restore(target, dtype)
        bad = checks.first_non_finite([(f"params[{k!r}]", params[k]) for k in model.param_shapes()],
                                      xp=target.namespace())
        if bad is not None:
            raise AppError(f"--model: {path!r} holds non-finite parameters: {bad}")
        yield target, dtype, model, params
