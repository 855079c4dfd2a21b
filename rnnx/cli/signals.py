"""The signals that stop a training run: SIGINT, SIGTERM and SIGHUP.

While a run trains, the first signal asks it to stop at the next safe point (the trainer polls
:meth:`Signals.stop_requested` between batches); a second one stops it at once by raising
:class:`Forced` from the handler.  The exit status of a stopped run is 128 + the signal's
number.  Outside the main thread (where handlers cannot be set) nothing changes.  The previous
handlers are put back on exit.
"""

from __future__ import annotations

import signal
import threading

__all__ = ["NAMES", "Forced", "Signals", "name"]

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
