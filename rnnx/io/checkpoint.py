"""Checkpoints and model files: one ``.npz`` written atomically (temporary file, fsync,
rename), so a crash never leaves a half-written file where a good one was.

Layout: ``meta`` holds JSON (format tag, version, kind, configuration, counters, history;
checked by :mod:`rnnx.io.schema`); every array is stored under ``<group>/<name>`` on the host
as float16/32/64, and loads onto any backend.  (An I/O module: imports NumPy lazily.)

:func:`load` trusts nothing in the file before it is checked: it reads the zip directory and
each member's ``.npy`` header first, and reads array data only when every member is an array
the meta record implies, of a float dtype and that shape, whose size in the zip directory is
exactly header + data (Python's zip reader stops at that size, so nothing decompresses past
what the record justifies) and no more than deflate can expand from its compressed bytes.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from typing import Any

from rnnx import bounds
from rnnx.io import atomic
from rnnx.io.schema import (FORMAT, OPT, OPT_GROUP, VERSION, FileFormatError, Shapes, current_version, show,
                             validate)

__all__ = ["FORMAT", "VERSION", "CheckpointError", "FileFormatError", "FileTooLarge", "save", "load", "check_params",
           "float_array", "MAX_META_BYTES", "MAX_MEMBERS", "FLOAT_DTYPES",
           # the zip-member checks, shared with rnnx.data.panel's .npz reader
           "ZIP_ERRORS", "zip_members", "member_header", "check_member_size"]

#: One error class for every unusable file (``rnnx.io.files.FileFormatError`` is the same).
CheckpointError = FileFormatError


class FileTooLarge(FileFormatError, bounds.TooLarge):
    """A file whose arrays would not fit in the memory available (:func:`load` says so from
    their headers, before any is read): both a :class:`FileFormatError` and an
    :class:`rnnx.bounds.TooLarge`."""


#: The copies of its arrays loading a file holds at peak: the arrays read, and one
#: conversion (dtype, byte order or the host-to-device copy) of each.
LOAD_COPIES = 2

MAX_META_BYTES = 4 * 2**20  # the meta member, decompressed (header + text)
MAX_MEMBERS = 4096
FLOAT_DTYPES = ("float16", "float32", "float64")
_DEFLATE_MAX_RATIO = 1032  # deflate emits at most 258 bytes per 2 bits it reads
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK"  # every zip archive starts with a "PK.." record (np.savez: a local file header)
#: What reading a damaged zip file can raise (the readers turn each into one FileFormatError).
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError, KeyError,
              NotImplementedError, RuntimeError, OverflowError)


# -- save --------------------------------------------------------------------------------------------
def float_array(where: str, key: str, a: Any) -> Any:
    """``a`` as a NumPy array; a :class:`TypeError` naming ``key`` unless it is float16/32/64."""
    import numpy as np

    a = np.asarray(a)
    if a.dtype.kind != "f" or a.dtype.name not in FLOAT_DTYPES:
        raise TypeError(f"{where}: {key} has dtype {a.dtype}; expected a real float array "
                        f"({', '.join(FLOAT_DTYPES)})")
    return a


def save(path: str, meta: dict, groups: dict[str, dict[str, Any]], *, to_numpy: Any,
         overwrite: bool = True) -> None:
    """Write ``meta`` (plus ``format``, and ``version`` unless it names one: the version of its
    kind this rnnx writes, :func:`rnnx.io.schema.current_version`) and the array ``groups`` to ``path``
    atomically: every array is host-transferred by ``to_numpy`` and checked first (not
    float16/32/64: :class:`TypeError` naming it), then written through
    :func:`rnnx.io.atomic.replacing` (a temporary ``.rnnx-tmp-<pid>-<random>-<name>`` beside
    ``path``, fsynced and renamed over it).  ``overwrite=False`` and ``path`` exists:
    :class:`FileExistsError`, nothing written.  A replaced file's permission bits carry over;
    a new file gets ``0666 & ~umask``.  An :class:`OSError` (no space, no permission, a
    read-only disk) removes the temporary and propagates with ``filename`` = ``path``."""
    import numpy as np

    arrays = {"meta": np.asarray(json.dumps({"format": FORMAT, "version": current_version(meta.get("kind")),
                                             **meta}))}
    for g, d in groups.items():
        for k, v in d.items():
            arrays[f"{g}/{k}"] = float_array("groups", f"{g}/{k}", to_numpy(v))
    with atomic.replacing(path, overwrite=overwrite) as f:
        np.savez(f, **arrays)


# -- load ----------------------------------------------------------------------------------------------
def _fail(path: str, what: str) -> FileFormatError:
    return FileFormatError(f"checkpoint: {path!r}{what}")


def _corrupt(path: str, e: BaseException) -> FileFormatError:
    return _fail(path, f" is corrupt or truncated ({type(e).__name__}: {e})")


def zip_members(zf: zipfile.ZipFile, path: str, size: int) -> dict[str, zipfile.ZipInfo]:
    """The zip directory: at most :data:`MAX_MEMBERS` distinct ``<key>.npy`` members, plain or
    deflated, unencrypted, each within the file and none overlapping another -> {key: info}."""
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise _fail(path, f" has {len(infos)} members; an rnnx file has at most {MAX_MEMBERS}")
    out: dict[str, zipfile.ZipInfo] = {}
    for zi in infos:
        name = zi.filename
        if not name.endswith(".npy"):
            raise _fail(path, f": member {show(name)} is not a .npy array")
        if name[:-4] in out:
            raise _fail(path, f": member {show(name)} appears twice")
        if zi.flag_bits & 0x1:
            raise _fail(path, f": member {show(name)} is encrypted")
        if zi.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _fail(path, f": member {show(name)} uses compression method {zi.compress_type}; "
                              "expected stored or deflated")
        out[name[:-4]] = zi
    end = 0
    for zi in sorted(infos, key=lambda z: z.header_offset):
        if zi.header_offset < end:
            raise _fail(path, f": member {show(zi.filename)} overlaps another")
        end = zi.header_offset + 30 + len(zi.filename.encode()) + zi.compress_size
        if end > size:
            raise _fail(path, f": member {show(zi.filename)} extends past the end of the file (truncated)")
    return out


def _read_header(f: Any, zi: zipfile.ZipInfo, path: str) -> tuple[tuple, bool, Any, int]:
    """The ``.npy`` header at the start of the open member ``f`` -> (shape, fortran_order,
    dtype, header length); ``f`` is left at the first data byte."""
    import numpy as np

    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(f)
        else:
            raise ValueError(f".npy format version {version}; expected 1.0 or 2.0")
    except (ValueError, SyntaxError, TypeError, EOFError) as e:
        raise _fail(path, f": member {show(zi.filename)} has no valid .npy header ({show(str(e))})") from None
    return tuple(shape), fortran, dtype, f.tell()


def member_header(zf: zipfile.ZipFile, zi: zipfile.ZipInfo, path: str) -> tuple[tuple, bool, Any, int]:
    """A member's ``.npy`` header (:func:`_read_header`), no data read."""
    with zf.open(zi) as f:
        return _read_header(f, zi, path)


