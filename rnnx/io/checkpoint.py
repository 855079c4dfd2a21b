"""Checkpoints and model files: one ``.npz`` written atomically (temporary file, fsync,
rename), so a crash never leaves a half-written file where a good one was.

Layout: ``meta`` holds JSON (format tag, version, model and training configuration,
counters, history); every array is stored under ``<group>/<name>`` on the host in its
dtype, and loads onto any backend.  (An I/O module: imports NumPy lazily.)
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from typing import Any

FORMAT = "rnnx-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: corrupt, truncated, foreign or mismatched."""


def save(path: str, meta: dict, groups: dict[str, dict[str, Any]], *, to_numpy) -> None:
    """Write ``meta`` and the array ``groups`` to ``path`` atomically."""
    import numpy as np

    arrays = {"meta": np.asarray(json.dumps({"format": FORMAT, "version": VERSION, **meta}))}
    for g, d in groups.items():
        for k, v in d.items():
            arrays[f"{g}/{k}"] = np.asarray(to_numpy(v))
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=folder)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # a normal file, not mkstemp's private 0600
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def load(path: str) -> tuple[dict, dict[str, dict[str, Any]]]:
    """Read a file written by :func:`save`: (meta, groups of NumPy arrays)."""
    import numpy as np

    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint: {path!r} does not exist")
    try:
        with open(path, "rb") as f:
            z = np.load(f, allow_pickle=False)
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise CheckpointError(f"checkpoint: {path!r} is a bare array, not an rnnx checkpoint")
            with z:
                files = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as e:
        raise CheckpointError(f"checkpoint: {path!r} is corrupt or truncated ({type(e).__name__}: {e})") from None
    if "meta" not in files:
        raise CheckpointError(f"checkpoint: {path!r} is not an rnnx checkpoint (no meta record)")
    try:
        meta = json.loads(str(files.pop("meta")))
    except json.JSONDecodeError as e:
        raise CheckpointError(f"checkpoint: {path!r} has an unreadable meta record ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint: {path!r} is not an rnnx checkpoint (format {meta.get('format')!r})")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"checkpoint: {path!r} has version {meta.get('version')}, this rnnx reads {VERSION}")
    groups: dict[str, dict[str, Any]] = {}
    for k, v in files.items():
        g, _, name = k.partition("/")
        groups.setdefault(g, {})[name] = v
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
