"""A run folder as a transaction: one writer at a time, never reused by accident.

- :class:`Lock`: an exclusive advisory lock (``flock`` on ``.rnnx.lock`` in the folder,
  holding the owner's pid).  The kernel releases it when its process ends, however it ends,
  so a lock file left by a killed run is stale by construction: the next run takes it and
  says so.  A lock whose owner lives is never broken: the second run is refused, naming the
  owner's pid.
- :func:`check_new`: a folder for a new run must be missing or empty; one that holds a run,
  rnnx results or anything at all is refused unless the user said ``--overwrite``.
- :func:`start`: under the lock, the temporaries of killed writes are removed.

Every file of a run is written through :mod:`rnnx.io.atomic` (temporary, fsync, rename).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shlex
import socket
import stat
import sys
import time

from rnnx.cli.errors import AppError
from rnnx.io import atomic
from rnnx.io.inputs import kind_of

LOCK = ".rnnx.lock"
CHECKPOINT, MODEL = "checkpoint.npz", "model.npz"
#: The files ``rnnx train`` writes; ``predict``/``forecast`` never write over these.
RUN_FILES = (CHECKPOINT, MODEL, "metrics.json", "history.csv", "convergence.png", "predictions.png",
             "classes.json", "confusion.png", "text.json",  # classification and text runs
             "forecaster.npz", "future.csv",  # forecasting runs (future.csv: with --future-inputs)
             "diagnostics.json", "diagnostics.png")  # --diagnostics
#: The files ``predict``/``forecast`` write by default (a rerun replaces them).
COMMAND_FILES = ("predictions.csv", "forecast.csv", "forecast.png")
#: What no other command may write over in a run folder: the run's files and its lock.
PROTECTED = (*RUN_FILES, LOCK)


def protected(path: str) -> str | None:
    """The run folder when ``path`` is one of its :data:`PROTECTED` files or a temporary
    of a write in progress there (a folder that holds a checkpoint or a lock), else None."""
    real = os.path.realpath(path)
    folder, name = os.path.split(real)
    if name not in PROTECTED and atomic.owner_pid(name) is None:
        return None
    if any(os.path.exists(os.path.join(folder, n)) for n in (CHECKPOINT, LOCK)):
        return folder
    return None

def check_output(flag: str, path: str, *, overwrite: bool, replaceable: bool = False) -> None:
    """A file a command writes at a user-named ``path`` (``flag`` names it), checked before
    any work starts: a name, in an existing folder, not a folder; never a file of a run
    (:func:`protected`), not even with ``overwrite``; an existing file (or link) only with
    ``overwrite`` or when ``replaceable`` (the command's own earlier output).  One AppError
    line otherwise (exit 2, nothing written)."""
    if not path or not str(path).strip():
        raise AppError(f"{flag}: expected a file name, got {path!r}")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise AppError(f"{flag}: the folder {parent!r} does not exist (nothing was written)")
    if os.path.isdir(path):
        raise AppError(f"{flag}: {path!r} is a folder, expected a file name (nothing was written)")
    owner = protected(path)
    if owner is not None:
        raise AppError(f"{flag}: {path!r} is a file of the run in {owner!r}; choose another name (nothing was written)")
    if os.path.lexists(path) and not overwrite and not replaceable:
        raise AppError(f"{flag}: {path!r} exists; pass --overwrite to replace it (nothing was written)")


def same_file(a: str, b: str) -> bool:
    """Do ``a`` and ``b`` name one file: the same real path (links resolved), or, where
    both exist, the same device and inode (a hard link, a case-insensitive name)?"""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def check_distinct(outputs: list[tuple[str, str]]) -> None:
    """The ``(flag, path)`` outputs of one command must be different files: two that are one
    (:func:`same_file`) are one AppError line naming both (exit 2, nothing written)."""
    for i, (flag_b, b) in enumerate(outputs):
        for flag_a, a in outputs[:i]:
            if same_file(a, b):
                also = f"{flag_a} " if flag_a != flag_b else ""
                raise AppError(f"{flag_b}: {b!r} is the same file as {also}{a!r}; one command's outputs need a "
                               "name each (nothing was written)")


try:
    import fcntl
except ImportError:  # not POSIX: no advisory locks
    fcntl = None


def resume_command(folder: str) -> str:
    return f"rnnx train --resume {shlex.quote(folder)}"


#: What a lock file holds: ``pid N on HOST since TIMESTAMP`` (an older rnnx: ``pid N`` alone, or
#: with a host); anything else in a file at the lock's name is not rnnx's and is never changed.
_LOCK_RECORD = re.compile(r"pid ([1-9][0-9]{0,9})(?: on ([A-Za-z0-9._-]{1,253})(?: since [A-Za-z0-9:.+-]{1,40})?)?\n?")
#: The longest lock record read (a longer file is not rnnx's).
_LOCK_BYTES = 512


def lock_host() -> str:
    """This machine's name as a lock records it (one that a lock cannot hold: ``unknown``)."""
    host = socket.gethostname()
    return host if re.fullmatch(r"[A-Za-z0-9._-]{1,253}", host) else "unknown"


def parse_lock(text: str) -> tuple[int, str | None] | None:
    """``(pid, host or None)`` of a lock record, or None when ``text`` is not one."""
    m = _LOCK_RECORD.fullmatch(text)
    return (int(m[1]), m[2]) if m else None


def _owner(record: tuple[int, str | None] | None) -> str:
    if record is None:
        return "pid unknown"
    pid, host = record
    return f"pid {pid}" + (f" on {host}" if host else "")


class Lock:
    """``with Lock(folder, option="--out"):`` the folder is this process's until the block
    ends (or the process does).  A lock held by a live process: AppError (exit 1) naming
    its pid and host.  ``notes`` collects what the caller should print (a stale lock taken
    over).  The lock file is opened without following a symbolic link, and anything at its
    name but a regular file of one name holding an rnnx lock record (or nothing: a run
    killed before it wrote one) is refused, unchanged: a link, a FIFO, a folder, a file of
    other content."""

    def __init__(self, folder: str, *, option: str) -> None:
        self.folder, self.option, self.path = folder, option, os.path.join(folder, LOCK)
        self.fd: int | None = None
        self.notes: list[str] = []

    def __enter__(self) -> Lock:
        if fcntl is None:
            raise AppError(f"{self.option}: this platform has no file locks (fcntl); rnnx train needs them "
                           "to keep two runs out of one folder", code=1)
        for _ in range(100):  # another process may unlink the file between our open and flock
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                owner = _read_record(fd)
                os.close(fd)
                if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise AppError(f"{self.option}: {self.folder!r} is in use by another rnnx process "
                                   f"({_owner(owner or None)}); wait for it to end or choose another "
                                   "folder (nothing was changed)", code=1) from None
                raise
            if self._same_file(fd):
                break
            os.close(fd)  # we locked a file that was unlinked meanwhile: take the new one
        else:
            raise AppError(f"{self.option}: could not lock {self.path!r}", code=1)
        stale = _read_record(fd)
        if stale is None:  # not rnnx's: left exactly as it is
            os.close(fd)
            raise self._refuse("holds something other than an rnnx lock record")
        if stale:
            self.notes.append(f"took over the stale lock of {_owner(stale)} (that process has ended)")
        try:  # who holds it, for the message of a refused second run; the lock itself is the flock
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {lock_host()} since "
                      f"{time.strftime('%Y-%m-%dT%H:%M:%S')}\n".encode(), 0)
        except OSError:  # a full disk: the lock holds all the same; the write that needs space names its file
            pass
        self.fd = fd
        return self

    def _refuse(self, what: str) -> AppError:
        return AppError(f"{self.option}: {self.path!r} {what}; remove it if it is not rnnx's, then run the "
                        "command again (nothing was changed)", code=1)

    def _open(self) -> int:
        """The lock file, created if missing: never through a symbolic link, never a FIFO's
        blocking open; anything but a regular file of one link is refused unchanged."""
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) \
            | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.path, flags, 0o644)
        except OSError as e:
            with contextlib.suppress(OSError):  # what is there, if it is not a lock file; else the error itself
                self._check(os.lstat(self.path))
            raise type(e)(e.errno, e.strerror, self.path) from None
        try:
            self._check(os.fstat(fd))
        except BaseException:
            os.close(fd)
            raise
        with contextlib.suppress(OSError):
            os.set_blocking(fd, True)
        return fd

    def _check(self, st: os.stat_result) -> None:
        if not stat.S_ISREG(st.st_mode):
            raise self._refuse(f"is {kind_of(st.st_mode)}, not an rnnx lock file")
        if st.st_nlink != 1:
            raise self._refuse(f"is a hard link ({st.st_nlink} names of one file), not an rnnx lock file")

    def _same_file(self, fd: int) -> bool:
        try:
            return os.fstat(fd).st_ino == os.lstat(self.path).st_ino
        except FileNotFoundError:
            return False

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)  # while still holding it: a waiter then sees another inode and retries
            os.close(self.fd)
            self.fd = None


