"""Crafted .npz files against ``rnnx.load`` / ``checkpoint.load`` and ``rnnx load``: pickles,
zip bombs, foreign dtypes, shapes that do not fit, missing and extra arrays, and every
malformed field of the meta record (generated from a table, one case each).  Each must be
one clean :class:`FileFormatError` line naming the file (and on the command line: exit 2,
one stderr line, no traceback), and no pickle may run.  Then saving: non-float arrays,
overwrite, permission bits, a failing write, the temporary's name; old files still load.
"""

from __future__ import annotations

import builtins
import errno
import json
import os
import pickle
import re
import stat
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib
from io import BytesIO
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import rnnx
from rnnx.cli import main
from rnnx.io import checkpoint, schema
from rnnx.io.files import FileFormatError

LAYER = rnnx.LSTM(2, 3)
MODEL = rnnx.Model("lstm", 1, 4)
LAYER_P = LAYER.init_params(np, seed=1)
MODEL_P = MODEL.init_params(np, seed=1)
PRESET = {"kind": "preset", "path": None, "sha256": None, "bytes": None}
CSV = {"kind": "csv", "path": "/data/series.csv", "sha256": "0123456789abcdef" * 4, "bytes": 1200}
HEAD = {"format": checkpoint.FORMAT, "version": checkpoint.VERSION}
META = {
    "rnnx-layer": {**HEAD, "kind": "rnnx-layer", "layer": LAYER.config()},
    "rnnx-model": {**HEAD, "kind": "rnnx-model", "model": MODEL.config()},
    "rnnx-forecaster": {**HEAD, "kind": "rnnx-forecaster", "model": MODEL.config(), "forecaster": {"period": 4}},
    "model": {**HEAD, "kind": "model", "model": MODEL.config(), "norm": [0.5, 2.0], "window": 10, "horizon": 1,
              "dtype": "float64", "settings": {"preset": "seed001"}, "data": PRESET},
    "checkpoint": {**HEAD, "kind": "checkpoint", "settings": {"preset": "seed001"}, "model": MODEL.config(), "epoch": 2,
                   "opt_step": 8, "history": [{"epoch": 1, "val_mse": 0.5, "seconds": None},
                                              {"epoch": 2, "val_mse": float("nan")}],
                   "best_val": float("inf"), "best_epoch": 0, "clipped": 0, "updates": 8, "norm": [0.5, 2.0],
                   "rng": {"seed": 0, "epoch": 2}, "data": CSV, "finished": None, "epochs": 3},
    "fit-state": {**HEAD, "kind": "fit-state", "model": MODEL.config(), "epoch": 2, "updates": 8, "opt_step": 8,
                  "history": [{"epoch": 1, "loss": 0.5}], "best_score": 0.25, "best_epoch": 1,
                  "settings": {"batch_size": 4}},
    "text-state": {**HEAD, "kind": "text-state", "model": MODEL.config(), "updates": 9, "opt_step": 9,
                   "history": [{"update": 5, "epoch": 1, "loss": 2.5, "bpc": 3.6}], "window": [10.5, 4], "streams": 2,
                   "settings": {"seq_len": 25}, "run": {"kind": "rnnx-text-run"}},
    # the one training checkpoint of every run kind (fit-state version 2), here a stream run's (2 streams)
    "fit-state-2": {**HEAD, "kind": "fit-state", "version": 2, "model": MODEL.config(), "epoch": 2, "updates": 8,
                    "opt_step": 8, "history": [{"epoch": 1, "loss": 0.5}], "best_score": 0.25, "best_epoch": 1,
                    "clipped": 1, "callbacks": [{"window": 1.5, "count": 2}], "settings": {"batch_size": 4},
                    "run": {"kind": "rnnx-series-run"}, "streams": 2},
}


def fields_of(label: str) -> tuple[dict, dict]:
    """The schema's (required, optional) fields of the kind (and version) of ``META[label]``."""
    kind, version = META[label]["kind"], META[label]["version"]
    return schema.VERSIONED.get((kind, version), (schema.FIELDS[kind], schema.OPTIONAL[kind]))


def groups_of(kind: str) -> dict:
    if kind == "rnnx-layer":
        return {"params": LAYER_P}
    if kind in ("checkpoint", "fit-state"):
        return {"params": MODEL_P, "best": MODEL_P, "opt.exp_avg": {"weight_hy": MODEL_P["weight_hy"]}}
    if kind in ("text-state", "fit-state-2"):  # the carried state of 2 streams: (layers, streams, hidden), h and c
        return {"params": MODEL_P, "opt.sum": {"weight_hy": MODEL_P["weight_hy"]},
                **({"best": MODEL_P} if kind == "fit-state-2" else {}),
                "state": {"h": np.zeros((1, 2, 4)), "c": np.ones((1, 2, 4))}}
    return {"params": MODEL_P}


# -- writing crafted files ----------------------------------------------------------------------------
def npy(a, *, allow_pickle: bool = False) -> bytes:
    b = BytesIO()
    np.lib.format.write_array(b, a, allow_pickle=allow_pickle)
    return b.getvalue()


def npy_header(shape, descr: str = "<f8") -> bytes:
    b = BytesIO()
    np.lib.format.write_array_header_1_0(b, {"descr": descr, "fortran_order": False, "shape": tuple(shape)})
    return b.getvalue()


