"""The signals that stop a command: SIGINT, SIGTERM and SIGHUP.

Two ways of answering them, one class (:class:`Signals`):

- a training run (``rnnx train``; ``Signals()``): the first signal asks it to stop at the
  next safe point (the trainer polls :meth:`Signals.stop_requested` between batches); a
  second one stops it at once by raising :class:`Forced` from the handler;
- every other long command (predict, forecast, sample, diagnose, diagnose --compare, bench,
  parity; :func:`stopping`): the first signal stops it at once, by raising :class:`Forced`,
  unless a write is in progress (a :meth:`Signals.writing` block, or a temporary of
  :mod:`rnnx.io.atomic` held open by this process): that write finishes, and the command
  stops when the block ends (or at its next :meth:`Signals.check`, between inner runs).  A
  write that a second signal cuts short leaves nothing (:mod:`rnnx.io.atomic` removes its
  temporary), so no file is ever half-written.

Either way the command ends with one line on stderr (``rnnx predict: stopped by SIGTERM;
...``) and the exit status 128 + the signal's number.  Handlers nest: a training run inside
a long command (``diagnose --compare``) puts its own in place while it trains and the outer
ones back after, and a signal the inner one receives is also the outer one's
(:attr:`Signals.pending` of every enclosing :class:`Signals` is set), so the outer loop stops
at its next safe point instead of going on.  Outside the main thread (where handlers cannot
be set) nothing changes.  The previous handlers are put back on exit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence

__all__ = ["NAMES", "Forced", "Signals", "StageError", "current", "name", "stage", "stopping", "writing", "writing_results"]

NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM", **(
    {signal.SIGHUP: "SIGHUP"} if hasattr(signal, "SIGHUP") else {})}

#: The Signals in effect, outermost first (the main thread's).
_ACTIVE: list[Signals] = []


def name(signum: int) -> str:
    """``"SIGTERM"`` for 15; the number itself for a signal not handled here."""
    return NAMES.get(signum, str(signum))


def current() -> Signals | None:
    """The innermost :class:`Signals` in effect, or None."""
    return _ACTIVE[-1] if _ACTIVE else None


class Forced(BaseException):
    """Stop now: a second signal, or (:func:`stopping`) a first one while nothing is being
    written.  A BaseException, so ``except Exception`` does not swallow it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class Signals:
    """A context manager: ``with Signals() as sig: ... sig.stop_requested() ...``;
    :attr:`pending` is the first signal's number, or None.  ``at_once=True`` (what
    :func:`stopping` uses): the first signal raises :class:`Forced` at once too, except
    during a write (see the module's docstring)."""

    def __init__(self, *, at_once: bool = False) -> None:
        self.pending: int | None = None
        self.at_once = at_once
        self.outer: Signals | None = None
        self._old: dict = {}
        self._writes = 0

    def __enter__(self) -> Signals:
        if threading.current_thread() is threading.main_thread():
            self.outer = current()
            for sig in NAMES:
                self._old[sig] = signal.signal(sig, self._handle)
            _ACTIVE.append(self)
        return self

    def _handle(self, signum, frame) -> None:
        if self.pending is not None:
            raise Forced(signum)
        s: Signals | None = self
        while s is not None:  # the enclosing commands learn of it too: their loops stop at their next safe point
            if s.pending is None:
                s.pending = signum
            s = s.outer
        if self.at_once and not self._writes and not _writing_a_temporary():
            raise Forced(signum)

    def __exit__(self, *exc) -> None:
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old = {}

    def stop_requested(self) -> bool:
        return self.pending is not None

    def check(self) -> None:
        """A safe point: :class:`Forced` if a signal has arrived (it waited for a write, or
        for an inner training run to finish)."""
        if self.pending is not None:
            raise Forced(self.pending)

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """A block of writes that a first signal does not cut short: with ``at_once``, it is
        answered (:class:`Forced`) as the outermost such block ends."""
        self._writes += 1
        try:
            yield
        finally:
            self._writes -= 1
        if self.at_once and not self._writes:
            self.check()