def _read_record(fd: int) -> tuple[int, str | None] | tuple[()] | None:
    """The lock record of the open lock file: ``(pid, host)``; ``()`` for an empty file;
    None for anything that is not an rnnx lock record (its content is never shown)."""
    try:
        raw = os.pread(fd, _LOCK_BYTES + 1, 0)
    except OSError:
        return None
    if not raw:
        return ()
    if len(raw) > _LOCK_BYTES:
        return None
    try:
        return parse_lock(raw.decode("ascii"))
    except UnicodeDecodeError:
        return None


def _entries(folder: str) -> list[str]:
    """What the folder holds, without the lock file and rnnx's temporaries (:func:`rnnx.io.atomic.is_temporary`)."""
    return sorted(n for n in os.listdir(folder)
                  if n != LOCK and not atomic.is_temporary(folder, n))


def check_out(out: str) -> None:
    """``--out`` must be a usable folder name (checked before anything is created)."""
    if not out or not out.strip():
        raise AppError(f"--out: expected a folder name, got {out!r}")
    if os.path.exists(out) and not os.path.isdir(out):
        raise AppError(f"--out: {out!r} is a file, expected a folder (it is left as it is)")
    parent = os.path.dirname(os.path.abspath(out))
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if parent and not os.path.isdir(parent):
        raise AppError(f"--out: {out!r} lies under {parent!r}, which is a file, not a folder")