def check_member_size(zi: zipfile.ZipInfo, path: str, nbytes: int, hlen: int) -> None:
    """The zip directory's sizes must be the header's: ``file_size`` = header + data, within
    what deflate can expand from ``compress_size``."""
    if zi.file_size != hlen + nbytes:
        raise _fail(path, f": member {show(zi.filename)} claims {zi.file_size} bytes, its header "
                          f"implies {hlen + nbytes}")
    limit = zi.compress_size if zi.compress_type == zipfile.ZIP_STORED else \
        _DEFLATE_MAX_RATIO * zi.compress_size + 1024
    if zi.file_size > limit:
        raise _fail(path, f": member {show(zi.filename)} claims {zi.file_size} bytes from "
                          f"{zi.compress_size} compressed, more than its compression can give")


def _read_meta(zf: zipfile.ZipFile, zi: zipfile.ZipInfo, path: str) -> Any:
    """The ``meta`` member: a unicode scalar of at most :data:`MAX_META_BYTES` (header + text),
    valid UTF-32 code points (decoded here, not by NumPy), then JSON (bad JSON, or nesting too
    deep for the parser: :class:`FileFormatError`)."""
    import sys

    if zi.file_size > MAX_META_BYTES:
        raise _fail(path, f": the meta record claims {zi.file_size} bytes; at most {MAX_META_BYTES}")
    with zf.open(zi) as f:
        shape, _, dtype, hlen = _read_header(f, zi, path)
        if dtype.kind != "U" or shape != ():
            raise _fail(path, f": the meta record is a {dtype} array of shape {shape}; expected a unicode string")
        check_member_size(zi, path, dtype.itemsize, hlen)
        data = f.read(dtype.itemsize)
    if len(data) != dtype.itemsize:
        raise _fail(path, " is corrupt or truncated (the meta record ends early)")
    little = dtype.byteorder == "<" or (dtype.byteorder in "=|" and sys.byteorder == "little")
    try:
        text = data.decode("utf-32-le" if little else "utf-32-be").rstrip("\x00")
    except UnicodeDecodeError as e:
        raise _fail(path, f": the meta record is not valid text ({e.reason} at byte {e.start})") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise _fail(path, ": the meta record is nested too deeply") from None
    except ValueError as e:
        raise _fail(path, f" has an unreadable meta record ({show(str(e))})") from None


