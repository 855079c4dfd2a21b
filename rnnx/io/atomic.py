"""Files that are either wholly there or not at all: every rnnx output is written to a
temporary in the target's folder, flushed and fsynced, and renamed over the target
(``os.replace`` is atomic on one file system), so a crash, a kill or a full disk never
leaves a half-written file where a good one was.

Temporaries are named ``.rnnx-tmp-<pid>-<16 hex digits>-<name>``: a later run that holds the
folder's lock removes those of dead processes (:func:`remove_stale`), and nothing else: only
a regular file (never a link, never a folder) whose name has exactly that form.  (An older
rnnx named them ``.tmp-<pid>-...``; such a file is left alone, like any file of the user's.)  A replaced file keeps the
permission bits of the file it replaces (a 0600 file stays 0600); a new file gets
``0666 & ~umask`` like any file a program creates.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
from collections.abc import Iterator
from typing import IO

__all__ = ["PREFIX", "temporary_name", "replacing", "write_text", "owner_pid", "is_temporary", "remove_stale"]

PREFIX = ".rnnx-tmp-"
#: A temporary's name, exactly: the prefix, the writer's pid, 16 lower-case hex digits, the target's name.
_TEMPORARY = re.compile(re.escape(PREFIX) + r"([1-9][0-9]{0,9})-[0-9a-f]{16}-(.+)", re.DOTALL)


def temporary_name(path: str) -> str:
    """The temporary a write of ``path`` goes through (same folder, so the rename is atomic)."""
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f"{PREFIX}{os.getpid()}-{secrets.token_hex(8)}-{name}")


def _umask() -> int:
    """The process's umask, read from /proc where it is (Linux 4.7+); elsewhere set and put
    back at once (the only portable way, a moment in which another thread's new file
    could get other bits)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def _mode_for(path: str) -> int:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()


@contextlib.contextmanager
def replacing(path: str, *, overwrite: bool = True, binary: bool = True) -> Iterator[IO]:
    """``with replacing(path) as f: f.write(...)``: the file appears at ``path`` only when
    the block ends without an exception; otherwise nothing at ``path`` changes and the
    temporary is removed.  ``overwrite=False`` and an existing ``path``: FileExistsError
    before anything is written.  OS errors keep their path (``e.filename``)."""
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(f"path: {path!r} exists; pass overwrite=True to replace it")
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "is a folder, expected a file name", path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, f"its folder {folder!r} does not exist", path)
    mode = _mode_for(path)
    tmp = temporary_name(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        raise type(e)(e.errno, e.strerror, path) from None  # name the file the user knows
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": ""})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        _publish(tmp, path, overwrite)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.errno is not None and e.filename in (None, tmp):
            raise type(e)(e.errno, e.strerror, path) from None
        raise
    sync_folder(folder)


def _publish(tmp: str, path: str, overwrite: bool) -> None:
    """Move the finished ``tmp`` to ``path``.  Without ``overwrite``: a hard link, which
    fails if ``path`` appeared meanwhile (another writer), then the temporary goes; a file
    system without hard links gets a rename if ``path`` is still absent."""
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(f"path: {path!r} exists; pass overwrite=True to replace it") from None
    except OSError:
        if os.path.lexists(path):
            raise FileExistsError(f"path: {path!r} exists; pass overwrite=True to replace it") from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def sync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable (best effort: some file systems refuse)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text(path: str, text: str, *, overwrite: bool = True) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with replacing(path, overwrite=overwrite, binary=False) as f:
        f.write(text)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def owner_pid(name: str) -> int | None:
    """The pid in a temporary's name ``.rnnx-tmp-<pid>-<16 hex>-<name>``, or None for any
    other name (an older rnnx's ``.tmp-<pid>-...`` included)."""
    m = _TEMPORARY.fullmatch(name)
    return int(m[1]) if m else None


def is_temporary(folder: str, name: str) -> bool:
    """Is ``folder/name`` one of rnnx's temporaries: a regular file (not followed if a
    link) whose name :func:`owner_pid` parses?"""
    if owner_pid(name) is None:
        return False
    try:
        return stat.S_ISREG(os.lstat(os.path.join(folder, name)).st_mode)
    except OSError:
        return False


def remove_stale(folder: str) -> list[str]:
    """Remove the temporaries in ``folder`` left by killed writes (their process is gone);
    returns the names removed.  A live process's temporary is left alone, and so is any
    link, folder or other file, whatever its name."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in sorted(names):
        pid = owner_pid(name)
        if pid is None or (pid != os.getpid() and _pid_alive(pid)) or not is_temporary(folder, name):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(folder, name))
            removed.append(name)
    return removed