def _writing_a_temporary() -> bool:
    """Whether this process holds one of :mod:`rnnx.io.atomic`'s temporaries open (a write
    in progress: a signal that arrives now waits for it).  False where ``/proc/self/fd``
    cannot be read (there a write in progress is undone instead: the temporary is removed)."""
    from rnnx.io import atomic

    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return False
    me = os.getpid()
    for fd in fds:
        with contextlib.suppress(OSError):
            if atomic.owner_pid(os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))) == me:
                return True
    return False


def _state(path: str) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_dev, st.st_mtime_ns, st.st_size


@contextlib.contextmanager
def stopping(outputs: Sequence[str | None] = (), report: Callable[[], str] | None = None) -> Iterator[Signals]:
    """``with stopping(outputs=[path, ...]) as sig:`` the body of a long command: SIGINT,
    SIGTERM or SIGHUP ends it with :class:`~rnnx.cli.errors.AppError` (one line, exit 128 +
    the signal's number) that says which of ``outputs`` were written (whole) before it
    stopped, or ``report()`` where the command says what it had done (its loop's progress).
    A signal that arrived during a write is answered once the body ends: the outputs are then
    whole, and the exit status is still 128 + N."""
    from rnnx.cli.errors import AppError

    paths = [p for p in outputs if p]
    before = {p: _state(p) for p in paths}
    with Signals(at_once=True) as sig:
        try:
            yield sig
            sig.check()
        except Forced as f:
            if report is not None:
                said = report()
            else:
                written = [p for p in paths if _state(p) is not None and _state(p) != before[p]]
                said = "nothing was written" if not written else \
                    f"written whole before it stopped: {', '.join(map(repr, written))}"
                if written and len(written) < len(paths):
                    said += f"; not written: {', '.join(repr(p) for p in paths if p not in written)}"
            raise AppError(f"stopped by {name(f.signum)}; {said}", code=128 + f.signum, label=None) from None


@contextlib.contextmanager
def writing_results(out: str, state: str, signals: Signals) -> Iterator[None]:
    """The last writes of a training run in folder ``out`` whose trained state is already in
    the file ``state``: a second signal (:class:`Forced`), an OSError or any other failure
    there becomes one line naming the stage (``writing predictions.png: ...``; see
    :func:`stage`), where the state is and the ``--resume`` command that writes the results;
    a first signal that arrived meanwhile is reported once the results are written (by the
    enclosing command instead, when the run is one of its inner runs: ``diagnose --compare``)."""
    from rnnx.cli.errors import AppError, os_error
    from rnnx.cli.runfolder import resume_command, say

    try:
        yield
    except Forced as f:
        raise AppError(f"stopped by {name(f.signum)} while writing the results; the trained state is in {state}; "
                       f"write them with: {resume_command(out)}", code=128 + f.signum, label=None) from None
    except OSError as e:
        raise AppError(f"{os_error(e)}; the trained state is in {state}; free space or fix permissions, then write "
                       f"the results with: {resume_command(out)}", code=1) from None
    except AppError:
        raise
    except Exception as e:  # an rnnx failure while writing: one line, and the run stays resumable
        what = str(e) if isinstance(e, StageError) else f"writing the results: {type(e).__name__}: {e}"
        raise AppError(f"{' '.join(what.split())}; the trained state is in {state}; write the results with: "
                       f"{resume_command(out)}", code=1) from None
    if signals.pending is not None and signals.outer is None:
        say([f"{name(signals.pending)} arrived while the results were being written; the run finished first"])


class StageError(Exception):
    """A failure while writing one of a run's results, named: ``writing metrics.json: ...``."""


@contextlib.contextmanager
def stage(what: str) -> Iterator[None]:
    """``with stage("predictions.png"):`` an error inside (not an OSError, which names its
    file, nor an AppError) becomes a :class:`StageError` that says ``writing <what>``."""
    from rnnx.cli.errors import AppError

    try:
        yield
    except (OSError, AppError, StageError):
        raise
    except Exception as e:
        raise StageError(f"writing {what}: {type(e).__name__}: {e}") from e


def writing() -> contextlib.AbstractContextManager:
    """:meth:`Signals.writing` of the innermost :class:`Signals` in effect (a null context
    where there is none): for code that writes without being handed the command's."""
    s = current()
    return s.writing() if s is not None else contextlib.nullcontext()