def _group_shapes(expected: Shapes, group: str) -> dict[str, tuple[int, ...]] | None:
    if group in expected:
        return expected[group]
    if OPT in expected and OPT_GROUP.match(group):
        return expected[OPT]
    return None


def _plan(members: dict[str, zipfile.ZipInfo], expected: Shapes, path: str) -> dict[str, dict[str, zipfile.ZipInfo]]:
    """Match the array members to the record's groups: {group: {name: info}}; a member the
    record does not imply, or a missing array of a full group: :class:`FileFormatError`."""
    found: dict[str, dict[str, zipfile.ZipInfo]] = {}
    for key, zi in members.items():
        group, _, name = key.partition("/")
        shapes = _group_shapes(expected, group)
        if shapes is None or name not in shapes:
            raise _fail(path, f" does not fit {expected.what}: unexpected array {show(key)}")
        found.setdefault(group, {})[name] = zi
    for group, shapes in expected.items():
        if group == OPT or (group in expected.optional and group not in found):
            continue
        missing = [k for k in shapes if k not in found.get(group, {})]
        if missing:
            raise _fail(path, f" does not fit {expected.what}: missing {[f'{group}/{k}' for k in missing]}")
    return found


def _check_array(zf: zipfile.ZipFile, zi: zipfile.ZipInfo, key: str, want: tuple[int, ...], what: str,
                 path: str) -> None:
    """An array member's header: a float16/32/64 dtype, the shape ``want``, and the zip
    directory's sizes matching it."""
    import math

    shape, _, dtype, hlen = member_header(zf, zi, path)
    if dtype.kind != "f" or dtype.name not in FLOAT_DTYPES or dtype.fields is not None:
        raise _fail(path, f": array {key} has dtype {dtype}; expected float16, float32 or float64")
    if shape != tuple(want):
        raise _fail(path, f" does not fit {what}: {key} has shape {shape}, expected {tuple(want)}")
    check_member_size(zi, path, math.prod(shape) * dtype.itemsize, hlen)


def _read_array(zf: zipfile.ZipFile, zi: zipfile.ZipInfo, key: str, path: str) -> Any:
    import numpy as np

    with zf.open(zi) as f:
        a = np.lib.format.read_array(f, allow_pickle=False)
    if a.dtype.kind != "f":  # the member changed since its header was checked
        raise _fail(path, f": array {key} changed while it was read")
    return np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("="))