def meta_npy(meta) -> bytes:
    return npy(np.asarray(meta if isinstance(meta, str) else json.dumps(meta)))


def members_of(meta, groups) -> dict[str, bytes]:
    out = {"meta.npy": meta_npy(meta)}
    for g, d in groups.items():
        out.update({f"{g}/{k}.npy": npy(v) for k, v in d.items()})
    return out


def write_zip(path, members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> str:
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return str(path)


def raw_zip(path, entries) -> str:
    """A zip written by hand: ``entries`` are (name, data as stored, method, crc, file_size,
    flags); a name may repeat, and offsets may be shared (``data`` None: the previous one's)."""
    out, central, last = BytesIO(), [], 0
    for name, data, method, crc, size, flags in entries:
        n = name.encode()
        if data is None:
            central.append((n, method, crc, central[-1][3], size, flags, last))
            continue
        last = out.tell()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, method, 0, 0, crc, len(data), size, len(n), 0))
        out.write(n + data)
        central.append((n, method, crc, len(data), size, flags, last))
    cd = out.tell()
    for n, method, crc, csize, size, flags, off in central:
        out.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, flags, method, 0, 0, crc, csize, size,
                              len(n), 0, 0, 0, 0, 0, off))
        out.write(n)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), out.tell() - cd, cd, 0))
    with open(path, "wb") as f:
        f.write(out.getvalue())
    return str(path)


def stored(name: str, data: bytes, *, size=None, flags=0):
    return (name, data, zipfile.ZIP_STORED, zlib.crc32(data), len(data) if size is None else size, flags)


def deflated(name: str, data: bytes, *, size=None):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return (name, c.compress(data) + c.flush(), zipfile.ZIP_DEFLATED, zlib.crc32(data),
            len(data) if size is None else size, 0)


BOMB_ELEMENTS = 2**28  # float64: 2 GiB of zeros from about 2 MB of deflate


def bomb_stream(header: bytes, n_bytes: int) -> bytes:
    """Raw deflate of ``header`` + ``n_bytes`` zeros, built from one compressed 1 MiB block
    repeated (a full flush makes each block independent), so the test never compresses 2 GB."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(header) + c.flush(zlib.Z_FULL_FLUSH)
    mib = bytes(2**20)
    block = c.compress(mib) + c.flush(zlib.Z_FULL_FLUSH)
    assert c.compress(mib) + c.flush(zlib.Z_FULL_FLUSH) == block
    return head + block * (n_bytes // 2**20 - 1) + c.flush()


@pytest.fixture(scope="module")
def bomb_data():
    return bomb_stream(npy_header((BOMB_ELEMENTS,)), BOMB_ELEMENTS * 8)


def layer_file_with(d, replace: dict[str, bytes] | None = None, drop=(), meta=None) -> dict[str, bytes]:
    m = members_of(META["rnnx-layer"] if meta is None else meta, {"params": LAYER_P})
    for k in drop:
        del m[k]
    m.update(replace or {})
    return m


class Marker:
    """Unpickling this creates the file ``path``: proof that a pickle ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return builtins.open, (self.path, "w")


# -- the crafted cases: (builder(dir, marker) -> path, what the one-line error must say) ---------------
def _w(name, members, **kw):
    return lambda d, ctx: write_zip(d / name, members(d, ctx) if callable(members) else members, **kw)


def _pickled(d, ctx):
    a = np.empty((12, 2), dtype=object)
    a[0, 0] = Marker(ctx.marker)
    return layer_file_with(d, {"params/weight_ih_l0.npy": npy(a, allow_pickle=True)})


def _pickled_meta(d, ctx):
    return {"meta.npy": npy(np.array([Marker(ctx.marker)], dtype=object), allow_pickle=True)}


def _raw_pickle(d, ctx):
    return layer_file_with(d, {"params/weight_ih_l0.npy": pickle.dumps(Marker(ctx.marker))})


def _bad_dtype(a):
    return _w("dtype.npz", lambda d, m: layer_file_with(d, {"params/weight_ih_l0.npy": npy(a, allow_pickle=True)}))


def bomb_file(path, bomb: bytes) -> str:
    """A layer file whose ``params/weight_ih_l0`` is ``bomb``: a .npy header claiming 2**28
    float64 (2 GiB, all of it in the stream, sizes consistent) where (12, 2) belongs."""
    m = layer_file_with(None)
    del m["params/weight_ih_l0.npy"]
    return raw_zip(path, [stored(k, v) for k, v in m.items()] + [
        ("params/weight_ih_l0.npy", bomb, zipfile.ZIP_DEFLATED, 0,
         len(npy_header((BOMB_ELEMENTS,))) + BOMB_ELEMENTS * 8, 0)])


def _bomb_claims_shape(d, ctx):
    return bomb_file(d / "bomb.npz", ctx.bomb)


def _bomb_lies_about_size(d, ctx):  # the right header, but the zip directory claims 2 GiB
    m = layer_file_with(d)
    w = m.pop("params/weight_ih_l0.npy")
    return raw_zip(d / "lies.npz", [stored(k, v) for k, v in m.items()] + [
        deflated("params/weight_ih_l0.npy", w + bytes(2**20), size=2**31)])


