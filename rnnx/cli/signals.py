"""The signals that stop a training run: SIGINT, SIGTERM and SIGHUP.

While a run trains, the first signal asks it to stop at the next safe point (the trainer polls
:meth:`Signals.stop_requested` between batches); a second one stops it at once by raising
:class:`Forced` from the handler.  The exit status of a stopped run is 128 + the signal's
number.  Outside the main thread (where handlers cannot be set) nothing changes.  The previous
handlers are put back on exit.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

__all__ = ["NAMES", "Forced", "Signals", "name", "writing_results"]

NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM", **(
    {signal.SIGHUP: "SIGHUP"} if hasattr(signal, "SIGHUP") else {})}


def name(signum: int) -> str:
    """``"SIGTERM"`` for 15; the number itself for a signal not handled here."""
    return NAMES.get(signum, str(signum))


class Forced(BaseException):
    """A second signal: stop now (a BaseException, so ``except Exception`` does not swallow it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class Signals:
    """A context manager: ``with Signals() as sig: ... sig.stop_requested() ...``;
    :attr:`pending` is the first signal's number, or None."""

    NAMES = NAMES

    def __init__(self) -> None:
        self.pending: int | None = None
        self._old: dict = {}

    def __enter__(self) -> Signals:
        if threading.current_thread() is threading.main_thread():
            for sig in NAMES:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.pending is not None:
            raise Forced(signum)
        self.pending = signum

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def stop_requested(self) -> bool:
        return self.pending is not None


@contextlib.contextmanager
def writing_results(out: str, state: str, signals: Signals) -> Iterator[None]:
    """The last writes of a training run in folder ``out`` whose trained state is already in
    the file ``state``: a second signal (:class:`Forced`) or an OSError there becomes one
    line saying where the state is and the ``--resume`` command that writes the results; a
    first signal that arrived meanwhile is reported once the results are written."""
    from rnnx.cli.errors import AppError, os_error
    from rnnx.cli.runfolder import resume_command

    try:
        yield
    except Forced as f:
        raise AppError(f"stopped by {name(f.signum)} while writing the results; the trained state is in {state}; "
                       f"write them with: {resume_command(out)}", code=128 + f.signum, label=None) from None
    except OSError as e:
        raise AppError(f"{os_error(e)}; the trained state is in {state}; free space or fix permissions, then write "
                       f"the results with: {resume_command(out)}", code=1) from None
    if signals.pending is not None:
        print(f"rnnx train: note: {name(signals.pending)} arrived while the results were being written; the run "
              "finished first", file=sys.stderr)