def _open(path: str, *, nofollow: bool = False) -> Any:
    """The open file at ``path``; a missing file, a folder, a FIFO or device (refused before
    a byte is read, :func:`rnnx.io.inputs.open_regular`; with ``nofollow`` a symbolic link
    too), an unreadable file, a bare ``.npy``, an empty file or one that does not start as a
    zip archive (a text file: not an rnnx file at all): :class:`FileFormatError`."""
    from rnnx.io.inputs import NotARegularFile, open_regular

    try:
        f = open_regular(path, nofollow=nofollow)
    except FileNotFoundError:
        raise _fail(path, " does not exist") from None
    except NotARegularFile as e:
        if os.path.isdir(path) and not os.path.islink(path):
            raise _fail(path, " is a folder, expected an rnnx .npz file") from None
        raise _fail(path, f" {e.strerror}") from None
    except OSError as e:
        raise _fail(path, f" cannot be read ({e.strerror or e})") from None
    try:
        start = f.read(len(_NPY_MAGIC))
    except OSError as e:
        f.close()
        raise _fail(path, f" cannot be read ({e.strerror or e})") from None
    if start == _NPY_MAGIC:
        f.close()
        raise _fail(path, " is a bare array (.npy), not an rnnx checkpoint")
    if not start.startswith(_ZIP_MAGIC):  # README.md, a CSV: not a damaged rnnx file but another kind
        f.close()
        raise _fail(path, " is empty, not an rnnx file (.npz)" if not start else
                    " is not an rnnx file (.npz): it is not a zip archive")
    f.seek(0)
    return f


def _check_memory(path: str, stored: int) -> None:
    """:data:`LOAD_COPIES` x the arrays' ``stored`` bytes (their headers' shapes and dtypes,
    checked against the zip directory) within the memory available, before any is read."""
    bounds.check_bytes(f"checkpoint: {path!r}: its arrays ({stored} bytes decompressed), read and converted "
                       f"({LOAD_COPIES} copies),", LOAD_COPIES * stored, error=FileTooLarge, name=path)


def load(path: str, *, nofollow: bool = False) -> tuple[dict, dict[str, dict[str, Any]]]:
    """Read a file written by :func:`save`: (meta, groups of NumPy arrays in native byte
    order).  The zip directory, the meta record (:func:`rnnx.io.schema.validate`) and every
    array's header are checked before any array data is read, and the arrays' size against
    the memory available (:class:`FileTooLarge`); every problem is one
    :class:`FileFormatError` line naming ``path`` and the member or field.  Anything but a
    regular file (a FIFO, a device) is refused before a byte is read; ``nofollow`` (a file
    inside a run folder, which rnnx never writes as a link) refuses a symbolic link too."""
    with _open(path, nofollow=nofollow) as f:
        size = os.fstat(f.fileno()).st_size
        try:
            with zipfile.ZipFile(f) as zf:
                members = zip_members(zf, path, size)
                if "meta" not in members:
                    raise _fail(path, " is not an rnnx checkpoint (no meta record)")
                meta = _read_meta(zf, members.pop("meta"), path)
                expected = validate(meta, path)
                plan = _plan(members, expected, path)
                for group, d in plan.items():
                    shapes = _group_shapes(expected, group)
                    for name, zi in d.items():
                        _check_array(zf, zi, f"{group}/{name}", shapes[name], expected.what, path)
                _check_memory(path, sum(zi.file_size for d in plan.values() for zi in d.values()))
                groups = {g: {k: _read_array(zf, zi, f"{g}/{k}", path) for k, zi in d.items()}
                          for g, d in plan.items()}
        except FileFormatError:
            raise
        except ZIP_ERRORS as e:
            raise _corrupt(path, e) from None
    return meta, groups


def check_params(path: str, arrays: dict[str, Any], shapes: dict[str, tuple[int, ...]], what: str) -> None:
    """The stored parameters must be exactly those of the model described."""
    missing = [k for k in shapes if k not in arrays]
    extra = [k for k in arrays if k not in shapes]
    if missing or extra:
        raise CheckpointError(f"checkpoint: {path!r} does not fit {what}: missing {missing}, unexpected {extra}")
    for k, s in shapes.items():
        if tuple(arrays[k].shape) != tuple(s):
            raise CheckpointError(f"checkpoint: {path!r} does not fit {what}: {k} has shape "
                                  f"{tuple(arrays[k].shape)}, expected {tuple(s)}")