def _bomb_consistent_but_impossible(d, ctx):  # a record for a huge layer, sizes that agree, 1 KB of data
    big = rnnx.LSTM(2, 2**12)
    meta = {**HEAD, "kind": "rnnx-layer", "layer": big.config()}
    entries = [stored("meta.npy", meta_npy(meta))]
    for k, s in big.param_shapes().items():
        h = npy_header(s)
        _, data, method, crc, _, _ = deflated(k, h)
        entries.append((f"params/{k}.npy", data, method, crc, len(h) + int(np.prod(s)) * 8, 0))
    return raw_zip(d / "huge.npz", entries)


def _huge_meta(d, ctx):
    h = npy_header((), "<U2000000")
    return raw_zip(d / "meta.npz", [deflated("meta.npy", h + bytes(8_000_000))])


def _too_many(d, ctx):
    m = layer_file_with(d)
    m.update({f"params/x{i}.npy": b"" for i in range(checkpoint.MAX_MEMBERS)})
    return write_zip(d / "many.npz", m)


def _duplicate(d, ctx):
    m = layer_file_with(d)
    return raw_zip(d / "dup.npz", [stored(k, v) for k, v in m.items()] + [stored("params/bias_ih_l0.npy",
                                                                              npy(np.zeros(12)))])


def _overlap(d, ctx):
    m = layer_file_with(d)
    entries = [stored(k, v) for k, v in m.items() if k != "params/bias_hh_l0.npy"]
    w = m["params/bias_ih_l0.npy"]
    entries.append(("params/bias_hh_l0.npy", None, zipfile.ZIP_STORED, zlib.crc32(w), len(w), 0))
    return raw_zip(d / "overlap.npz", entries)


def _encrypted(d, ctx):
    return raw_zip(d / "enc.npz", [stored(k, v, flags=1 if k != "meta.npy" else 0)
                                   for k, v in layer_file_with(d).items()])


def _meta_bytes(meta_array):
    return _w("m.npz", lambda d, m: layer_file_with(d, {"meta.npy": npy(meta_array)}))


def _meta_text(text: str):
    return _w("m.npz", lambda d, m: layer_file_with(d, {"meta.npy": meta_npy(text)}))


def _meta_code_point(cp: int):
    def build(d, m):
        raw = bytearray(meta_npy(json.dumps(META["rnnx-layer"])))
        raw[-4:] = struct.pack("<I", cp)
        return layer_file_with(d, {"meta.npy": bytes(raw)})
    return _w("m.npz", build)


def _with_meta(kind, change):
    def build(d, m):
        meta = json.loads(json.dumps(META[kind]))
        change(meta)
        return write_zip(d / f"{kind}.npz", members_of(meta, groups_of(kind)))
    return build


def _bytes_file(data: bytes):
    def build(d, m):
        (d / "f.npz").write_bytes(data)
        return str(d / "f.npz")
    return build


def _good_bytes():
    b = BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        for k, v in layer_file_with(None).items():
            z.writestr(k, v)
    return b.getvalue()


GOOD = _good_bytes()