def check_new(out: str, *, overwrite: bool) -> None:
    """A folder for a new run: missing, empty, or (``overwrite``) anything but a live run."""
    if not os.path.isdir(out):
        return
    names = _entries(out)
    if not names or overwrite:
        return
    if CHECKPOINT in names:
        raise AppError(f"--out: {out!r} already holds a run ({CHECKPOINT}); continue it with --resume {out}, "
                       "replace it with --overwrite, or choose another --out (nothing was changed)")
    ours = [n for n in names if n in RUN_FILES or n in COMMAND_FILES]
    if ours:
        raise AppError(f"--out: {out!r} holds rnnx results ({', '.join(ours)}); replace them with --overwrite "
                       "or choose another --out (nothing was changed)")
    more = f" and {len(names) - 3} more" if len(names) > 3 else ""
    raise AppError(f"--out: {out!r} is not empty ({', '.join(map(repr, names[:3]))}{more}); choose an empty or "
                   "new folder, or pass --overwrite to write the run's files beside them (nothing was changed)")


def start(out: str, lock: Lock, *, fresh: bool) -> None:
    """Under ``lock``: remove killed writes' temporaries; for a ``fresh`` run (a new one,
    possibly ``--overwrite``) remove the previous run's files, so that nothing of an older
    run can be mistaken for this one's (the other files of the folder stay)."""
    for name in atomic.remove_stale(out):
        lock.notes.append(f"removed {name}, left by a killed write")
    if fresh:
        for name in (*RUN_FILES, *COMMAND_FILES):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(out, name))


def make_folder(out: str) -> None:
    """Create ``out`` (and its parents); OS errors keep the path."""
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise type(e)(e.errno, e.strerror, e.filename or out) from None


def say(notes: list[str], name: str = "rnnx train") -> None:
    for n in notes:
        print(f"{name}: note: {n}", file=sys.stderr)
