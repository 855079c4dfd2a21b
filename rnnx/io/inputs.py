"""Every file rnnx reads that a user named (``--csv``, ``--npz``, ``--ts``, ``--test-ts``,
``--text``, ``--from-torch``, ``rnnx load FILE``) or that a run folder holds (its
checkpoint, model and records) is opened by :func:`open_regular`: the open itself cannot
block (a FIFO without a writer is opened non-blocking), and the opened descriptor is
checked before a byte is read: anything but a regular file (a FIFO, ``/dev/zero``, a
socket, a folder) is :class:`NotARegularFile`.  ``nofollow=True`` (a file inside a run
folder, which rnnx never writes as a link) also refuses a symbolic link.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

__all__ = ["NotARegularFile", "kind_of", "open_regular"]


class NotARegularFile(OSError):
    """``path`` is not a regular file (its kind in ``strerror``: ``is a FIFO (named
    pipe), expected a regular file``); an :class:`OSError`, so that a handler of unreadable
    files handles it too."""


def kind_of(mode: int) -> str:
    """What a file of ``st_mode`` ``mode`` is, for a message: ``a FIFO (named pipe)``, ..."""
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"),
                       (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "not a regular file"


def _refused(path: str, mode: int, why: str = "") -> NotARegularFile:
    return NotARegularFile(errno.EINVAL, f"is {kind_of(mode)}, expected a regular file{why}", path)


def open_regular(path: str, *, nofollow: bool = False) -> BinaryIO:
    """``path`` opened for reading in binary, once it is known to be a regular file (the
    check is on the opened descriptor: what is read is what was checked).  Missing or
    unreadable: the OSError of ``open``; anything else but a regular file (with
    ``nofollow``, a link too): :class:`NotARegularFile` naming what it is."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    if nofollow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if nofollow and e.errno == errno.ELOOP:
            try:
                st = os.lstat(path)
            except OSError:
                st = None
            if st is not None and stat.S_ISLNK(st.st_mode):
                raise _refused(path, st.st_mode, " (rnnx never writes a run's file as a link)") from None
        raise type(e)(e.errno, e.strerror, path) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _refused(path, st.st_mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