FILE_CASES = [
    pytest.param(_w("pickle.npz", _pickled), "array params/weight_ih_l0 has dtype object", id="pickle-object-array"),
    pytest.param(_w("pickle.npz", _pickled_meta), "the meta record is a object array", id="pickle-as-meta"),
    pytest.param(_w("pickle.npz", _raw_pickle), "has no valid .npy header", id="raw-pickle-member"),
    pytest.param(_bomb_claims_shape, "weight_ih_l0 has shape (268435456,), expected (12, 2)", id="bomb-header-shape"),
    pytest.param(_bomb_lies_about_size, "claims 2147483648 bytes, its header implies 320", id="bomb-directory-size"),
    pytest.param(_bomb_consistent_but_impossible, "more than its compression can give", id="bomb-consistent-sizes"),
    pytest.param(_huge_meta, "the meta record claims 8000128 bytes; at most 4194304", id="bomb-meta"),
    pytest.param(_too_many, "members; an rnnx file has at most 4096", id="too-many-members"),
    pytest.param(_duplicate, "member 'params/bias_ih_l0.npy' appears twice", id="duplicate-member"),
    pytest.param(_overlap, "overlaps another", id="overlapping-members"),
    pytest.param(_encrypted, "is encrypted", id="encrypted-member"),
    pytest.param(_w("bz.npz", layer_file_with(None), compression=zipfile.ZIP_BZIP2), "compression method 12",
                 id="bzip2-member"),
    pytest.param(_w("x.npz", layer_file_with(None, {"README.txt": b"hi"})), "'README.txt' is not a .npy array",
                 id="non-npy-member"),
    *[pytest.param(_bad_dtype(a), f"params/weight_ih_l0 has dtype {a.dtype}; expected float16, float32 or float64",
                   id=f"dtype-{name}")
      for name, a in [("int64", np.zeros((12, 2), np.int64)), ("complex128", np.zeros((12, 2), np.complex128)),
                      ("bool", np.zeros((12, 2), bool)), ("object", np.full((12, 2), None, object)),
                      ("structured", np.zeros((12, 2), [("a", "<f8")])), ("unicode", np.full((12, 2), "x"))]],
    pytest.param(_w("s.npz", layer_file_with(None, {"params/weight_ih_l0.npy": npy(np.zeros((12, 3)))})),
                 "does not fit LSTM(2, 3): params/weight_ih_l0 has shape (12, 3), expected (12, 2)", id="shape-wrong"),
    pytest.param(_w("s.npz", layer_file_with(None, {"params/bias_ih_l0.npy": npy(np.zeros(()))})),
                 "params/bias_ih_l0 has shape (), expected (12,)", id="shape-scalar"),
    pytest.param(_w("s.npz", layer_file_with(None, drop=["params/bias_hh_l0.npy"])),
                 "does not fit LSTM(2, 3): missing ['params/bias_hh_l0']", id="array-missing"),
    pytest.param(_w("s.npz", layer_file_with(None, {"params/extra.npy": npy(np.zeros(2))})),
                 "unexpected array 'params/extra'", id="array-extra"),
    pytest.param(_w("s.npz", layer_file_with(None, {"best/weight_ih_l0.npy": npy(np.zeros((12, 2)))})),
                 "unexpected array 'best/weight_ih_l0'", id="group-extra"),
    pytest.param(_w("s.npz", layer_file_with(None, drop=["meta.npy"])), "not an rnnx checkpoint (no meta record)",
                 id="no-meta"),
    pytest.param(_bytes_file(npy(np.zeros(3))), "is a bare array (.npy)", id="bare-npy"),
    pytest.param(_bytes_file(b"not a zip file at all"), "is not an rnnx file (.npz): it is not a zip archive",
                 id="not-a-zip"),
    pytest.param(_bytes_file(b""), "is empty, not an rnnx file (.npz)", id="empty-file"),
    pytest.param(_bytes_file(GOOD[: len(GOOD) // 2]), "is corrupt or truncated", id="truncated-half"),
    pytest.param(_bytes_file(GOOD[:100]), "is corrupt or truncated", id="truncated-100"),
    pytest.param(_bytes_file(b"PK\x03\x04garbage"), "is corrupt or truncated", id="zip-garbage"),
    pytest.param(lambda d, m: str(d), "is a folder, expected an rnnx .npz file", id="folder"),
    pytest.param(lambda d, m: str(d / "none.npz"), "does not exist", id="missing-file"),
    pytest.param(_meta_bytes(np.asarray(b"\xff\xfe{}")), "the meta record is a |S4 array", id="meta-non-utf8-bytes"),
    pytest.param(_meta_code_point(0xD800), "the meta record is not valid text", id="meta-surrogate"),
    pytest.param(_meta_code_point(0xFFFFFFFF), "the meta record is not valid text", id="meta-code-point-2**32-1"),
    pytest.param(_meta_bytes(np.asarray(["{}", "{}"])), "of shape (2,); expected a unicode string", id="meta-1d"),
    pytest.param(_meta_bytes(np.asarray(7)), "the meta record is a int64 array", id="meta-int"),
    pytest.param(_meta_text("[" * 100_000 + "]" * 100_000), "nested too deeply", id="json-deep-nesting"),
    pytest.param(_meta_text('{"a": ' * 50_000 + "1" + "}" * 50_000), "nested too deeply", id="json-deep-objects"),
    pytest.param(_meta_text("[1, 2]"), "meta: expected a JSON object, got list", id="json-list"),
    pytest.param(_meta_text('"text"'), "meta: expected a JSON object, got str", id="json-string"),
    pytest.param(_meta_text("{'kind': 1}"), "has an unreadable meta record", id="json-bad"),
    pytest.param(_meta_text("1" * 5000), "has an unreadable meta record", id="json-huge-int"),
]


# -- the meta record: every field missing, of the wrong kind, out of range (a table) -----------------
BAD_LAYER = {**LAYER.config(), "hidden_size": -3}
BAD_MODEL = {**MODEL.config(), "hidden_size": -3}
#: kind -> field -> (a value of the wrong type, a value out of range or None, the message of that one)
FIELD_TABLE = {
    "rnnx-layer": {"layer": ("LSTM", BAD_LAYER, "meta.layer.hidden_size: expected a positive int, got -3")},
    "rnnx-model": {"model": ([1], BAD_MODEL, "meta.model.hidden_size: expected a positive int, got -3"),
                   "frozen": ("bias_hh_l0", ["nope"], "meta.frozen: ['nope'] are not parameters of")},
    "rnnx-forecaster": {"model": ({}, BAD_MODEL, "meta.model.hidden_size: expected a positive int, got -3"),
                        "forecaster": ([], None, None)},
    "model": {
        "model": (3, {**MODEL.config(), "cell": "xx"}, "meta.model.cell: expected one of"),
        "norm": ("x", [0.0, 0.0], "meta.norm: expected [mean, std]"),
        "window": ("10", 0, "meta.window: expected an int >= 1, got 0"),
        "horizon": (1.0, -1, "meta.horizon: expected an int >= 1, got -1"),
        "dtype": (32, "float16", "meta.dtype: expected one of 'float32', 'float64', got 'float16'"),
        "settings": ([], None, None),
        "data": ("x", {**CSV, "path": "series.csv"}, "meta.data.path: expected an absolute path, got 'series.csv'"),
        "scalers": ("x", [], "meta.scalers: expected a list of [mean, std]"),
        "target_norms": ({}, [[0.0, 1.0], [0.0, 0.0]], "meta.target_norms[1]: expected [mean, std]"),
    },
    "checkpoint": {
        "settings": ("x", None, None),
        "model": ([], {**MODEL.config(), "dropout": 2.0}, "meta.model.dropout: expected a probability"),
        "epoch": (1.5, -1, "meta.epoch: expected an int >= 0, got -1"),
        "opt_step": (True, -2, "meta.opt_step: expected an int >= 0, got -2"),
        "history": ({}, [{"val_mse": "x"}], "meta.history[0].val_mse: expected a number or null, got 'x'"),
        "best_val": ("inf", float("nan"), "meta.best_val: expected a number (inf allowed), got nan"),
        "best_epoch": (None, -1, "meta.best_epoch: expected an int >= 0"),
        "clipped": ("0", -1, "meta.clipped: expected an int >= 0"),
        "updates": (2.0, -1, "meta.updates: expected an int >= 0"),
        "norm": ([0.5], [0.5, float("inf")], "meta.norm: expected [mean, std]"),
        "rng": ([], None, None),
        "data": ([], {**CSV, "sha256": "ABC"}, "meta.data.sha256: expected 64 lowercase hex digits, got 'ABC'"),
        "finished": (3, None, None),
        "epochs": ("3", 0, "meta.epochs: expected an int >= 1, got 0"),
        "patience_from": (0.5, -1, "meta.patience_from: expected an int >= 0, got -1"),
        "scalers": ([0.5, 1.0], [[0.0, 1.0], [0.0, -1.0]], "meta.scalers[1]: expected [mean, std]"),
        "target_norms": ("x", [], "meta.target_norms: expected a list of [mean, std], one per target column"),
    },
    "fit-state": {
        "model": ("x", {**MODEL.config(), "cell": "xx"}, "meta.model.cell: expected one of"),
        "epoch": ("2", -1, "meta.epoch: expected an int >= 0, got -1"),
        "updates": (2.5, -1, "meta.updates: expected an int >= 0"),
        "opt_step": (None, -1, "meta.opt_step: expected an int >= 0"),
        "history": ("x", [{"loss": "x"}], "meta.history[0].loss: expected a number or null, got 'x'"),
        "best_score": ("x", float("nan"), "meta.best_score: expected a number (inf allowed), got nan"),
        "best_epoch": (1.5, -1, "meta.best_epoch: expected an int >= 0"),
        "settings": (3, None, None),
        "callbacks": ({}, [{"seen": 1}, 2], "meta.callbacks: expected a list of JSON objects"),
        "clipped": ("1", -1, "meta.clipped: expected an int >= 0"),
    },
    "text-state": {
        "model": ("x", {**MODEL.config(), "hidden_size": 0}, "meta.model.hidden_size: expected a positive int"),
        "updates": ("9", -1, "meta.updates: expected an int >= 0, got -1"),
        "opt_step": (1.0, -1, "meta.opt_step: expected an int >= 0"),
        "history": ({}, [{"loss": "x"}], "meta.history[0].loss: expected a number or null, got 'x'"),
        "window": (3.5, [None, 2], "meta.window: expected [sum, count]: a finite number and an int >= 1, or [null, 0]"),
        "streams": ("2", 0, "meta.streams: expected an int >= 1, got 0"),
        "settings": ([], None, None),
        "run": ("x", None, None),
    },
    "fit-state-2": {
        "model": ("x", {**MODEL.config(), "num_layers": 0}, "meta.model.num_layers: expected a positive int"),
        "epoch": ("2", -1, "meta.epoch: expected an int >= 0, got -1"),
        "updates": (8.0, -1, "meta.updates: expected an int >= 0"),
        "opt_step": (None, -1, "meta.opt_step: expected an int >= 0"),
        "history": ("x", [{"loss": [1]}], "meta.history[0].loss: expected a number or null, got [1]"),
        "best_score": ("x", float("nan"), "meta.best_score: expected a number (inf allowed), got nan"),
        "best_epoch": (1.5, -1, "meta.best_epoch: expected an int >= 0"),
        "clipped": ("1", -1, "meta.clipped: expected an int >= 0"),
        "callbacks": ({}, [{"seen": 1}, "x"], "meta.callbacks: expected a list of JSON objects"),
        "settings": (3, None, None),
        "run": ([], None, None),
        "streams": ("2", 0, "meta.streams: expected an int >= 1, got 0"),
    },
}
OPTIONAL = {("model", "data"), ("checkpoint", "data"), ("checkpoint", "finished"), ("checkpoint", "epochs"),
            ("checkpoint", "patience_from"), ("model", "scalers"), ("checkpoint", "scalers"),
            ("model", "target_norms"), ("checkpoint", "target_norms"), ("text-state", "run"), ("rnnx-model", "frozen"),
            ("fit-state", "callbacks"), ("fit-state", "clipped"), ("fit-state-2", "streams")}


def _set(field, value):
    return lambda m: m.__setitem__(field, value)


def _field_cases():
    for kind, fields in FIELD_TABLE.items():
        for field, (wrong, out_of_range, msg) in fields.items():
            if (kind, field) not in OPTIONAL:
                yield pytest.param(_with_meta(kind, lambda m, f=field: m.pop(f)), f"meta.{field}: missing",
                                   id=f"{kind}-{field}-missing")
            yield pytest.param(_with_meta(kind, _set(field, wrong)), f"meta.{field}",
                               id=f"{kind}-{field}-wrong-type")
            if out_of_range is not None:
                yield pytest.param(_with_meta(kind, _set(field, out_of_range)), msg, id=f"{kind}-{field}-out-of-range")
        yield pytest.param(_with_meta(kind, _set("colour", "red")), "meta: unexpected field(s) ['colour']",
                           id=f"{kind}-unknown-field")
    for sub, value, msg in [("kind", "url", "meta.data.kind: expected one of 'preset', 'csv'"),
                            ("path", None, "meta.data.path: expected an absolute path, got None"),
                            ("bytes", -1, "meta.data.bytes: expected an int >= 0 or null, got -1"),
                            ("bytes", True, "meta.data.bytes: expected an int >= 0 or null, got True"),
                            ("extra", 1, "meta.data: unexpected field(s) ['extra']")]:
        yield pytest.param(_with_meta("checkpoint", lambda m, s=sub, v=value: m["data"].__setitem__(s, v)), msg,
                           id=f"checkpoint-data-{sub}-{value}")
    yield pytest.param(_with_meta("checkpoint", lambda m: m["data"].pop("bytes")), "meta.data.bytes: missing",
                       id="checkpoint-data-bytes-missing")
    for field, value, msg in [("format", None, "meta.format: missing (not an rnnx file)"),
                              ("format", "other", "meta.format: expected 'rnnx-checkpoint', got 'other'"),
                              ("version", 2, "meta.version: expected 1, got 2"),
                              ("version", True, "meta.version: expected 1, got True"),
                              ("version", "1", "meta.version: expected 1, got '1'"),
                              ("kind", None, "meta.kind: missing"),
                              ("kind", "weights", "meta.kind: expected one of"),
                              ("kind", 3, "meta.kind: expected one of")]:
        change = (lambda m, f=field: m.pop(f)) if value is None else _set(field, value)
        yield pytest.param(_with_meta("rnnx-model", change), msg, id=f"header-{field}-{value}")
    for label, value, msg in [
            ("fit-state-2", 3, "meta.version: expected one of 1, 2, got 3 (this rnnx reads fit-state versions 1, 2)"),
            ("fit-state", 0, "meta.version: expected one of 1, 2, got 0"),
            ("text-state", 2, "meta.version: expected 1, got 2"),
            ("fit-state", 2, "meta.clipped: missing"),  # a version 1 record called version 2
            ("fit-state-2", 1, "meta: unexpected field(s) ['run', 'streams']")]:  # and the other way round
        yield pytest.param(_with_meta(label, _set("version", value)), msg, id=f"version-{label}-{value}")
    yield pytest.param(_with_meta("fit-state-2", lambda m: m.pop("streams")), "unexpected array 'state/h'",
                       id="fit-state-2-state-without-streams")
    yield pytest.param(_with_meta("rnnx-layer", _set("layer", {"type": "LSTMX", "input_size": 2, "hidden_size": 3})),
                       "meta.layer.type: expected 'RNN', 'LSTM' or 'GRU'", id="rnnx-layer-old-type-unknown")
    yield pytest.param(_with_meta("rnnx-model", lambda m: m["model"].pop("hidden_size")),
                       "meta.model.hidden_size: missing", id="rnnx-model-hidden-missing")
    yield pytest.param(_with_meta("rnnx-model", _set("model", {**MODEL.config(), "foo": 1})),
                       "meta.model.foo: not an option of LSTM", id="rnnx-model-unknown-option")


CASES = FILE_CASES + list(_field_cases())


@pytest.fixture
def crafted(tmp_path, bomb_data):
    """builder -> (the crafted file's path, the file a pickle in it would create)."""
    ctx = SimpleNamespace(marker=tmp_path / "PICKLE-RAN", bomb=bomb_data)
    files = tmp_path / "files"
    files.mkdir()
    return lambda builder: (builder(files, ctx), ctx.marker)


def _message_ok(msg: str, path: str, fragment: str) -> None:
    assert "\n" not in msg and repr(path) in msg and fragment in msg, msg


@pytest.mark.parametrize("builder, fragment", CASES)
def test_load_refuses_crafted_file(crafted, builder, fragment):
    path, marker = crafted(builder)
    with pytest.raises(FileFormatError) as e:
        rnnx.load(path)
    _message_ok(str(e.value), path, fragment)
    assert str(e.value).startswith("load: ")
    with pytest.raises(checkpoint.CheckpointError) as e2:
        checkpoint.load(path)
    _message_ok(str(e2.value), path, fragment)
    assert not marker.exists(), "a pickle in the file was run"


@pytest.mark.parametrize("builder, fragment", CASES)
def test_cli_load_refuses_crafted_file(crafted, capsys, builder, fragment):
    path, marker = crafted(builder)
    capsys.readouterr()
    assert main(["load", path]) == 2
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnnx load: error: load: "), err
    assert "internal error" not in err and "Traceback" not in err and fragment in err, err
    assert out == "" and not marker.exists()


def test_the_cases_cover_every_field():
    """Every field of every kind in :mod:`rnnx.io.schema` has its row in the table."""
    for kind in schema.FIELDS:
        assert set(FIELD_TABLE[kind]) == set(schema.FIELDS[kind]) | set(schema.OPTIONAL[kind])
    for kind, version in schema.VERSIONED:
        assert META[f"{kind}-{version}"]["version"] == version
    assert set(FIELD_TABLE) == set(META)
    for label in META:
        required, optional = fields_of(label)
        assert set(FIELD_TABLE[label]) == set(required) | set(optional), label
    assert OPTIONAL == {(label, f) for label in META for f in fields_of(label)[1]}


def test_random_damage_is_a_clean_error_or_a_good_load(tmp_path):
    """300 seeded truncations and byte flips of a good file: each loads (a flip in padding)
    or raises FileFormatError; nothing else escapes."""
    rng = np.random.default_rng(0)
    path = tmp_path / "f.npz"
    outcomes = {"loaded": 0, "refused": 0}
    for i in range(300):
        raw = bytearray(GOOD)
        if i % 3 == 0:
            raw = raw[: int(rng.integers(0, len(raw)))]
        else:
            for _ in range(int(rng.integers(1, 4))):
                raw[int(rng.integers(0, len(raw)))] = int(rng.integers(0, 256))
        path.write_bytes(bytes(raw))
        try:
            rnnx.load(str(path))
            outcomes["loaded"] += 1
        except FileFormatError as e:
            assert "\n" not in str(e)
            outcomes["refused"] += 1
    assert outcomes["refused"] > 200, outcomes


def test_bomb_fails_fast_and_small(tmp_path, bomb_data):
    """The 2 MB file whose member claims 2 GiB: refused after decompressing < 1 MiB, with
    < 50 MB more memory (ru_maxrss in a fresh process, after imports).  The work is bounded
    by what it does (bytes inflated, bytes read), not by seconds: CI machines are loaded."""
    path = bomb_file(tmp_path / "bomb.npz", bomb_data)
    assert os.path.getsize(path) < 3 * 2**20
    code = textwrap.dedent(f"""
        import json, resource, zipfile
        import rnnx
        inflated = [0]
        real = zipfile.zlib.decompressobj

        class Counting:  # every byte zipfile inflates passes here
            def __init__(self, *a, **k):
                self._d = real(*a, **k)
            def decompress(self, *a, **k):
                out = self._d.decompress(*a, **k)
                inflated[0] += len(out)
                return out
            def flush(self, *a):
                out = self._d.flush(*a)
                inflated[0] += len(out)
                return out
            def __getattr__(self, name):
                return getattr(self._d, name)

        zipfile.zlib.decompressobj = Counting

        def rchar():
            try:
                with open("/proc/self/io") as f:
                    return next(int(ln.split()[1]) for ln in f if ln.startswith("rchar:"))
            except OSError:
                return 0
        r0, c0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, rchar()
        try:
            rnnx.load({str(path)!r})
            err = None
        except rnnx.io.files.FileFormatError as e:
            err = str(e)
        print(json.dumps({{"inflated": inflated[0], "read": rchar() - c0,
                          "extra_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - r0, "error": err}}))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=600)
    got = json.loads(r.stdout)
    assert got["error"] and "has shape (268435456,), expected (12, 2)" in got["error"]
    assert 0 < got["inflated"] < 2**20, got  # the member's header, not its 2 GiB
    assert got["read"] < 4 * 2**20 and got["extra_kib"] < 50 * 1024, got


# -- files that must load ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(META))
def test_every_kind_loads_with_and_without_its_optional_fields(tmp_path, kind):
    for drop in ((), tuple(fields_of(kind)[1])):
        meta = {k: v for k, v in META[kind].items() if k not in drop}
        want = {g: d for g, d in groups_of(kind).items() if g != "state" or "streams" in meta}
        path = write_zip(tmp_path / f"{kind}.npz", members_of(meta, want))
        got, groups = checkpoint.load(path)
        assert got["kind"] == META[kind]["kind"] and set(groups) == set(want)
        assert all(np.array_equal(groups[g][k], v) for g, d in want.items() for k, v in d.items())


def test_first_format_files_still_load(tmp_path):
    """A layer stored as {"type": "GRU", ...} (the first format) and a model config holding
    ``nonlinearity='tanh'`` for an LSTM and ``batch_first`` (before the cell spec)."""
    gru = rnnx.GRU(2, 3, reset_after=False)
    old_layer = {"type": "GRU", "input_size": 2, "hidden_size": 3, "num_layers": 1, "bias": True,
                 "batch_first": False, "bidirectional": False, "reset_after": False}
    path = write_zip(tmp_path / "old.npz", members_of({**HEAD, "kind": "rnnx-layer", "layer": old_layer},
                                                      {"params": gru.init_params(np)}))
    assert rnnx.load(path)[0] == gru
    old_model = {"cell": "lstm", "input_size": 1, "hidden_size": 4, "output_size": 1, "num_layers": 1,
                 "bidirectional": False, "batch_first": False, "nonlinearity": "tanh", "output_activation": "none",
                 "objective": "many-to-one"}
    path = write_zip(tmp_path / "oldm.npz", members_of({**HEAD, "kind": "rnnx-model", "model": old_model},
                                                       {"params": MODEL_P}))
    assert rnnx.load(path)[0].config() == MODEL.config()


def test_float16_big_endian_and_fortran_arrays_load_native(tmp_path):
    p = {k: v.astype(">f4") for k, v in LAYER_P.items()}
    p["weight_ih_l0"] = np.asfortranarray(LAYER_P["weight_ih_l0"].astype(np.float16))
    path = write_zip(tmp_path / "be.npz", members_of(META["rnnx-layer"], {"params": p}), compression=zipfile.ZIP_DEFLATED)
    _, groups = checkpoint.load(path)
    got = groups["params"]
    assert got["weight_hh_l0"].dtype == np.float32 and got["weight_hh_l0"].dtype.isnative
    assert got["weight_ih_l0"].dtype == np.float16 and np.array_equal(got["weight_ih_l0"], p["weight_ih_l0"])
    _, on = rnnx.load(path)
    assert on["weight_hh_l0"].dtype == np.float32


# -- saving ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.complex128, np.bool_, object])
def test_save_refuses_non_float_arrays_and_writes_nothing(tmp_path, dtype):
    bad = {**LAYER_P, "weight_hh_l0": np.zeros((12, 3), dtype=dtype)}
    with pytest.raises(TypeError, match=rf"^params: weight_hh_l0 has dtype {np.dtype(dtype)}; expected a real float"):
        rnnx.save(str(tmp_path / "l.npz"), LAYER, bad)
    with pytest.raises(TypeError, match=rf"^groups: params/weight_hh_l0 has dtype {np.dtype(dtype)}"):
        checkpoint.save(str(tmp_path / "c.npz"), {"kind": "rnnx-layer", "layer": LAYER.config()}, {"params": bad},
                        to_numpy=np.asarray)
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_to_overwrite_and_keeps_the_old_file(tmp_path):
    path = str(tmp_path / "l.npz")
    rnnx.save(path, LAYER, LAYER_P)
    before = Path(path).read_bytes()
    with pytest.raises(FileExistsError) as e:
        rnnx.save(path, LAYER, rnnx.LSTM(2, 3).init_params(np, seed=9))
    assert str(e.value) == f"path: {path!r} exists; pass overwrite=True to replace it"
    assert Path(path).read_bytes() == before and os.listdir(tmp_path) == ["l.npz"]
    rnnx.save(path, LAYER, rnnx.LSTM(2, 3).init_params(np, seed=9), overwrite=True)
    assert Path(path).read_bytes() != before


def test_overwrite_keeps_permission_bits_and_new_files_follow_umask(tmp_path):
    path = str(tmp_path / "l.npz")
    old = os.umask(0o027)
    try:
        rnnx.save(path, LAYER, LAYER_P)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
        os.chmod(path, 0o600)
        rnnx.save(path, LAYER, LAYER_P, overwrite=True)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    finally:
        os.umask(old)


def test_temporary_is_named_with_the_pid(tmp_path, monkeypatch):
    seen = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (seen.append(os.path.basename(a)), real(a, b)))
    path = str(tmp_path / "l.npz")
    checkpoint.save(path, META["rnnx-layer"], {"params": LAYER_P}, to_numpy=np.asarray)
    assert len(seen) == 1 and re.fullmatch(rf"\.rnnx-tmp-{os.getpid()}-[0-9a-f]{{16}}-[^/]+\.npz", seen[0]), seen
    seen.clear()
    rnnx.save(str(tmp_path / "new.npz"), LAYER, LAYER_P)  # a new file without overwrite: linked, not renamed
    assert seen == [] and sorted(os.listdir(tmp_path)) == ["l.npz", "new.npz"]


@pytest.mark.parametrize("overwrite", [True, False])
def test_a_failing_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, overwrite):
    path = str(tmp_path / ("l.npz" if overwrite else "new.npz"))
    rnnx.save(str(tmp_path / "l.npz"), LAYER, LAYER_P)
    before = (tmp_path / "l.npz").read_bytes()

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(np, "savez", full)
    with pytest.raises(OSError) as e:
        rnnx.save(path, LAYER, LAYER_P, overwrite=overwrite)
    assert e.value.errno == errno.ENOSPC and e.value.filename == path
    assert sorted(os.listdir(tmp_path)) == ["l.npz"] and (tmp_path / "l.npz").read_bytes() == before


def test_save_into_a_missing_folder_names_the_path(tmp_path):
    path = str(tmp_path / "no" / "l.npz")
    with pytest.raises(FileNotFoundError) as e:
        rnnx.save(path, LAYER, LAYER_P)
    assert e.value.filename == path


def test_saved_file_round_trips_through_the_checks(tmp_path):
    for obj, p in ((LAYER, LAYER_P), (MODEL, MODEL_P)):
        path = str(tmp_path / f"{type(obj).__name__}.npz")
        rnnx.save(path, obj, p)
        back, q = rnnx.load(path)
        assert back.config() == obj.config() and all(np.array_equal(q[k], p[k]) for k in p)


def test_host_copies_through_the_backend(monkeypatch):
    from rnnx.interop._common import host

    a = np.ones(3)
    h = host(a)
    assert h is not a and np.array_equal(h, a)
    torch = pytest.importorskip("torch")
    t = torch.ones(2, requires_grad=True)
    assert np.array_equal(host(t), np.ones(2))
    import rnnx.backends as backends

    calls = []
    real = backends.to_numpy
    monkeypatch.setattr(backends, "to_numpy", lambda x: (calls.append(type(x).__name__), real(x))[1])
    host(t)
    assert calls == ["Tensor"]


def test_cli_save_refuses_to_overwrite_unless_asked(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    torch.save(torch.nn.GRU(3, 4).state_dict(), tmp_path / "gru.pt")
    out = tmp_path / "gru.npz"
    out.write_bytes(b"precious")
    os.chmod(out, 0o600)
    assert main(["save", "--from-torch", str(tmp_path / "gru.pt"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "--out: " in err and "pass --overwrite" in err, err
    assert out.read_bytes() == b"precious"
    assert main(["save", "--from-torch", str(tmp_path / "gru.pt"), "--out", str(out), "--overwrite"]) == 0
    assert rnnx.load(str(out))[0] == rnnx.GRU(3, 4) and stat.S_IMODE(os.stat(out).st_mode) == 0o600
