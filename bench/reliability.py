"""Careless and hostile use of the ``rnnx`` command line, counted.

Run (from the repository root, about 4-6 minutes on 2 cores):

    python bench/reliability.py [--json docs/reliability-tally.json] [--kills N] [--only CATEGORY[,CATEGORY]]

(``--only``: the cases of the categories whose names contain one of the words; cases that
need a fixture an earlier category made make it themselves, e.g. ``once_run("po")``.)

It makes a temporary working folder, trains one base run there (``--preset seed001``) and
a few small fixtures, then runs every case of :data:`CASES` as a real subprocess
(``python -m rnnx ...``, cwd = the working folder).  For each case it records the command,
the exit status and stderr, and checks:

  (a) exit status: 0 where success is the right outcome; for a refusal 2 (usage) or 1
      (runtime) as the case says ("refuse" accepts either), 128+N after signal N;
  (b) a refusal prints exactly one non-empty stderr line, naming the argument or file;
  (c) no "Traceback" on stderr;
  (d) no "internal error" on stderr (every case here is a user mistake, not an rnnx bug);
  (e) the sha256 and mode of every file under the working folder are unchanged after a
      refused or failed command (after a successful one, outside its own outputs); a file
      that existed before and changed or vanished (or one a case's ``unchanged`` check
      names) is counted as a "file lost";
  (f) no rnnx temporary (``.rnnx-tmp-<pid>-<16 hex>-<name>``, or ``*.tmp``) is left anywhere
      under the working folder (a user's ``.tmp-*`` file is not one);
  (g) no code ran because a file said so: the marker file a crafted pickle's ``__reduce__``
      would create is absent, and for a case with ``listen=True`` no connection reached the
      listening TCP socket the harness opened on 127.0.0.1 before the case (its port is the
      global ``PORT`` while the case's setup runs, for a file to name; the pending
      connections are counted with non-blocking ``accept`` after the case);
plus each case's own check (``check``: e.g. a finished run resumed rewrites nothing).

Then a SIGKILL loop: ``rnnx train --preset seed001 --epochs 70 --quiet`` killed at seeded
random moments (``--kills``, default 20) and resumed until finished, its ``model.npz``
parameters compared bit for bit with an uninterrupted run (``rnnx.io.checkpoint.load``).

At the end it prints a table (cases per category, clean one-line errors, tracebacks,
"internal error", files modified by failed/refused commands, files lost, code run by a file
(pickles run + connections made because a file said so), temporaries left, kills survived)
and every case that violated a check, and writes the same as JSON with --json.
"""

from __future__ import annotations

import argparse
import math
import datetime
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

import numpy as np

PY = sys.executable
W = ""  # the working folder (set in main)
MARKER = ""  # a crafted pickle's __reduce__ creates this file
PORT = 0  # the port of the listening socket of a case with listen=True (set before its setup)
TIMEOUT = 30.0


# -- helpers -----------------------------------------------------------------------------------------
def p(*parts: str) -> str:
    return os.path.join(W, *parts)


def write(path: str, data: bytes | str) -> None:
    path = p(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def series_csv(n: int = 120, header: str = "t,v") -> str:
    return header + "\n" + "".join(f"{i},{np.sin(i / 5):.6f}\n" for i in range(n))


def copy_run(dst: str, src: str = "base") -> None:
    shutil.copytree(p("fixtures", src), p(dst), copy_function=shutil.copy2)


class Evil:
    """Unpickling this runs code that creates MARKER."""

    def __reduce__(self):
        return (exec, (f"open({MARKER!r}, 'w').write('pickle ran')",))


def npy(a: np.ndarray, allow_pickle: bool = False) -> bytes:
    b = io.BytesIO()
    np.lib.format.write_array(b, a, allow_pickle=allow_pickle)
    return b.getvalue()


def base_meta() -> dict:
    with np.load(p("fixtures", "base", "model.npz")) as z:
        return json.loads(str(z["meta"]))


def base_params() -> dict[str, np.ndarray]:
    with np.load(p("fixtures", "base", "model.npz")) as z:
        return {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith("params/")}


def craft_npz(dst: str, meta=None, params=None, extra: dict | None = None) -> None:
    """A run folder ``dst`` (copy of base) whose model.npz is rebuilt from ``meta`` (dict,
    str or ndarray), ``params`` (name -> array) and ``extra`` members (name -> bytes)."""
    copy_run(dst)
    meta = base_meta() if meta is None else meta
    params = base_params() if params is None else params
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        if isinstance(meta, np.ndarray):
            z.writestr("meta.npy", npy(meta, allow_pickle=meta.dtype == object))
        elif meta is not False:
            z.writestr("meta.npy", npy(np.asarray(meta if isinstance(meta, str) else json.dumps(meta))))
        for k, a in params.items():
            z.writestr(f"params/{k}.npy", npy(a, allow_pickle=getattr(a, "dtype", None) == object))
        for k, b in (extra or {}).items():
            z.writestr(k, b)
    with open(p(dst, "model.npz"), "wb") as f:
        f.write(buf.getvalue())


def bomb_npz(dst: str, gib: float = 1.0) -> None:
    """model.npz whose weight_hh_l0 member is a deflated run of zeros of ``gib`` GiB behind a
    header that declares that many float64s (a few MB on disk)."""
    copy_run(dst)
    n = int(gib * 2**30) // 8
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (n,)})
    params = base_params()
    with zipfile.ZipFile(p(dst, "model.npz"), "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("meta.npy", npy(np.asarray(json.dumps(base_meta()))))
        for k, a in params.items():
            if k != "weight_hh_l0":
                z.writestr(f"params/{k}.npy", npy(a))
        with z.open("params/weight_hh_l0.npy", "w", force_zip64=True) as f:
            f.write(header.getvalue())
            chunk = bytes(2**24)
            for _ in range(n * 8 // len(chunk)):
                f.write(chunk)


def meta_with(dst: str, **changes) -> None:
    """Craft model.npz with meta changed: ``key=value`` or ``model__key=value``; value
    DELETE removes the key."""
    m = base_meta()
    for k, v in changes.items():
        d, key = (m[k.split("__")[0]], k.split("__")[1]) if "__" in k else (m, k)
        if v is DELETE:
            d.pop(key, None)
        else:
            d[key] = v
    craft_npz(dst, meta=m)


DELETE = object()


def sha(path: str, st: os.stat_result, cache: dict = {}) -> str:
    key = (path, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if key not in cache:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for b in iter(lambda: f.read(2**20), b""):
                h.update(b)
        cache[key] = h.hexdigest()
    return cache[key]


def snapshot(root: str) -> dict[str, tuple]:
    """relative path -> (sha256 or link target, mode) of every file and symlink under root."""
    snap = {}
    for d, dirs, files in os.walk(root):
        for n in files + [x for x in dirs if os.path.islink(os.path.join(d, x))]:
            f = os.path.join(d, n)
            st = os.lstat(f)
            rel = os.path.relpath(f, root)
            if stat.S_ISLNK(st.st_mode):
                snap[rel] = ("link " + os.readlink(f), 0)
            elif stat.S_ISREG(st.st_mode):
                snap[rel] = (sha(f, st), stat.S_IMODE(st.st_mode))
            else:
                snap[rel] = ("special", stat.S_IMODE(st.st_mode))
    return snap


def temporaries(root: str) -> list[str]:
    """rnnx's own temporaries left under ``root`` (regular files named
    ``.rnnx-tmp-<pid>-<16 hex>-<name>``), and any ``*.tmp``; a user's ``.tmp-*`` is not one."""
    from rnnx.io.atomic import is_temporary

    return sorted(os.path.relpath(os.path.join(d, n), root) for d, _, fs in os.walk(root)
                  for n in fs if is_temporary(d, n) or n.endswith(".tmp"))


def metrics(run: str) -> dict:
    with open(p(run, "metrics.json")) as f:
        return json.load(f)


# -- case checks (each returns a list of problems) ---------------------------------------------------
def unchanged(*paths: str):
    """The listed files must exist afterwards with their old content (even on success); each
    that does not is also a file lost."""
    def check(r):
        lost = [x for x in paths if r["before"].get(x) != r["after"].get(x)]
        r.setdefault("lost_by_check", []).extend(lost)
        return [f"{x} changed or vanished" for x in lost]
    return check


def epochs_are(run: str, n: int):
    def check(r):
        got = metrics(run).get("epochs")
        return [] if got == n else [f"{run}/metrics.json epochs {got}, expected {n}"]
    return check


def optimizer_used(run: str, name: str, *slots: str):
    """The run's metrics.json says optimizer ``name`` and its checkpoint holds that optimizer's
    state (``opt.<slot>/<param>`` members for each slot): the flag was used, not ignored."""
    def check(r):
        got = (metrics(run).get("train") or {}).get("optimizer")
        with np.load(p(run, "checkpoint.npz")) as z:
            have = {k.split("/", 1)[0] for k in z.files if k.startswith("opt.")}
        want = {f"opt.{s}" for s in slots}
        return ([] if got == name else [f"{run}/metrics.json optimizer {got!r}, expected {name!r}"]) + \
            ([] if have == want else [f"{run}/checkpoint.npz optimizer state {sorted(have)}, expected {sorted(want)}"])
    return check


def stderr_has(*words: str):
    def check(r):
        return [f"stderr lacks {w!r}" for w in words if w not in r["stderr"]]
    return check


def stderr_lacks(*words: str):
    def check(r):
        return [f"stderr shows {w!r}" for w in words if w in r["stderr"] or w in r["stdout"]]
    return check


def exists(*paths: str):
    return lambda r: [f"{x} missing" for x in paths if not os.path.lexists(p(x))]


def absent(*paths: str):
    return lambda r: [f"{x} exists" for x in paths if os.path.lexists(p(x))]


def faster_than(seconds: float):
    return lambda r: [] if r["wall_s"] < seconds else [f"took {r['wall_s']:.1f} s (> {seconds} s)"]


def both(*checks):
    return lambda r: [m for c in checks for m in c(r)]


# -- the cases ---------------------------------------------------------------------------------------
T = ["train", "--quiet"]
SMALL = ["--epochs", "2", "--hidden", "4", "--window", "5"]  # a tiny CSV run


def csv_train(name: str, column: str = "v", *more: str) -> list[str]:
    return [*T, "--csv", name, "--column", column, *SMALL, "--out", "out/" + name.replace("/", "_"), *more]


def mk(path, data):
    return lambda: write(path, data)


def mkrun(dst, src="base"):
    return lambda: copy_run(dst, src)


def chain(*fs):
    return lambda: [f() for f in fs]


def latin1():
    os.makedirs(p("csv"), exist_ok=True)
    with open(p("csv/latin1.csv"), "wb") as f:
        f.write(("t,v\n" + "".join(f"{i},{i % 5}.5\n" for i in range(60))).encode() + b"caf\xe9,1\n" + b"61,2\n")


def symlink(target: str, name: str):
    def f():
        os.makedirs(os.path.dirname(p(name)) or W, exist_ok=True)
        os.symlink(target, p(name))
    return f


def passwd_model(dst: str, kind: str = "model"):
    """A run folder whose model.npz (and checkpoint) name /etc/passwd as the CSV."""
    def f():
        m = base_meta()
        m["settings"].update(preset=None, csv="/etc/passwd", column="root")
        m["data"] = {"kind": "csv", "path": "/etc/passwd", "sha256": "0" * 64, "bytes": 100}
        craft_npz(dst, meta=m)
    return f


def passwd_checkpoint(dst: str):
    def f():
        copy_run(dst, "early")
        with np.load(p(dst, "checkpoint.npz")) as z:
            members = {k: z[k] for k in z.files}
        m = json.loads(str(members["meta"]))
        run = m["run"] if m.get("kind") == "fit-state" else m  # the run's own record (an older file: the meta)
        run["settings"].update(preset=None, csv="/etc/passwd", column="root")
        run["data"] = {"kind": "csv", "path": "/etc/passwd", "sha256": "0" * 64, "bytes": 100}
        members["meta"] = np.asarray(json.dumps(m))
        np.savez(p(dst, "checkpoint.npz"), **members)
    return f



def torch_evil():
    import torch

    torch.save({"weight_ih_l0": Evil()}, p("evil.pt"))


def torch_good():
    import torch

    torch.save(torch.nn.GRU(1, 3).state_dict(), p("gru.pt"))


def deep_json(n: int) -> str:
    return '{"format": "rnnx-checkpoint", "version": 1, "kind": "model", "model": ' + "[" * n + "]" * n + "}"


def stale_tmp(run: str):
    def f():
        copy_run(run, "early")
        write(f"{run}/.rnnx-tmp-999999-deadbeefdeadbeef-checkpoint.npz", b"half a write")
    return f


def mutate_csv(path: str):
    def f():
        with open(p(path), "a") as fh:
            fh.write("999,0.5\n")
    return f


def checkpoint_settings(dst: str, src: str = "base", **settings):
    """A copy of the fixture ``src`` at ``dst`` whose checkpoint.npz stored TrainSettings (meta
    ``run.settings``; an older file's meta ``settings``) get ``settings`` (a callable value is called
    during setup: one naming ``PORT``, say)."""
    def f():
        copy_run(dst, src)
        with np.load(p(dst, "checkpoint.npz")) as z:
            members = {k: z[k] for k in z.files}
        m = json.loads(str(members["meta"]))
        run = m["run"] if m.get("kind") == "fit-state" else m
        run["settings"].update({k: v() if callable(v) else v for k, v in settings.items()})
        members["meta"] = np.asarray(json.dumps(m))
        np.savez(p(dst, "checkpoint.npz"), **members)
    return f



def here() -> str:
    """The address of the case's listening socket (``listen=True``), as a Dask scheduler's."""
    return f"tcp://127.0.0.1:{PORT}"


# -- issue 27 items 1, 7, 9a, 12: a run folder names no address or process count ---------------------
GIVEN: dict = {"count": 0}  # a listener for addresses given on the command line (dialling it is right)


def given_listener() -> str:
    """A TCP listener on 127.0.0.1 that accepts each connection, counts it and closes it (a
    Dask client dialling it fails fast): the address a user gives with --dask-scheduler."""
    if "address" not in GIVEN:
        import threading

        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        s.listen(64)

        def serve():
            while True:
                conn, _ = s.accept()
                GIVEN["count"] += 1
                conn.close()

        threading.Thread(target=serve, daemon=True).start()
        GIVEN["sock"], GIVEN["address"] = s, f"tcp://127.0.0.1:{s.getsockname()[1]}"
    return GIVEN["address"]


def counted():
    """Setup step: remember the given listener's count before the command."""
    GIVEN["before"] = GIVEN["count"]


def dialled():
    def check(r):
        return [] if GIVEN["count"] > GIVEN.get("before", 0) else ["the --dask-scheduler given was not dialled"]
    return check


def panel_fixture():
    """fixtures/panel: a finished 2-epoch classification run (--npz, 30 cases of 16 steps), made once."""
    if os.path.exists(p("fixtures", "panel", "classes.json")):
        return
    rng = np.random.default_rng(0)
    y = np.arange(30) % 2
    t = np.arange(16)
    x = np.sin(2 * np.pi * np.array([0.05, 0.3])[y][:, None] * t + rng.uniform(0, 6, 30)[:, None])
    os.makedirs(p("fixtures"), exist_ok=True)
    np.savez(p("fixtures", "panel.npz"), x=x[..., None], y=np.array(["slow", "fast"])[y])
    pr = subprocess.run([PY, "-m", "rnnx", *T, "--npz", "fixtures/panel.npz", "--hidden", "4", "--epochs", "2",
                         "--out", "fixtures/panel"], cwd=W, capture_output=True, text=True)
    if pr.returncode:
        sys.exit(f"fixture failed: panel run: {pr.stderr}")


def record_settings(dst: str, **changes):
    """A copy of fixtures/panel whose classes.json stores ``changes`` in its settings (a
    callable value is called during setup, as in checkpoint_settings)."""
    def f():
        panel_fixture()
        copy_run(dst, "panel")
        with open(p(dst, "classes.json")) as fh:
            rec = json.load(fh)
        rec["settings"].update({k: v() if callable(v) else v for k, v in changes.items()})
        write(f"{dst}/classes.json", json.dumps(rec))
    return f


def panel_model_misfit(dst: str):
    """A copy of fixtures/panel whose model.npz is a model of 5 outputs (the run has 2 classes)."""
    def f():
        import rnnx

        panel_fixture()
        copy_run(dst, "panel")
        m = rnnx.Model("gru", 1, 4, 5)
        rnnx.save(p(dst, "model.npz"), m, m.init_params(np), overwrite=True)
    return f


# -- issue 27 follow-ups: a run's file that is a link or a FIFO; a silent scheduler --------------------
def link_out(run: str, name: str):
    """Setup: ``RUN/NAME`` moved to ``elsewhere/RUN/NAME`` and a symbolic link to it left in its place."""
    def f():
        os.makedirs(p("elsewhere", run), exist_ok=True)
        shutil.copy2(p(run, name), p("elsewhere", run, name))
        os.unlink(p(run, name))
        os.symlink(p("elsewhere", run, name), p(run, name))
    return f


def fifo_at(run: str, name: str):
    """Setup: ``RUN/NAME`` replaced by a FIFO (no writer: a reader would wait forever)."""
    return lambda: (os.unlink(p(run, name)), os.mkfifo(p(run, name)))


def panel_copy(dst: str):
    """Setup: a copy of fixtures/panel (a finished 2-epoch classification run) in ``dst``."""
    return chain(panel_fixture, mkrun(dst, "panel"))


SILENT: dict = {}


def silent_scheduler() -> str:
    """The address of a TCP server on 127.0.0.1 that accepts connections and never answers (a
    scheduler Dask's own Client would wait for past any timeout); made once, at import."""
    if "address" not in SILENT:
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        held = SILENT.setdefault("held", [])

        def accept():
            while True:
                held.append(server.accept()[0])

        threading.Thread(target=accept, daemon=True).start()
        SILENT.update(server=server, address=f"tcp://127.0.0.1:{server.getsockname()[1]}")
    return SILENT["address"]



def text_first(dst: str, first: str):
    """A finished 3-update text run whose text.json 'first' is ``first`` (edited by hand)."""
    def f():
        write(f"{dst}-src.txt", "hello world, this is text. " * 40)
        pr = subprocess.run([PY, "-m", "rnnx", *T, "--text", f"{dst}-src.txt", "--max-updates", "3", "--hidden", "8",
                             "--out", dst], cwd=W, capture_output=True, text=True)
        if pr.returncode:
            sys.exit(f"setup failed: text run: {pr.stderr}")
        with open(p(dst, "text.json")) as fh:
            rec = json.load(fh)
        write(f"{dst}/text.json", json.dumps({**rec, "first": first}))
    return f


# -- issue 27: lock, outputs, temporaries, non-regular inputs (items 2, 3, 8, 9b) ------------------
SECRET = "api_key=SECRET-TOKEN-0123456789\n"


def fifo(name: str):
    """A FIFO at ``name`` (nobody writes it: a reader would wait forever)."""
    def f():
        if not os.path.lexists(p(name)):
            os.makedirs(os.path.dirname(p(name)) or W, exist_ok=True)
            os.mkfifo(p(name))
    return f


def lock_link(run: str, src: str | None = "early"):
    """``run`` (a copy of ``src``, or an empty folder) whose .rnnx.lock is a symbolic link to
    ``victim-<run>.txt`` outside it, a file holding a secret."""
    def f():
        if src:
            copy_run(run, src)
        else:
            os.makedirs(p(run))
        write(f"victim-{run}.txt", SECRET)
        os.chmod(p(f"victim-{run}.txt"), 0o600)
        os.symlink(f"../victim-{run}.txt", p(run, ".rnnx.lock"))
    return f


def lock_fifo(run: str):
    def f():
        os.makedirs(p(run))
        os.mkfifo(p(run, ".rnnx.lock"))
    return f


def lock_dir(run: str):
    def f():
        os.makedirs(p(run, ".rnnx.lock"))
        write(f"{run}/.rnnx.lock/inside", "x")
    return f


def good_ts(name: str = "good.ts"):
    return mk(name, "@problemName t\n@timeStamps false\n@univariate true\n@equalLength true\n"
              "@classLabel true a b\n@data\n" + "".join(f"1,2,3,{i},5,6,7,8:{'ab'[i % 2]}\n" for i in range(12)))


def once_run(dst: str, src: str = "base"):
    """A copy of the fixture ``src`` at ``dst``, made by the first case that needs it."""
    return lambda: os.path.lexists(p(dst)) or copy_run(dst, src)


def user_tmp(run: str):
    """A run whose folder holds a user's file and a folder named like temporaries."""
    def f():
        copy_run(run, "early")
        write(f"{run}/.tmp-999999-notes.txt", "my notes")
        os.makedirs(p(run, ".rnnx-tmp-999999-0123456789abcdef-checkpoint.npz"))
        write(f"{run}/.rnnx-tmp-999999-0123456789abcdef-checkpoint.npz/inside", "mine")
    return f


B = ["bench", "--sizes", "2,4,3,5", "--cells", "lstm", "--repeat", "1", "--warmup", "1", "--no-anchors",
     "--backend", "numpy"]
F_TRAIN = [*T, "--epochs", "1", "--out", "fo"]


# -- issue 27: bounds of every run kind, .ts values (items 4, 10) ----------------------------------
def small_npz(name: str = "cases.npz") -> None:
    """A 20 KB classification .npz: 40 cases of 30 steps, 2 features, two classes."""
    rng = np.random.default_rng(0)
    b = io.BytesIO()
    np.savez(b, x=rng.normal(size=(40, 30, 2)), y=np.arange(40) % 2)
    write(name, b.getvalue())


def int8_npz(name: str, shape=(2040, 1024, 1024)) -> None:
    """The issue's 2 MB deflated int8 .npz: x int8 of 2 GiB (16 GiB as float64) behind a
    valid header, zeros streamed through deflate (a few seconds), y (N,) int64."""
    n = int(np.prod(shape))
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|i1", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(p(name), "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("y.npy", npy(np.arange(shape[0]) % 2))
        with z.open("x.npy", "w", force_zip64=True) as f:
            f.write(header.getvalue())
            chunk = bytes(2**24)
            for _ in range(n // len(chunk)):
                f.write(chunk)
            f.write(bytes(n % len(chunk)))


def wide_text(name: str, n: int = 70000) -> None:
    """A UTF-8 text of ``n`` distinct characters (CJK and beyond, no surrogates)."""
    write(name, "".join(chr(c) for c in range(0x4E00, 0x4E00 + n + 2048) if not 0xD800 <= c < 0xE000)[:n])


TS_HEAD = ("@problemName t\n@timeStamps false\n@missing true\n@univariate true\n@equalLength false\n"
           "@classLabel true a b\n@data\n")


# -- issue 27: signals of every long command, results near 1.7e308 (items 5, 6) --------------------
def text_run(dst: str):
    """A finished character-model run in ``dst`` (for rnnx sample)."""
    def f():
        write(f"{dst}.txt", "the quick brown fox jumps over the lazy dog. " * 20)
        pr = subprocess.run([PY, "-m", "rnnx", *T, "--text", f"{dst}.txt", "--hidden", "8", "--seq-len", "10",
                             "--streams", "2", "--max-updates", "5", "--out", dst], cwd=W, capture_output=True, text=True)
        if pr.returncode:
            sys.exit(f"setup failed: rnnx train --text: {pr.stderr}")
    return f


def metrics_null_and_finished(run: str):
    """metrics.json exists with null (not finite) MSEs, and the checkpoint is marked finished."""
    def check(r):
        from rnnx.cli.runrecord import checkpoint_record
        from rnnx.io import checkpoint

        bad = []
        m = metrics(run)
        if m.get("test_mse") is not None:
            bad.append(f"{run}/metrics.json test_mse {m.get('test_mse')!r}, expected null (it overflows)")
        if not checkpoint_record(checkpoint.load(p(run, "checkpoint.npz"))[0]).get("finished"):
            bad.append(f"{run}/checkpoint.npz not marked finished")
        return bad
    return check



BIG_CSV = "t,v\n" + "".join(f"{i},{float(1.79e308 * (0.999 + 0.001 * np.sin(i)))!r}\n" for i in range(200))


LOAD_OK = ("cr-window", "cr-nan-params")  # rnnx load only describes a file: these may load
SIG = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP}

# -- issue 30 item 4: new-user messages, the figures, a bounded output activation, a run that explodes --
def not_zip(dst: str, name: str, src: str = "base"):
    """A copy of the run fixture ``src`` at ``dst`` whose ``name`` is a text file (README-like)."""
    return chain(mkrun(dst, src), lambda: write(f"{dst}/{name}", "# notes\n\nnot a model\n"))


def text_not_zip(dst: str):
    """A finished character-model run in ``dst`` whose model.npz is a text file."""
    return chain(text_run(dst), lambda: write(f"{dst}/model.npz", "# notes\n\nnot a model\n"))


def one_prefix(flag: str):
    """The line names ``flag`` once, and the library's own ``<param>:`` is not repeated after it."""
    def check(r):
        line = r["stderr"].strip()
        return [] if line.count(flag + ":") == 1 and f"{flag}: {flag.lstrip('-')}:" not in line \
            and "RNNX_BACKENDS" not in line else [f"not one {flag} prefix: {line!r}"]
    return check


NEW_USER_CASES = [
    # item 4 (last bullet): --backend tensorflow -> one prefix
    dict(cat="new user", argv=[*T, "--preset", "seed001", "--backend", "tensorflow", "--out", "nu1"], expect="usage",
         names="--backend: unknown backend 'tensorflow'", check=both(one_prefix("--backend"), absent("nu1"))),
    dict(cat="new user", argv=["predict", "--model", "nu2", "--backend", "tensorflow"], setup=mkrun("nu2"),
         expect="usage", names="--backend: unknown backend 'tensorflow'", check=one_prefix("--backend")),
    dict(cat="new user", argv=["bench", "--backend", "numpy,tensorflow"], expect="usage",
         names="--backend: unknown backend or target 'tensorflow'", check=one_prefix("--backend")),
    dict(cat="new user", argv=["parity", "--backend", "tensorflow"], expect="usage",
         names="--backend: unknown backend or target 'tensorflow'", check=one_prefix("--backend")),
    dict(cat="new user", argv=["demo", "--backends", "tensorflow"], expect="usage",
         names="--backends: unknown backend or target 'tensorflow'", check=one_prefix("--backends")),
    # rnnx load README.md, and every reader of an rnnx file given a non-zip
    dict(cat="new user", argv=["load", "nu-readme.md"], setup=mk("nu-readme.md", "# a project\n\nwords\n"),
         expect="usage", names="is not an rnnx file (.npz): it is not a zip archive", check=stderr_lacks("BadZipFile")),
    dict(cat="new user", argv=["load", "nu-empty.npz"], setup=mk("nu-empty.npz", ""), expect="usage",
         names="is empty, not an rnnx file (.npz)"),
    *[dict(cat="new user", argv=[*argv, f"nu-{i}"], setup=not_zip(f"nu-{i}", name), expect="usage",
           names=f"nu-{i}/{name}' is not an rnnx file (.npz)", check=stderr_lacks("BadZipFile"))
      for i, (argv, name) in enumerate([(["predict", "--model"], "model.npz"), (["forecast", "--model"], "model.npz"),
                                        (["diagnose", "--model"], "model.npz"),
                                        ([*T, "--epochs", "3", "--resume"], "checkpoint.npz")], start=3)],
    dict(cat="new user", argv=["sample", "--model", "nu-text"], setup=text_not_zip("nu-text"), expect="runtime",
         names="--model: 'nu-text/model.npz' is not an rnnx file (.npz)", check=stderr_lacks("load:", "BadZipFile")),
    # a ';' or tab separated CSV
    dict(cat="new user", argv=csv_train("csv/semi.csv"), setup=mk("csv/semi.csv", series_csv(60).replace(",", ";")),
         expect="usage", names="the file looks ';'-separated; rnnx reads comma-separated CSV"),
    dict(cat="new user", argv=[*T, "--csv", "csv/tab.csv", "--targets", "v", *SMALL, "--out", "out/tab"],
         setup=mk("csv/tab.csv", series_csv(60).replace(",", "\t")), expect="usage",
         names="the file looks tab-separated; rnnx reads comma-separated CSV"),
    dict(cat="new user", argv=["forecast", "--model", "nu-f", "--csv", "csv/semi2.csv", "--column", "v"],
         setup=chain(mkrun("nu-f"), mk("csv/semi2.csv", series_csv(60).replace(",", ";"))), expect="usage",
         names="the file looks ';'-separated"),
    # rnnx --version; typos
    dict(cat="new user", argv=["--version"], expect="ok", check=lambda r: [] if r["stdout"].startswith("rnnx ")
         else [f"stdout {r['stdout']!r}"]),
    dict(cat="new user", argv=["trian", "--preset", "seed001"], expect="usage",
         names="unknown command 'trian'; did you mean 'train'?"),
    dict(cat="new user", argv=[*T, "--preset", "seed001", "--epohcs", "2", "--out", "nu-t"], expect="usage",
         names="unrecognized argument --epohcs; did you mean --epochs?", check=absent("nu-t")),
    dict(cat="new user", argv=[*T, "--preset", "seed001", "--epoch", "2", "--out", "nu-e"], expect="ok",
         changes=["nu-e"], check=epochs_are("nu-e", 2), note="argparse's abbreviation --epoch of --epochs comes first"),
]
# in CASES:  *NEW_USER_CASES,


def dated_csv(name: str, fmt: str = "%Y/%m/%d", n: int = 80, odd: dict | None = None):
    """A CSV ``date,v`` of ``n`` daily rows, the dates written with ``fmt`` (default the
    Seattle weather file's ``2012/01/31``); ``odd`` {row: text} replaces some date cells."""
    def f():
        day0 = datetime.date(2012, 1, 1)
        dates = [(day0 + datetime.timedelta(days=i)).strftime(fmt) for i in range(n)]
        for i, text in (odd or {}).items():
            dates[i] = text
        write(name, "date,v\n" + "".join(f"{d},{math.sin(i / 4):.4f}\n" for i, d in enumerate(dates)))
    return f


def one_epoch_run(dst: str):
    """A run of one epoch with --diagnostics at ``dst`` (made once), for diagnose --model."""
    def f():
        if os.path.lexists(p(dst)):
            return
        pr = subprocess.run([PY, "-m", "rnnx", *T, "--preset", "seed001", "--epochs", "1", "--diagnostics",
                             "--out", dst], cwd=W, capture_output=True, text=True)
        if pr.returncode:
            sys.exit(f"setup failed: one-epoch run: {pr.stderr}")
    return f


def drawn_png(*paths: str):
    """Each path a PNG that was drawn: the PNG signature and more bytes than a blank canvas."""
    def check(r):
        bad = []
        for x in paths:
            try:
                with open(p(x), "rb") as fh:
                    head, size = fh.read(8), os.fstat(fh.fileno()).st_size
            except OSError as e:
                bad.append(f"{x} missing ({e.strerror})")
                continue
            if head != b"\x89PNG\r\n\x1a\n" or size < 10_000:
                bad.append(f"{x} is not a drawn PNG ({size} bytes)")
        return bad
    return check


PLOT_CASES = [
    # --time-column with year-first slashed dates (vega's seattle-weather.csv): dates on the axis
    dict(cat="plots", argv=[*T, "--csv", "pl/dated.csv", "--targets", "v", "--time-column", "date", *SMALL,
                            "--out", "pl-dated"], setup=dated_csv("pl/dated.csv"), expect="ok", changes=["pl-dated"],
         check=drawn_png("pl-dated/predictions.png", "pl-dated/convergence.png")),
    # an impossible date in the test part (2012/02/30), and day-first dates: the axis falls back to
    # row indices, never a failed run
    dict(cat="plots", argv=[*T, "--csv", "pl/baddate.csv", "--targets", "v", "--time-column", "date", *SMALL,
                            "--out", "pl-baddate"], setup=dated_csv("pl/baddate.csv", odd={76: "2012/02/30"}),
         expect="ok", changes=["pl-baddate"], check=drawn_png("pl-baddate/predictions.png")),
    dict(cat="plots", argv=[*T, "--csv", "pl/dayfirst.csv", "--targets", "v", "--time-column", "date", *SMALL,
                            "--out", "pl-dayfirst"], setup=dated_csv("pl/dayfirst.csv", fmt="%d/%m/%Y"),
         expect="ok", changes=["pl-dayfirst"], check=drawn_png("pl-dayfirst/predictions.png")),
    # diagnose --model of a run of one recorded epoch: the per-step figure, no empty panel
    dict(cat="plots", argv=["diagnose", "--model", "pl-one"], setup=one_epoch_run("pl-one"), expect="ok",
         changes=["pl-one/diagnose"], check=both(drawn_png("pl-one/diagnose/diagnostics.png"),
                                                 unchanged("pl-one/model.npz", "pl-one/diagnostics.png"))),
]


EXPLODE = ["--preset", "seed001", "--optimizer", "sgd", "--lr", "3", "--nonlinearity", "relu", "--no-clip",
           "--diagnostics", "all"]  # the loss is inf in epoch 17; the last checkpoint is epoch 10


def exploded_run(dst: str):
    """A run folder left by a run whose loss became inf (exit 3), made by the first case that needs it."""
    def f():
        if os.path.lexists(p(dst)):
            return
        pr = subprocess.run([PY, "-m", "rnnx", *T, *EXPLODE, "--out", dst], cwd=W, capture_output=True, text=True,
                            timeout=300)
        assert pr.returncode == 3, pr.stderr
    return f


def history_flagged(run: str, epoch: int):
    """history.csv ends with the non-finite epoch's row, its note saying so."""
    def check(r):
        import csv as _csv
        try:
            with open(p(run, "history.csv"), newline="") as fh:
                rows = list(_csv.DictReader(fh))
        except OSError as e:
            return [f"history.csv: {e}"]
        if not rows or rows[-1].get("epoch") != str(epoch) or "stopped: loss" not in rows[-1].get("note", ""):
            return [f"history.csv's last row is not the flagged epoch {epoch}: {rows[-1] if rows else None}"]
        return []
    return check


def norm_in_range(run: str, low: float, high: float):
    """model.npz's norm = [a, b] maps the preset's sine (training range [-1, 1]) inside (low, high)."""
    def check(r):
        from rnnx.io import checkpoint
        a, b = checkpoint.load(p(run, "model.npz"))[0]["norm"]
        z = [(v - a) / b for v in (-1.0, 1.0)]
        return [] if low < min(z) and max(z) < high else [f"norm {a, b} maps [-1, 1] to {z}, not inside ({low}, {high})"]
    return check


# -- cases --------------------------------------------------------------------------------------------
# ---- issue 29 item 5: history.csv's train_mse exact at epochs 1, 10, 20, ..., the last and the best ----
def history_train_mse(run: str, epochs: int):
    """history.csv: every epoch's batch_loss and val_mse; train_mse at 1, 10, 20, ..., the last and the best
    epoch only, the last equal to metrics.json's final train MSE and the best's to its best train MSE."""
    def check(r):
        import csv as _csv
        try:
            with open(p(run, "history.csv"), newline="") as fh:
                rows = list(_csv.DictReader(fh))
            with open(p(run, "metrics.json")) as fh:
                m = json.load(fh)
        except (OSError, ValueError) as e:
            return [f"{run}: {e}"]
        if [row.get("epoch") for row in rows] != [str(e) for e in range(1, epochs + 1)]:
            return [f"history.csv's epochs are not 1..{epochs}"]
        bad = [row["epoch"] for row in rows if not row["batch_loss"] or not row["val_mse"]]
        have = {int(row["epoch"]): float(row["train_mse"]) for row in rows if row["train_mse"]}
        want = {1, epochs, m["best_epoch"], *range(10, epochs + 1, 10)}
        out = [f"epochs {bad} lack batch_loss or val_mse"] if bad else []
        if set(have) != want:
            out.append(f"train_mse at epochs {sorted(have)}, expected {sorted(want)}")
        for e, key in ((epochs, "final"), (m["best_epoch"], "best")):
            if e in have and not math.isclose(have[e], m[key]["train"], rel_tol=1e-12):
                out.append(f"train_mse of epoch {e} {have[e]!r} is not metrics.json's {key} train {m[key]['train']!r}")
        return out
    return check


def history_train_mse_stopped(run: str):
    """An early-stopped run: history_train_mse over however many epochs it ran (metrics.json's epochs)."""
    def check(r):
        try:
            with open(p(run, "metrics.json")) as fh:
                n = json.load(fh)["epochs"]
        except (OSError, ValueError, KeyError) as e:
            return [f"{run}: {e}"]
        return history_train_mse(run, n)(r)
    return check


CLIPERF_CASES = [
    # history.csv's train_mse: exact every 10th epoch, at the last and the best, empty between
    dict(cat="outputs", argv=[*T, "--preset", "seed001", "--epochs", "23", "--no-early-stopping", "--out", "tmse1"],
         expect="ok", changes=["tmse1"], check=both(exists("tmse1/history.csv", "tmse1/convergence.png"),
                                                   history_train_mse("tmse1", 23))),
    # ... and with early stopping: the best epoch's row has it, and the last (patience after it)
    dict(cat="outputs", argv=[*T, "--preset", "seed001", "--epochs", "60", "--early-stopping", "3", "--lr", "0.05",
                              "--out", "tmse2"],
         expect="ok", changes=["tmse2"], check=history_train_mse_stopped("tmse2")),
]



# ---- issue 29 item 1: one checkpoint kind with a version ----
def checkpoint_version(dst: str, version: int, src: str = "base"):
    """A copy of the fixture ``src`` at ``dst`` whose checkpoint.npz claims ``version``."""
    def f():
        copy_run(dst, src)
        with np.load(p(dst, "checkpoint.npz")) as z:
            members = {k: z[k] for k in z.files}
        m = json.loads(str(members["meta"]))
        m["version"] = version
        members["meta"] = np.asarray(json.dumps(m))
        np.savez(p(dst, "checkpoint.npz"), **members)
    return f


CKPT_CASES = [
    dict(cat="stored addresses", argv=[*T, "--resume", "cv3", "--epochs", "20"], setup=checkpoint_version("cv3", 3),
         expect="usage", names="meta.version: expected one of 1, 2, got 3",
         note="a fit-state of version 3: refused in one line naming the file, the version and the versions known "
              "(1, 2); nothing written"),
]


# ---- issue 29 item 1: max_updates, one per-update core (text runs) ----
def text_split(dst: str, first: int, then: int | None = None):
    """A text run in ``dst`` of ``first`` updates (then, if given, resumed to ``then``), and an
    uninterrupted one of ``then or first`` updates in ``dst``-whole (what a check compares)."""
    def f():
        write(f"{dst}.txt", "the quick brown fox jumps over the lazy dog. " * 20)
        common = [PY, "-m", "rnnx", *T, "--text", f"{dst}.txt", "--hidden", "8", "--seq-len", "10", "--streams", "2"]
        steps = [[*common, "--max-updates", str(first), "--out", dst],
                 [*common, "--max-updates", str(then or first), "--out", f"{dst}-whole"]]
        if then is not None:
            steps.append([PY, "-m", "rnnx", *T, "--resume", dst, "--max-updates", str(then)])
        for argv in steps:
            pr = subprocess.run(argv, cwd=W, capture_output=True, text=True)
            if pr.returncode:
                sys.exit(f"setup failed: {' '.join(argv[3:])}: {pr.stderr}")
    return f


def same_params(a: str, b: str):
    """model.npz of runs ``a`` and ``b`` hold the same parameters, bit for bit."""
    def check(r):
        with np.load(p(a, "model.npz")) as za, np.load(p(b, "model.npz")) as zb:
            keys = sorted(k for k in za.files if k.startswith("params"))
            if keys != sorted(k for k in zb.files if k.startswith("params")):
                return [f"{a}/model.npz and {b}/model.npz hold different arrays"]
            bad = [k for k in keys if not np.array_equal(za[k], zb[k])]
        return [f"{a}/model.npz {k} differs from {b}'s" for k in bad]
    return check


CORE_CASES = [
    # the resumed run (5 -> 12 updates) equals the uninterrupted one; sampling from it works
    dict(cat="one engine (max_updates)", argv=["sample", "--model", "mu1", "--length", "20", "--seed", "1"],
         setup=text_split("mu1", 5, 12), expect="ok", check=same_params("mu1", "mu1-whole")),
    # a resume to fewer updates than the run has done: one line naming --max-updates, nothing rewritten
    dict(cat="one engine (max_updates)", argv=[*T, "--resume", "mu2", "--max-updates", "3"],
         setup=text_split("mu2", 5), expect="usage", names="--max-updates",
         check=both(stderr_has("expected more to extend it"), unchanged("mu2/model.npz", "mu2/checkpoint.npz"))),
    # max-updates 0 is refused before anything is made
    dict(cat="one engine (max_updates)", argv=[*T, "--text", "mu3.txt", "--max-updates", "0", "--out", "mu3"],
         setup=mk("mu3.txt", "abcabcabc " * 30), expect="usage", names="--max-updates", check=absent("mu3")),
]


# ---- issue 29 item 5: malloc tuned where it helps (not JAX) ----
PERFCLI_CASES = [
    dict(cat="issue 29 speed", argv=[*T, "--preset", "seed001", "--epochs", "2", "--backend", "jax",
                                     "--dtype", "float32", "--out", "pc-jax"],
         expect="ok", changes=["pc-jax"], check=epochs_are("pc-jax", 2),
         note="a JAX run trains without malloc tuning (rnnx.cli.tune_memory skips JAX)"),
    dict(cat="issue 29 speed", argv=[*T, "--resume", "pc-jax", "--epochs", "3"],
         expect="ok", changes=["pc-jax"], check=epochs_are("pc-jax", 3),
         note="its resume: the backend comes from the run's record, target_for decides the tuning"),
    dict(cat="issue 29 speed", argv=[*T, "--preset", "seed001", "--backend", "jaxx", "--out", "pc-typo"],
         expect="usage", names="--backend: unknown backend 'jaxx'", check=absent("pc-typo"),
         note="a bad --backend is refused (one line) before target_for tunes anything; no folder made"),
]


# ---- issue 30 item 1: one settings table checks every value once ----
def text_file(name: str):
    """A small UTF-8 text for a character model (``--text NAME``)."""
    return mk(name, "the quick brown fox jumps over the lazy dog. " * 20)


ONE_TABLE_CASES = [
    # one wording per flag, whichever task reads it (before: 'a positive integer' / 'a finite number > 0'
    # for classification and text, 'a positive int' / 'a finite learning rate > 0' for regression)
    dict(cat="one table", argv=[*T, "--preset", "seed001", "--hidden", "0", "--out", "ot1"], expect="usage",
         names="--hidden: expected a positive int, got 0", check=absent("ot1")),
    dict(cat="one table", argv=[*T, "--npz", "fixtures/panel.npz", "--hidden", "0", "--out", "ot2"],
         setup=panel_fixture, expect="usage", names="--hidden: expected a positive int, got 0", check=absent("ot2")),
    dict(cat="one table", argv=[*T, "--text", "ot3.txt", "--hidden", "0", "--out", "ot3"], setup=text_file("ot3.txt"),
         expect="usage", names="--hidden: expected a positive int, got 0", check=absent("ot3")),
    dict(cat="one table", argv=[*T, "--npz", "fixtures/panel.npz", "--lr", "-1", "--out", "ot4"], setup=panel_fixture,
         expect="usage", names="--lr: expected a finite learning rate > 0, got -1.0", check=absent("ot4")),
    dict(cat="one table", argv=[*T, "--text", "ot5.txt", "--lr", "nan", "--out", "ot5"], setup=text_file("ot5.txt"),
         expect="usage", names="--lr: expected a finite learning rate > 0, got nan", check=absent("ot5")),
    # a text run did not check --clip-value itself: the library refused it after the text was read and the
    # vocabulary built ('expected a finite number > 0 or None'); now the table's check, before anything is read
    dict(cat="one table", argv=[*T, "--text", "ot6.txt", "--clip-value", "0", "--out", "ot6"],
         setup=text_file("ot6.txt"), expect="usage", names="--clip-value: expected a finite number > 0, got 0.0",
         check=absent("ot6")),
    # classification's --momentum: the table's check (before: the optimizer's, the same words)
    dict(cat="one table", argv=[*T, "--npz", "fixtures/panel.npz", "--optimizer", "sgd", "--momentum", "1.5",
                                "--out", "ot7"], setup=panel_fixture, expect="usage",
         names="--momentum: expected a number in [0, 1), got 1.5", check=absent("ot7")),
    # a flag the table does not give the task: refused naming it (text has no --bidirectional, --tbptt)
    dict(cat="one table", argv=[*T, "--text", "ot8.txt", "--bidirectional", "--out", "ot8"],
         setup=text_file("ot8.txt"), expect="usage", names="--bidirectional: does not apply to a character model",
         check=absent("ot8")),
    dict(cat="one table", argv=[*T, "--npz", "fixtures/panel.npz", "--tbptt", "2,3", "--out", "ot9"],
         setup=panel_fixture, expect="usage", names="--tbptt: applies to regression on a CSV", check=absent("ot9")),
    # diagnose took --coordinator / --num-processes / --process-id (train's parser) and ignored them: a whole
    # --compare study ran in this process; now refused before anything runs
    dict(cat="one table", argv=["diagnose", "--compare", "clip", "--preset", "seed001", "--epochs", "1",
                                "--coordinator", "127.0.0.1:1", "--out", "ot10"], expect="usage",
         names="--coordinator: rnnx diagnose runs in this process", check=absent("ot10")),
    dict(cat="one table", argv=["diagnose", "--compare", "clip", "--preset", "seed001", "--epochs", "1",
                                "--num-processes", "2", "--out", "ot11"], expect="usage",
         names="--num-processes: rnnx diagnose runs in this process", check=absent("ot11")),
]


# ---- issue 29 item 1: a classification run's record in its checkpoint; TrainConfig gone ----
def panel_checkpoint_run(dst: str, settings: dict | None = None, **fields):
    """A copy of fixtures/panel whose checkpoint.npz run record (meta ``run``) gets ``fields`` and its
    ``settings`` ``settings`` (a callable value is called during setup: one naming ``PORT``, say)."""
    def f():
        panel_fixture()
        copy_run(dst, "panel")
        with np.load(p(dst, "checkpoint.npz")) as z:
            members = {k: z[k] for k in z.files}
        m = json.loads(str(members["meta"]))
        m["run"].update({k: v() if callable(v) else v for k, v in fields.items()})
        m["run"]["settings"].update({k: v() if callable(v) else v for k, v in (settings or {}).items()})
        members["meta"] = np.asarray(json.dumps(m))
        np.savez(p(dst, "checkpoint.npz"), **members)
    return f


def record_fields(dst: str, **fields):
    """A copy of fixtures/panel whose classes.json gets ``fields`` (each a function of the record)."""
    def f():
        panel_fixture()
        copy_run(dst, "panel")
        with open(p(dst, "classes.json")) as fh:
            rec = json.load(fh)
        rec.update({k: v(rec) for k, v in fields.items()})
        write(f"{dst}/classes.json", json.dumps(rec))
    return f


def text_bad_window(dst: str):
    """A text run (5 updates) whose checkpoint.npz's TextHistory state (meta.callbacks[0]) holds a
    count without a window sum: a damaged file, rewritten through rnnx's own checkpoint writer."""
    def edit():
        from rnnx.io import checkpoint
        path = p(dst, "checkpoint.npz")
        meta, groups = checkpoint.load(path)
        meta["callbacks"] = [{"window": None, "count": 3}]
        checkpoint.save(path, meta, groups, to_numpy=np.asarray, overwrite=True)
    return chain(text_split(dst, 5), edit)


STREAM_CASES = [
    # stopped at 4, resumed to 9, then to 14: the params of one run of 14 updates, bit for bit
    # (the state handed from resume to resume is the engine's FitState, its window/count a callback's)
    dict(cat="one engine (text state)", argv=[*T, "--resume", "st1", "--max-updates", "14"],
         setup=text_split("st1", 4, 9), expect="ok", changes=["st1"],
         check=lambda r: (subprocess.run([PY, "-m", "rnnx", *T, "--text", "st1.txt", "--hidden", "8", "--seq-len",
                                          "10", "--streams", "2", "--max-updates", "14", "--out", "st1-w14"],
                                         cwd=W, capture_output=True, text=True).returncode
                          and ["the uninterrupted 14-update run failed"]) or same_params("st1", "st1-w14")(r)),
    # a checkpoint whose history window is damaged: one line naming the file and meta.callbacks[0], nothing changed
    dict(cat="one engine (text state)", argv=[*T, "--resume", "st2", "--max-updates", "9"],
         setup=text_bad_window("st2"), expect="runtime", names="meta.callbacks[0]",
         check=unchanged("st2/checkpoint.npz", "st2/model.npz")),
]


# -- helpers ---------------------------------------------------------------------------------------------
def npz_file(name: str):
    """Setup: ``small_npz(name)``: a 20 KB classification .npz (40 cases of 30 steps, two classes)."""
    return lambda: small_npz(name)


def stopped_line(*words: str):
    """stderr is one line ``rnnx train: stopped by ...`` holding every one of ``words``."""
    def check(r):
        lines = [ln for ln in r["stderr"].splitlines() if ln.strip()]
        bad = [] if len(lines) == 1 and lines[0].startswith("rnnx train: stopped by ") else \
            [f"expected one 'rnnx train: stopped by' line, got {lines!r}"]
        return bad + [f"stderr lacks {w!r}" for w in words if w not in r["stderr"]]
    return check


CR = "one stop/error path (issue 30)"
LONG_TEXT = ["--hidden", "32", "--seq-len", "25", "--epochs", "100000", "--checkpoint-every", "20"]
LONG_PANEL = ["--hidden", "32", "--epochs", "5000", "--early-stopping", "5000", "--checkpoint-every", "1"]

CASES_CLIRUN = [
    # ---- a first signal: every task stops with the same line, naming what it keeps (an epoch, an update) ----
    dict(cat=CR, argv=[*T, "--text", "cr-t1.txt", *LONG_TEXT, "--out", "cr-t1"], setup=text_file("cr-t1.txt"),
         signal=signal.SIGTERM, expect=143, changes=["cr-t1"],
         check=both(stopped_line("kept update", "cr-t1/checkpoint.npz", "continue with: rnnx train --resume cr-t1"),
                    exists("cr-t1/checkpoint.npz"))),
    dict(cat=CR, argv=[*T, "--npz", "cr-c1.npz", *LONG_PANEL, "--out", "cr-c1"], setup=npz_file("cr-c1.npz"),
         signal=signal.SIGTERM, expect=143, changes=["cr-c1"],
         check=both(stopped_line("kept epoch", "cr-c1/checkpoint.npz", "continue with: rnnx train --resume cr-c1"),
                    exists("cr-c1/checkpoint.npz"))),
    # ---- a second signal: stops at once, the last checkpoint kept (or nothing before the first), one line ----
    *[dict(cat=CR, argv=argv, setup=setup, signal=signal.SIGINT, signal2_at=0.0, expect=130, changes=[out],
           check=stopped_line("SIGINT"), note="two Ctrl-C at once")
      for argv, setup, out in (
          ([*T, "--preset", "seed001", "--epochs", "400", "--early-stopping", "400", "--out", "cr-r2"], None, "cr-r2"),
          ([*T, "--npz", "cr-c2.npz", *LONG_PANEL, "--out", "cr-c2"], npz_file("cr-c2.npz"), "cr-c2"),
          ([*T, "--text", "cr-t2.txt", *LONG_TEXT, "--out", "cr-t2"], text_file("cr-t2.txt"), "cr-t2"))],
    # ---- resume refuses a changed flag, per task: the table's RESUMABLE, one line naming it ----
    dict(cat=CR, argv=[*T, "--resume", "cr-r3", "--hidden", "8"], setup=mkrun("cr-r3"), expect="usage",
         names="--hidden", check=both(stderr_has("(only --epochs may extend it); drop --hidden"),
                                       unchanged("cr-r3/checkpoint.npz", "cr-r3/metrics.json"))),
    dict(cat=CR, argv=[*T, "--resume", "cr-r4", "--max-updates", "5"], setup=mkrun("cr-r4"), expect="usage",
         names="--max-updates", check=stderr_has("drop --max-updates"), note="another task's flag on a series resume"),
    dict(cat=CR, argv=[*T, "--resume", "cr-c3", "--hidden", "8"], setup=panel_copy("cr-c3"), expect="usage",
         names="--hidden", check=both(stderr_has("(only --epochs may extend it); drop --hidden"),
                                       unchanged("cr-c3/checkpoint.npz", "cr-c3/classes.json"))),
    dict(cat=CR, argv=[*T, "--resume", "cr-t3", "--hidden", "8"], setup=text_run("cr-t3"), expect="usage",
         names="--hidden", check=both(stderr_has("(only --max-updates or --epochs may extend it); drop --hidden"),
                                       unchanged("cr-t3/checkpoint.npz"))),
    # ---- a flag a task does not read: the table's words, every task ----
    dict(cat=CR, argv=[*T, "--preset", "seed001", "--seq-len", "5", "--out", "cr-r5"], expect="usage",
         names="--seq-len", check=both(stderr_has("does not apply to a series run"), absent("cr-r5"))),
    dict(cat=CR, argv=[*T, "--npz", "cr-c5.npz", "--seq-len", "5", "--out", "cr-c5"], setup=npz_file("cr-c5.npz"),
         expect="usage", names="--seq-len", check=both(stderr_has("does not apply to a classification run"),
                                                        absent("cr-c5"))),
    dict(cat=CR, argv=[*T, "--text", "cr-t5.txt", "--tbptt", "5", "--out", "cr-t5"], setup=text_file("cr-t5.txt"),
         expect="usage", names="--tbptt", check=both(stderr_has("does not apply to a character model"), absent("cr-t5"))),
]

# -- a disk error on each task (append to the list disk_cases() returns; c = "full/read-only disk") --------
DISK_CASES_CLIRUN = [
    dict(cat="full/read-only disk", disk="12k", prep="", setup=text_file("dk-t.txt"),
         argv=[*T, "--text", "dk-t.txt", "--hidden", "64", "--max-updates", "5", "--out", "DIR/new"],
         check=stderr_has("No space left on device"), note="a text run onto a 12 KiB disk: one line naming the file"),
    dict(cat="full/read-only disk", disk="12k", prep="", setup=npz_file("dk-c.npz"),
         argv=[*T, "--npz", "dk-c.npz", "--hidden", "64", "--epochs", "2", "--out", "DIR/new"],
         check=stderr_has("No space left on device"),
         note="a classification run onto a 12 KiB disk: one line naming the file"),
    dict(cat="full/read-only disk", disk="ro", prep="", setup=text_file("dk-t2.txt"),
         argv=[*T, "--text", "dk-t2.txt", "--max-updates", "5", "--out", "DIR/new"]),
    dict(cat="full/read-only disk", disk="ro", prep="", setup=npz_file("dk-c2.npz"),
         argv=[*T, "--npz", "dk-c2.npz", "--epochs", "2", "--out", "DIR/new"]),
]


def train_first(dst: str, *argv: str):
    """setup: the run ``dst`` trained once beforehand (``rnnx train --quiet ... --out dst``)."""
    def f():
        subprocess.run([PY, "-m", "rnnx", *T, *argv, "--out", dst], cwd=W, check=True, capture_output=True,
                       timeout=300)
    return f


B1 = ["--preset", "seed001-original", "--epochs", "2", "--backend", "numpy"]

PERFB1_CASES = [
    # batch 1 on NumPy, twice: the fast paths (kept ones columns, take, zeros) give the same bits every run
    dict(cat="outputs", setup=train_first("b1a", *B1), argv=[*T, *B1, "--out", "b1b"], expect="ok",
         changes=["b1a", "b1b"], check=both(exists("b1b/history.csv", "b1b/model.npz"), same_params("b1a", "b1b"))),
    # the same preset on array-api-strict (no capability fast path): it trains and writes its run
    dict(cat="outputs", argv=[*T, "--preset", "seed001-original", "--epochs", "1", "--backend", "array-api-strict",
                              "--out", "b1s"],
         expect="ok", changes=["b1s"], check=exists("b1s/history.csv", "b1s/model.npz")),
]


CLILINES_CASES = [
    # --no-clip with --clip-value: one wording for every task (rnnx.cli.table.turned_off); a text run said
    # '--no-clip: conflicts with --clip-value; give one' before
    dict(cat="one table", argv=[*T, "--text", "cl1.txt", "--no-clip", "--clip-value", "2", "--out", "cl1"],
         setup=text_file("cl1.txt"), expect="usage",
         names="--no-clip: turns --clip-value off, but --clip-value 2.0 was given too", check=absent("cl1")),
    dict(cat="one table", argv=[*T, "--npz", "fixtures/panel.npz", "--no-clip", "--clip-norm", "2", "--out", "cl2"],
         setup=panel_fixture, expect="usage", names="--no-clip: turns --clip-norm off", check=absent("cl2")),
    # an option of another cell (rnnx.cli.table.cell_options): a text run passed it to the library, which
    # raised 'proj_size: not an option of RNN ...' as a TypeError; now the one refusal every task gives
    dict(cat="one table", argv=[*T, "--text", "cl3.txt", "--proj-size", "2", "--out", "cl3"],
         setup=text_file("cl3.txt"), expect="usage", names="--proj-size: applies to --cell lstm only, got --cell rnn",
         check=absent("cl3")),
    dict(cat="one table", argv=[*T, "--npz", "fixtures/panel.npz", "--proj-size", "2", "--out", "cl4"],
         setup=panel_fixture, expect="usage", names="--proj-size: applies to --cell lstm only", check=absent("cl4")),
]


CASES_PANELRUN = [
    dict(cat="stored addresses", argv=[*T, "--resume", "rp13", "--epochs", "3"], listen=True,
         setup=panel_checkpoint_run("rp13", settings={"dask_scheduler": here, "dask_timeout": 2.0}), expect="ok",
         changes=["rp13"], note="a classification run's checkpoint record names a listening scheduler: not dialled"),
    dict(cat="crafted files", argv=[*T, "--resume", "rc1", "--epochs", "4"],
         setup=record_fields("rc1", standardisation=lambda r: {**r["standardisation"],
                                                               "mean": [v + 1 for v in r["standardisation"]["mean"]]}),
         expect="usage", names="classes.json", check=stderr_has("disagree on standardisation"),
         note="classes.json edited against the run's checkpoint record: refused naming both files, nothing changed"),
    dict(cat="crafted files", argv=[*T, "--resume", "rc2", "--epochs", "4"],
         setup=panel_checkpoint_run("rc2", classes=["fast", "other"]), expect="usage", names="checkpoint.npz",
         check=stderr_has("disagree on classes")),
    dict(cat="crafted files", argv=[*T, "--resume", "rc3", "--epochs", "4"],
         setup=panel_checkpoint_run("rc3", kind="rnnx-series-run"), expect="usage", names="checkpoint.npz",
         check=stderr_has("of another run kind")),
]


TRAIN_RECORD_KEYS = {"epochs", "batch_size", "optimizer", "lr", "momentum", "nesterov", "clip_value", "clip_norm",
                     "tbptt", "loss", "seed", "early_stopping", "freeze", "shuffle", "check_finite"}


def train_record(run: str, **want):
    """metrics.json's ``train`` has the keys it always had and the values the command gave."""
    def check(r):
        t = metrics(run).get("train") or {}
        bad = [f"{run}/metrics.json train keys {sorted(set(t) ^ TRAIN_RECORD_KEYS)} differ"] \
            if set(t) != TRAIN_RECORD_KEYS else []
        bad += [f"{run}/metrics.json train {k}={t.get(k)!r}, expected {v!r}" for k, v in want.items() if t.get(k) != v]
        return bad
    return check


CASES_TRAINCONFIG = [
    dict(cat="outputs", argv=[*T, "--preset", "seed001", "--epochs", "1", "--optimizer", "sgd", "--lr", "0.02",
                              "--momentum", "0.5", "--nesterov", "--clip-norm", "2", "--out", "trec1"],
         expect="ok", changes=["trec1"],
         check=train_record("trec1", optimizer="sgd", lr=0.02, momentum=0.5, nesterov=True, clip_norm=2.0,
                            epochs=1, check_finite=True)),
    # the optimizer is refused before any folder exists (argparse's choice, one line)
    dict(cat="one table", argv=[*T, "--preset", "seed001", "--optimizer", "adamax", "--out", "trec2"],
         expect="usage", names="--optimizer", check=absent("trec2")),
]


# ---- issue 30 item 2: one series = one target; predict/forecast/diagnose take train's data flags ----
def column_run(dst: str, name: str = "col/d.csv"):
    """``name`` (``date,v`` daily rows) and a finished run ``dst`` of it: ``--column v --time-column date``."""
    def f():
        dated_csv(name, fmt="%Y-%m-%d")()
        subprocess.run([PY, "-m", "rnnx", *T, "--csv", name, "--column", "v", "--time-column", "date", *SMALL,
                        "--out", dst], cwd=W, check=True, capture_output=True, timeout=300)
    return f


COLUMN_CASES = [
    # --column NAME with --time-column/--difference/--missing: accepted (they were refused before)
    dict(cat="columns", argv=[*T, "--csv", "cl/d.csv", "--column", "v", "--time-column", "date", "--difference",
                              "--missing", "drop", *SMALL, "--out", "cl-diff"], setup=dated_csv("cl/d.csv", fmt="%Y-%m-%d"),
         expect="ok", changes=["cl-diff"], check=exists("cl-diff/model.npz", "cl-diff/predictions.png")),
    # a forecast in one try: the flags train took, given again
    dict(cat="columns", argv=["forecast", "--model", "cl-run", "--csv", "col/d.csv", "--column", "v", "--time-column",
                              "date", "--steps", "3"], setup=column_run("cl-run"), expect="ok",
         changes=["cl-run/forecast.csv", "cl-run/forecast.png"], check=unchanged("cl-run/model.npz")),
    dict(cat="columns", argv=["predict", "--model", "cl-run2", "--targets", "v", "--time-column", "date"],
         setup=column_run("cl-run2", "col2/d.csv"), expect="ok", changes=["cl-run2/predictions.csv"]),
    # another column than the model's, both --column and --targets, a model's flag on a series preset: one line
    dict(cat="columns", argv=["forecast", "--model", "cl-run3", "--targets", "date"],
         setup=column_run("cl-run3", "col3/d.csv"), expect="usage", names="--targets"),
    dict(cat="columns", argv=["predict", "--model", "cl-run4", "--column", "v", "--targets", "v"],
         setup=column_run("cl-run4", "col4/d.csv"), expect="usage", names="--targets"),
    dict(cat="columns", argv=["forecast", "--model", "cl-base", "--csv", "cl5.csv", "--column", "v", "--time-column",
                              "t"], setup=chain(mkrun("cl-base"), mk("cl5.csv", series_csv())), expect="usage",
         names="--time-column"),
]


OUTACT_CASES = [
    # a run that explodes: exit 3, one line, and its history, convergence and diagnostics plots up to it
    dict(cat="bounds", argv=[*T, *EXPLODE, "--out", "ex1"], expect=3, changes=["ex1"],
         check=both(exists("ex1/checkpoint.npz", "ex1/history.csv", "ex1/convergence.png", "ex1/diagnostics.json",
                           "ex1/diagnostics.png"), absent("ex1/model.npz", "ex1/metrics.json"),
                    history_flagged("ex1", 17), stderr_has("loss became inf at epoch 17", "history.csv")),
         note="explodes: exit 3 expected; the partial results are kept"),
    # ... and diagnose --model reads it (its last checkpoint), writing only under its own --out
    dict(cat="outputs", argv=["diagnose", "--model", "ex2"], setup=exploded_run("ex2"), expect="ok",
         changes=["ex2/diagnose"], check=both(exists("ex2/diagnose/diagnostics.json", "ex2/diagnose/diagnostics.png"),
                                              stderr_has("no model.npz", "last checkpoint (epoch 10)"),
                                              unchanged("ex2/checkpoint.npz", "ex2/history.csv"))),
    # ... predict still needs a finished model: one line naming model.npz, nothing written
    dict(cat="predict/forecast misuse", argv=["predict", "--model", "ex3"], setup=exploded_run("ex3"),
         expect="usage", names="model.npz"),
    # ... and resuming it explodes again, the same way (nothing of the run lost)
    dict(cat="resume", argv=[*T, "--resume", "ex4"], setup=exploded_run("ex4"), expect=3, changes=["ex4"],
         check=both(history_flagged("ex4", 17), exists("ex4/checkpoint.npz"))),
    # a bounded output activation: the targets scaled inside its range
    dict(cat="outputs", argv=[*T, "--preset", "seed001", "--output-activation", "tanh", "--epochs", "3", "--out", "oa1"],
         expect="ok", changes=["oa1"], check=norm_in_range("oa1", -1.0, 1.0)),
    dict(cat="outputs", argv=[*T, "--preset", "seed001", "--output-activation", "sigmoid", "--epochs", "3", "--out",
                              "oa2"], expect="ok", changes=["oa2"], check=norm_in_range("oa2", 0.0, 1.0)),
]


CASES: list[dict] = [
    # ---- folder reuse and run-folder transactions ----
    dict(cat="folder reuse", argv=[*T, "--preset", "seed001", "--out", "fr1"], setup=mkrun("fr1"), expect="refuse", names="fr1"),
    dict(cat="folder reuse", argv=[*T, "--preset", "seed001", "--out", "fr2"], setup=chain(mkrun("fr2"), lambda: os.unlink(p("fr2/checkpoint.npz"))), expect="refuse", names="fr2"),
    dict(cat="folder reuse", argv=[*T, "--preset", "seed001", "--out", "fr3"], setup=mk("fr3/notes.txt", "mine"), expect="refuse", names="fr3"),
    dict(cat="folder reuse", argv=[*T, "--preset", "seed001", "--out", "fr4"], setup=mk("fr4/.hidden", "x"), expect="refuse", names="fr4"),
    dict(cat="folder reuse", argv=[*T, "--preset", "seed001", "--epochs", "3", "--out", "fr5", "--overwrite"], setup=mk("fr5/notes.txt", "mine"), expect="ok", changes=["fr5"], check=unchanged("fr5/notes.txt")),
    dict(cat="folder reuse", argv=[*T, "--preset", "seed001", "--epochs", "3", "--out", "fr6", "--overwrite"], setup=mkrun("fr6"), expect="ok", changes=["fr6"], check=epochs_are("fr6", 3)),
    dict(cat="folder reuse", argv=[*T, "--preset", "seed001", "--epochs", "2", "--out", "fr7"], setup=mk("fr7/.rnnx.lock", "pid 999999 on nowhere since 2020\n"), expect="ok", changes=["fr7"]),
    dict(cat="folder reuse", argv=[*T, "--preset", "seed001", "--out", "link-to-run"], setup=chain(mkrun("fr8"), symlink("fr8", "link-to-run")), expect="refuse", names="link-to-run"),
    dict(cat="folder reuse", argv=[*T, "--preset", "seed001", "--out", "dangling"], setup=symlink("nowhere/at/all", "dangling"), expect="refuse", names="dangling"),
    dict(cat="folder reuse", argv=[*T, "--preset", "seed001", "--out", "fr9/predictions.csv"], setup=mk("fr9/predictions.csv", "x"), expect="refuse", names="predictions.csv"),
    dict(cat="folder reuse", argv=[*T, "--preset", "seed001", "--out", "fr10"], setup=mk("fr10/forecast.csv", "index,forecast\n"), expect="refuse", names="fr10"),
    dict(cat="folder reuse", argv=[*T, "--preset", "seed001", "--out", "."], expect="refuse", names="."),
    dict(cat="folder reuse", argv=[*T, "--preset", "seed001", "--out", "/"], expect="refuse", names="/"),
    # ---- --resume ----
    dict(cat="resume", argv=[*T, "--resume", "rs1"], setup=mkrun("rs1"), expect="ok", check=both(stderr_lacks("Traceback"), epochs_are("rs1", 80))),
    dict(cat="resume", argv=[*T, "--resume", "rs1"], expect="ok", check=epochs_are("rs1", 80), note="second resume of the same finished run"),
    dict(cat="resume", argv=[*T, "--resume", "rs2", "--out", "rs2-other"], setup=mkrun("rs2"), expect="refuse", names="--out", check=absent("rs2-other")),
    dict(cat="resume", argv=[*T, "--resume", "rs3", "--hidden", "8"], setup=mkrun("rs3"), expect="usage", names="--hidden"),
    dict(cat="resume", argv=[*T, "--resume", "rs4", "--preset", "seed000"], setup=mkrun("rs4"), expect="usage", names="--preset"),
    dict(cat="resume", argv=[*T, "--resume", "rs5", "--epochs", "85"], setup=mkrun("rs5"), expect="ok", changes=["rs5"]),
    dict(cat="resume", argv=[*T, "--resume", "rs6", "--epochs", "40"], setup=mkrun("rs6"), expect="nochange", names="--epochs"),
    dict(cat="resume", argv=[*T, "--resume", "rs7", "--epochs", "0"], setup=mkrun("rs7"), expect="usage", names="--epochs"),
    dict(cat="resume", argv=[*T, "--resume", "no-such-run"], expect="refuse", names="no-such-run", check=absent("no-such-run")),
    dict(cat="resume", argv=[*T, "--resume", "rs8"], setup=chain(mkrun("rs8"), lambda: os.unlink(p("rs8/checkpoint.npz"))), expect="refuse", names="rs8"),
    dict(cat="resume", argv=[*T, "--resume", "rs9.txt"], setup=mk("rs9.txt", "not a folder"), expect="refuse", names="rs9.txt"),
    dict(cat="resume", argv=[*T, "--resume", "rs10"], setup=chain(mkrun("rs10"), lambda: open(p("rs10/checkpoint.npz"), "r+b").truncate(5000)), expect="refuse", names="checkpoint.npz"),
    dict(cat="resume", argv=[*T, "--resume", "rs11"], setup=chain(mkrun("rs11"), mk("rs11/checkpoint.npz", "t,v\n1,2\n")), expect="refuse", names="checkpoint.npz"),
    dict(cat="resume", argv=[*T, "--resume", "rs12", "--epochs", "6"], setup=chain(mkrun("rs12", "csvrun"), mutate_csv("fixtures/data.csv")), expect="refuse", names="--allow-changed-data", note="the run's CSV changed since it began"),
    dict(cat="resume", argv=[*T, "--resume", "rs12", "--epochs", "6", "--allow-changed-data"], expect="ok", changes=["rs12"]),
    dict(cat="resume", argv=[*T, "--resume", "rs13", "--epochs", "6"], setup=chain(mkrun("rs13", "relcsv"), lambda: None), expect="ok", changes=["rs13"], note="run trained in sub/ with a relative --csv, resumed from the parent folder"),
    dict(cat="resume", argv=[*T, "--resume", "rs14", "--epochs", "6"], setup=chain(mkrun("rs14", "csvrun2"), lambda: os.unlink(p("fixtures/data2.csv"))), expect="refuse", names="data2.csv"),
    dict(cat="resume", argv=[*T, "--resume", "rs15", "--epochs", "20"], setup=stale_tmp("rs15"), expect="ok", changes=["rs15"], check=absent("rs15/.rnnx-tmp-999999-deadbeefdeadbeef-checkpoint.npz")),
    dict(cat="resume", argv=[*T, "--resume", "rs16", "--epochs", "20"], setup=chain(mkrun("rs16", "early"), mk("rs16/.rnnx.lock", "pid 999999\n")), expect="ok", changes=["rs16"]),
    dict(cat="resume", argv=[*T, "--resume", "rs17", "--allow-changed-data"], setup=mkrun("rs17"), expect="nochange", note="--allow-changed-data on a preset run"),
    dict(cat="resume", argv=[*T, "--resume", "rs18", "--epochs", "20"], setup=passwd_checkpoint("rs18"), expect="refuse", names="/etc/passwd", check=stderr_lacks("root:x:", "/bin/bash", "daemon")),
    # ---- predict / forecast --out over run files ----
    *[dict(cat="predict/forecast --out", argv=[cmd, "--model", "po", "--out", f"po/{f}", *ov], setup=(mkrun("po") if i == 0 else None), expect="refuse", names=(_ or [f])[0])
      for i, (cmd, f, ov, *_) in enumerate([
          ("predict", "model.npz", []), ("predict", "model.npz", ["--overwrite"]), ("predict", "checkpoint.npz", ["--overwrite"]),
          ("predict", "metrics.json", ["--overwrite"]), ("predict", "history.csv", ["--overwrite"]), ("forecast", "model.npz", ["--overwrite"]),
          ("forecast", "predictions.csv", ["--overwrite"], "predictions.png"), ("forecast", "convergence.csv", [], "convergence.png"), ("predict", "convergence.png", ["--overwrite"]),
          ("predict", ".rnnx.lock", []), ("predict", "../po/./model.npz", ["--overwrite"]),
      ])],
    dict(cat="predict/forecast --out", argv=["predict", "--model", "po", "--out", "po-link.csv", "--overwrite"], setup=symlink("po/model.npz", "po-link.csv"), expect="refuse", names="po-link.csv", check=unchanged("po/model.npz")),
    dict(cat="predict/forecast --out", argv=["predict", "--model", "po", "--out", "mine.csv"], setup=mk("mine.csv", "keep me"), expect="refuse", names="mine.csv"),
    dict(cat="predict/forecast --out", argv=["predict", "--model", "po", "--out", "missing/dir/p.csv"], expect="refuse", names="missing", check=absent("missing")),
    dict(cat="predict/forecast --out", argv=["forecast", "--model", "po", "--out", "missing2/f.csv"], expect="refuse", names="missing2", check=absent("missing2")),
    dict(cat="predict/forecast --out", argv=["predict", "--model", "po", "--out", "po"], expect="refuse", names="po"),
    dict(cat="predict/forecast --out", argv=["predict", "--model", "po", "--out", ""], expect="usage", names="--out"),
    dict(cat="predict/forecast --out", argv=["predict", "--model", "po", "--out", "mine.csv/p.csv"], expect="refuse", names="mine.csv"),
    dict(cat="predict/forecast --out", argv=["predict", "--model", "po", "--out", "/dev/full"], expect="refuse", names="/dev/full"),
    dict(cat="predict/forecast --out", argv=["predict", "--model", "po", "--out", "ok dir/ü p.csv"], setup=lambda: os.makedirs(p("ok dir")), expect="ok", changes=["ok dir"], check=exists("ok dir/ü p.csv")),
    dict(cat="predict/forecast --out", argv=["predict", "--model", "po"], expect="ok", changes=["po/predictions.csv"], check=unchanged("po/model.npz", "po/predictions.png")),
    dict(cat="predict/forecast --out", argv=["predict", "--model", "po"], expect="ok", changes=["po/predictions.csv"], note="a rerun replaces its own predictions.csv"),
    dict(cat="predict/forecast --out", argv=["forecast", "--model", "po", "--steps", "5"], expect="ok", changes=["po/forecast.csv", "po/forecast.png"], check=unchanged("po/predictions.png", "po/convergence.png")),
    # ---- predict / forecast misuse ----
    dict(cat="predict/forecast misuse", argv=["predict", "--model", "nowhere"], expect="refuse", names="nowhere"),
    dict(cat="predict/forecast misuse", argv=["predict", "--model", "mine.csv"], expect="refuse", names="mine.csv"),
    dict(cat="predict/forecast misuse", argv=["predict", "--model", "empty-dir"], setup=lambda: os.makedirs(p("empty-dir")), expect="refuse", names="empty-dir"),
    dict(cat="predict/forecast misuse", argv=["predict", "--model", "po", "--csv", "fixtures/data.csv"], expect="usage", names="--column"),
    dict(cat="predict/forecast misuse", argv=["predict", "--model", "po", "--csv", "fixtures/data.csv", "--column", "nope"], expect="refuse", names="nope"),
    dict(cat="predict/forecast misuse", argv=["predict", "--model", "po", "--csv", "csv/short.csv", "--column", "v", "--out", "short-pred.csv"], setup=mk("csv/short.csv", "t,v\n1,1\n2,2\n3,3\n"), expect="refuse", names="short.csv"),
    dict(cat="predict/forecast misuse", argv=["predict", "--model", "po", "--column", "v"], expect="usage", names="--column"),
    dict(cat="predict/forecast misuse", argv=["predict", "--model", "po", "--device", "cuda:7", "--out", "x.csv"], expect="refuse", names="--device"),
    dict(cat="predict/forecast misuse", argv=["predict", "--model", "po", "--backend", "nonsense", "--out", "x.csv"], expect="usage", names="--backend"),
    dict(cat="predict/forecast misuse", argv=["forecast", "--model", "po", "--steps", "10000000000000", "--out", "f1.csv"], expect="usage", names="--steps", check=faster_than(5)),
    dict(cat="predict/forecast misuse", argv=["forecast", "--model", "po", "--steps", "0", "--out", "f2.csv"], expect="usage", names="--steps"),
    dict(cat="predict/forecast misuse", argv=["forecast", "--model", "po", "--steps", "-3", "--out", "f3.csv"], expect="usage", names="--steps"),
    dict(cat="predict/forecast misuse", argv=["forecast", "--model", "po", "--steps", "1e3", "--out", "f4.csv"], expect="usage", names="--steps"),
    dict(cat="predict/forecast misuse", argv=["forecast", "--model", "h2", "--steps", "5", "--out", "f5.csv"], setup=mkrun("h2", "horizon2"), expect="refuse", names="horizon"),
    dict(cat="predict/forecast misuse", argv=["predict", "--model", "po-dir-link", "--out", "via-link.csv"], setup=symlink("po", "po-dir-link"), expect="ok", changes=["via-link.csv"]),
    # ---- rnnx save / load ----
    dict(cat="save/load", argv=["save", "--from-torch", "gru.pt", "--out", "sv/existing.npz"], setup=chain(mk("sv/existing.npz", "precious"), lambda: os.chmod(p("sv/existing.npz"), 0o600)), expect="refuse", names="existing.npz"),
    dict(cat="save/load", argv=["save", "--from-torch", "gru.pt", "--out", "sv/existing.npz", "--overwrite"], expect="ok", changes=["sv/existing.npz"], check=lambda r: [] if stat.S_IMODE(os.stat(p("sv/existing.npz")).st_mode) == 0o600 else ["mode not kept 0600"]),
    dict(cat="save/load", argv=["save", "--from-torch", "gru.pt", "--out", "po-save/model.npz", "--overwrite"], setup=mkrun("po-save"), expect="refuse", names="model.npz", note="rnnx save over a run's own model.npz"),
    dict(cat="save/load", argv=["save", "--from-torch", "nothere.pt", "--out", "sv/a.npz"], expect="refuse", names="nothere.pt"),
    dict(cat="save/load", argv=["save", "--from-torch", "fixtures/data.csv", "--out", "sv/b.npz"], expect="refuse", names="data.csv"),
    dict(cat="save/load", argv=["save", "--from-torch", "evil.pt", "--out", "sv/c.npz"], setup=torch_evil, expect="refuse", names="evil.pt"),
    dict(cat="save/load", argv=["save", "--from-torch", "gru.pt", "--out", "mine.csv/x.npz"], expect="refuse", names="mine.csv"),
    dict(cat="save/load", argv=["save", "--from-torch", "gru.pt", "--out", "nodir/x.npz"], expect="refuse", names="nodir"),
    dict(cat="save/load", argv=["save", "--from-torch", "gru.pt", "--out", "sv"], expect="refuse", names="sv"),
    dict(cat="save/load", argv=["load", "nothere.npz"], expect="refuse", names="nothere.npz"),
    dict(cat="save/load", argv=["load", "sv"], expect="refuse", names="sv"),
    dict(cat="save/load", argv=["load", "/dev/zero"], expect="refuse", names="/dev/zero", timeout=15),
    # ---- conflicting / meaningless options ----
    *[dict(cat="conflicting options", argv=[*T, *a, "--out", f"co{i}"], expect="usage", names=n, check=absent(f"co{i}"))
      for i, (a, n) in enumerate([
          (["--preset", "seed001", "--csv", "fixtures/data.csv"], "--csv"), (["--column", "v"], "--column"),
          (["--csv", "fixtures/data.csv"], "--column"), (["--preset", "nope"], "--preset"),
          (["--preset", "seed001", "--momentum", "0.9"], "--momentum"), (["--preset", "seed001", "--nesterov"], "--nesterov"),
          (["--preset", "seed001", "--optimizer", "sgd", "--nesterov"], "--nesterov"),
          (["--preset", "seed001", "--checkpoint-every", "-2"], "--checkpoint-every"),
          (["--preset", "seed001", "--split", "1,0,0"], "--split"), (["--preset", "seed001", "--split", "0.5,0.5"], "--split"),
          (["--preset", "seed001", "--split", "0.9,0.9,0.9"], "--split"), (["--preset", "seed001", "--split", "a,b,c"], "--split"),
          (["--preset", "seed001", "--split", "-1,1,1"], "--split"),
          (["--preset", "seed001", "--lr", "0"], "--lr"), (["--preset", "seed001", "--lr", "nan"], "--lr"),
          (["--preset", "seed001", "--lr", "inf"], "--lr"), (["--preset", "seed001", "--lr", "-1"], "--lr"),
          (["--preset", "seed001", "--clip-norm", "0"], "--clip-norm"), (["--preset", "seed001", "--clip-value", "nan"], "--clip-value"),
          (["--preset", "seed001", "--dropout", "0.5"], "--dropout"), (["--preset", "seed001", "--dropout", "1.5", "--layers", "2"], "--dropout"),
          (["--preset", "seed001", "--cell", "gru", "--nonlinearity", "relu"], "--nonlinearity"),
          (["--preset", "seed001", "--cell", "lstm", "--proj-size", "16"], "--proj-size"),
          (["--preset", "seed001", "--proj-size", "4"], "--proj-size"),
          (["--preset", "seed001", "--dtype", "float16"], "--dtype"), (["--preset", "seed001", "--backend", "nonsense"], "--backend"),
          (["--preset", "seed001", "--epochs", "0"], "--epochs"), (["--preset", "seed001", "--epochs", "-1"], "--epochs"),
          (["--preset", "seed001", "--batch-size", "0"], "--batch-size"), (["--preset", "seed001", "--window", "0"], "--window"),
          (["--preset", "seed001", "--horizon", "0"], "--horizon"), (["--preset", "seed001", "--layers", "0"], "--layers"),
          (["--preset", "seed001", "--early-stopping", "0"], "--early-stopping"), (["--preset", "seed001", "--hidden", "abc"], "--hidden"),
          (["--preset", "seed001", "--hidden", "0"], "--hidden"), (["--preset", "seed001", "--hidden", "-5"], "--hidden"),
          (["--preset", "seed001", "--bogus-flag"], "--bogus-flag"),
          (["--preset", "seed001", "--allow-changed-data"], "--allow-changed-data"),
      ])],
    dict(cat="conflicting options", argv=[*T, "--preset", "seed001", "--out", ""], expect="usage", names="--out"),
    dict(cat="conflicting options", argv=[*T, "--preset", "seed001", "--out", "   "], expect="usage", names="--out", check=absent("   ")),
    dict(cat="conflicting options", argv=[*T, "--preset", "seed001", "--out"], expect="usage", names="--out"),
    dict(cat="conflicting options", argv=[*T, "--preset", "seed001", "--out", "--weird"], expect="usage", names="--out"),
    dict(cat="conflicting options", argv=["trian", "--preset", "seed001"], expect="usage", names="trian"),
    dict(cat="conflicting options", argv=[], expect="usage", names="COMMAND"),
    dict(cat="conflicting options", argv=[*T, "--preset", "seed001", "--epochs", "2", "--out=--weird"], expect="ok", changes=["--weird"], note="a folder named like a flag"),
    # ---- bounds ----
    dict(cat="bounds", argv=[*T, "--preset", "seed001", "--hidden", "100000", "--out", "bd1"], expect="refuse", names="--hidden", check=both(absent("bd1"), faster_than(5))),
    dict(cat="bounds", argv=[*T, "--preset", "seed001", "--layers", "100000", "--out", "bd2"], expect="refuse", names="--layers", check=both(absent("bd2"), faster_than(5)), timeout=10),
    dict(cat="bounds", argv=[*T, "--preset", "seed001", "--window", "10000000", "--out", "bd3"], expect="refuse", names="--window", check=both(absent("bd3"), faster_than(5))),
    dict(cat="bounds", argv=[*T, "--preset", "seed001", "--horizon", "100000", "--out", "bd4"], expect="refuse", names="--horizon", check=absent("bd4")),
    dict(cat="bounds", argv=[*T, "--preset", "seed001", "--batch-size", "1000000000000", "--epochs", "2", "--out", "bd5"], expect="clean", changes=["bd5"]),
    dict(cat="bounds", argv=[*T, "--preset", "seed001", "--seed", "-1", "--epochs", "2", "--out", "bd6"], expect="clean", changes=["bd6"]),
    dict(cat="bounds", argv=[*T, "--preset", "seed001", "--seed", str(2**70), "--epochs", "2", "--out", "bd7"], expect="clean", changes=["bd7"]),
    dict(cat="bounds", argv=[*T, "--preset", "seed001", "--lr", "1e6", "--epochs", "5", "--out", "bd8"], expect="clean", changes=["bd8"], note="diverges: exit 3 expected"),
    dict(cat="bounds", argv=[*T, "--preset", "seed001", "--hidden", "30000", "--cell", "lstm", "--out", "bd9"], expect="refuse", names="--hidden", check=both(absent("bd9"), faster_than(5))),
    dict(cat="bounds", argv=[*T, "--preset", "seed001", "--epochs", "1000000000000000", "--out", "bd10"], expect="clean", changes=["bd10"], timeout=40, note="early-stops at 80 if accepted"),
    # ---- tbptt misuse ----
    *[dict(cat="tbptt", argv=[*T, "--preset", "seed001", *a, "--out", f"tb{i}"], expect="usage", names="--tbptt", check=absent(f"tb{i}"))
      for i, a in enumerate([
          ["--objective", "many-to-many", "--tbptt", "5"], ["--tbptt", "5,5"], ["--objective", "many-to-many", "--tbptt", "0,0"],
          ["--objective", "many-to-many", "--tbptt", "-1,2"], ["--objective", "many-to-many", "--tbptt", "100,100"],
          ["--objective", "many-to-many", "--tbptt", "a,b"], ["--objective", "many-to-many", "--tbptt", "5,5,5"],
          ["--objective", "many-to-many", "--tbptt", ""], ["--objective", "many-to-many", "--tbptt", "3,3", "--bidirectional"],
          ["--objective", "many-to-many", "--tbptt", "1e9,1e9"],
      ])],
    dict(cat="tbptt", argv=[*T, "--preset", "seed001", "--objective", "many-to-many", "--tbptt", "5,5", "--epochs", "2", "--out", "tbok"], expect="ok", changes=["tbok"]),
    # ---- CSV content ----
    dict(cat="csv", argv=csv_train("csv/huge.csv"), setup=mk("csv/huge.csv", "t,v\n" + "".join(f"{i},{(i % 7) * 1e200:.3e}\n" for i in range(80))), expect="clean", changes=["out/csv_huge.csv"]),
    dict(cat="csv", argv=csv_train("csv/huge300.csv"), setup=mk("csv/huge300.csv", "t,v\n" + "".join(f"{i},{(i % 7 - 3) * 1e300:.3e}\n" for i in range(80))), expect="clean", changes=["out/csv_huge300.csv"]),
    dict(cat="csv", argv=csv_train("csv/over.csv"), setup=mk("csv/over.csv", series_csv(60) + "60,1e309\n" + series_csv(20).split("\n", 1)[1]), expect="refuse", names="row"),
    dict(cat="csv", argv=csv_train("csv/nan.csv"), setup=mk("csv/nan.csv", series_csv(60) + "60,nan\n"), expect="refuse", names="row"),
    dict(cat="csv", argv=csv_train("csv/inf.csv"), setup=mk("csv/inf.csv", series_csv(60) + "60,-inf\n"), expect="refuse", names="row"),
    dict(cat="csv", argv=csv_train("csv/blank.csv"), setup=mk("csv/blank.csv", series_csv(60) + "60,\n" + "61,1\n"), expect="refuse", names="missing value"),
    dict(cat="csv", argv=csv_train("csv/word.csv"), setup=mk("csv/word.csv", series_csv(60) + "60,abc\n"), expect="refuse", names="row"),
    dict(cat="csv", argv=csv_train("csv/bigfield.csv"), setup=mk("csv/bigfield.csv", series_csv(60) + "60," + "1" * 200_000 + "\n"), expect="refuse", names="bigfield.csv"),
    dict(cat="csv", argv=csv_train("csv/bigheader.csv"), setup=mk("csv/bigheader.csv", "x" * 300_000 + ",v\n" + series_csv(60).split("\n", 1)[1]), expect="refuse", names="bigheader.csv"),
    dict(cat="csv", argv=csv_train("csv/latin1.csv"), setup=latin1, expect="refuse", names="latin1.csv"),
    dict(cat="csv", argv=csv_train("csv/utf16.csv"), setup=lambda: write("csv/utf16.csv", series_csv(60).encode("utf-16")), expect="refuse", names="utf16.csv"),
    dict(cat="csv", argv=csv_train("csv/bom.csv", "t"), setup=lambda: write("csv/bom.csv", "\ufeff" + series_csv(60)), expect="clean", changes=["out/csv_bom.csv"], note="UTF-8 BOM before the first column's name"),
    dict(cat="csv", argv=csv_train("csv/nul.csv"), setup=lambda: write("csv/nul.csv", series_csv(30) + "30,\x001\n" + "31,2\n"), expect="refuse", names="nul.csv"),
    dict(cat="csv", argv=csv_train("csv/binary.csv"), setup=lambda: write("csv/binary.csv", random.Random(1).randbytes(5000)), expect="refuse", names="binary.csv"),
    dict(cat="csv", argv=csv_train("csv/gz.csv"), setup=lambda: write("csv/gz.csv", gzip.compress(series_csv(60).encode())), expect="refuse", names="gz.csv"),
    dict(cat="csv", argv=csv_train("csv/empty.csv"), setup=mk("csv/empty.csv", ""), expect="refuse", names="empty.csv"),
    dict(cat="csv", argv=csv_train("csv/header.csv"), setup=mk("csv/header.csv", "t,v\n"), expect="refuse", names="header.csv"),
    dict(cat="csv", argv=csv_train("csv/one.csv"), setup=mk("csv/one.csv", "t,v\n0,1.5\n"), expect="refuse", names="one.csv"),
    dict(cat="csv", argv=csv_train("csv/few.csv"), setup=mk("csv/few.csv", series_csv(8)), expect="refuse", names="few.csv"),
    dict(cat="csv", argv=csv_train("csv/const.csv"), setup=mk("csv/const.csv", "t,v\n" + "".join(f"{i},2.5\n" for i in range(80))), expect="clean", changes=["out/csv_const.csv"], note="a constant series: std 0"),
    dict(cat="csv", argv=csv_train("csv/nocol.csv", "close"), setup=mk("csv/nocol.csv", series_csv(60)), expect="refuse", names="close"),
    dict(cat="csv", argv=csv_train("csv/semi.csv"), setup=mk("csv/semi.csv", series_csv(60).replace(",", ";")), expect="refuse", names="v"),
    dict(cat="csv", argv=csv_train("csv/dup.csv"), setup=mk("csv/dup.csv", "v,v\n" + "".join(f"{i},{i % 3}\n" for i in range(60))), expect="clean", changes=["out/csv_dup.csv"]),
    dict(cat="csv", argv=csv_train("csv/crlf.csv"), setup=mk("csv/crlf.csv", series_csv(60).replace("\n", "\r\n")), expect="ok", changes=["out/csv_crlf.csv"]),
    dict(cat="csv", argv=csv_train("csv/ragged.csv"), setup=mk("csv/ragged.csv", series_csv(40) + "40\n" + "41,1,2,3\n" + series_csv(20).split("\n", 1)[1]), expect="clean", changes=["out/csv_ragged.csv"]),
    dict(cat="csv", argv=csv_train("csv"), setup=lambda: os.makedirs(p("csv"), exist_ok=True), expect="refuse", names="csv"),
    dict(cat="csv", argv=csv_train("nope.csv"), expect="refuse", names="nope.csv"),
    dict(cat="csv", argv=[*T, "--csv", "/dev/zero", "--column", "v", *SMALL, "--out", "out/devzero"], expect="refuse", names="/dev/zero", timeout=20),
    dict(cat="csv", argv=[*T, "--csv", "/etc/passwd", "--column", "v", *SMALL, "--out", "out/passwd"], expect="refuse", names="/etc/passwd", note="the user named the file: its header is shown as its columns"),
    dict(cat="csv", argv=csv_train("sp ace/dä ta.csv"), setup=mk("sp ace/dä ta.csv", series_csv(60)), expect="ok", changes=["out/sp ace_dä ta.csv"]),
    dict(cat="csv", argv=[*T, "--csv", "csv-link.csv", "--column", "v", *SMALL, "--out", "out/link"], setup=symlink("fixtures/data.csv", "csv-link.csv"), expect="ok", changes=["out/link"]),
    dict(cat="csv", argv=[*T, "--csv", "-", "--column", "v", *SMALL, "--out", "out/stdin"], expect="refuse", names="-", stdin=series_csv(60)),
    dict(cat="csv", argv=csv_train("csv/neg0.csv"), setup=mk("csv/neg0.csv", "t,v\n" + "".join(f"{i},{'-0' if i % 2 else '1e-320'}\n" for i in range(60))), expect="clean", changes=["out/csv_neg0.csv"], note="subnormal and -0 values"),
    # ---- --out paths ----
    dict(cat="--out paths", argv=[*T, "--preset", "seed001", "--out", "mine.csv/run"], expect="refuse", names="mine.csv"),
    dict(cat="--out paths", argv=[*T, "--preset", "seed001", "--out", "mine.csv"], expect="refuse", names="mine.csv"),
    dict(cat="--out paths", argv=[*T, "--preset", "seed001", "--out", "/dev/null"], expect="refuse", names="/dev/null"),
    dict(cat="--out paths", argv=[*T, "--preset", "seed001", "--out", "/proc/rnnx-run"], expect="runtime", names="/proc"),
    dict(cat="--out paths", argv=[*T, "--preset", "seed001", "--out", "x" * 300], expect="runtime", names="xxxx"),
    dict(cat="--out paths", argv=[*T, "--preset", "seed001", "--epochs", "2", "--out", "ü n i/c ö d e"], expect="ok", changes=["ü n i"]),
    dict(cat="--out paths", argv=[*T, "--preset", "seed001", "--epochs", "2", "--out", "deep/a/b/c/d"], expect="ok", changes=["deep"]),
    dict(cat="--out paths", argv=[*T, "--preset", "seed001", "--epochs", "2", "--out", "nl\nname"], expect="clean", changes=["nl\nname"], note="a newline in --out"),
    # ---- crafted model files: rnnx load FILE and rnnx predict --model DIR on each ----
    *[dict(cat="crafted files", argv=a, setup=s if k == 0 else None, expect="clean" if (k == 0 and name in LOAD_OK) else "refuse",
           names="model.npz" if k else "cr", check=c, timeout=20)
      for name, s, c in [
          ("cr-pickle-member", lambda: craft_npz("cr-pickle-member", extra={"params/evil.npy": npy(np.array([Evil()], dtype=object), True)}), None),
          ("cr-pickle-param", lambda: craft_npz("cr-pickle-param", params={**base_params(), "bias_y": np.array([Evil()], dtype=object)}), None),
          ("cr-pickle-meta", lambda: craft_npz("cr-pickle-meta", meta=np.array([Evil()], dtype=object)), None),
          ("cr-bomb", lambda: bomb_npz("cr-bomb", 1.0), faster_than(5)),
          ("cr-int", lambda: craft_npz("cr-int", params={k: v.astype(np.int64) for k, v in base_params().items()}), None),
          ("cr-complex", lambda: craft_npz("cr-complex", params={k: v.astype(np.complex128) for k, v in base_params().items()}), None),
          ("cr-bool", lambda: craft_npz("cr-bool", params={k: v > 0 for k, v in base_params().items()}), None),
          ("cr-longdouble", lambda: craft_npz("cr-longdouble", params={k: v.astype(np.longdouble) for k, v in base_params().items()}), None),
          ("cr-str", lambda: craft_npz("cr-str", params={k: v.astype(str) for k, v in base_params().items()}), None),
          ("cr-struct", lambda: craft_npz("cr-struct", params={k: np.zeros(v.shape, dtype=[("a", "<f8")]) for k, v in base_params().items()}), None),
          ("cr-shape", lambda: craft_npz("cr-shape", params={**base_params(), "weight_hh_l0": np.zeros((16, 17))}), None),
          ("cr-missing", lambda: craft_npz("cr-missing", params={k: v for k, v in base_params().items() if k != "bias_y"}), None),
          ("cr-nometa", lambda: craft_npz("cr-nometa", meta=False), None),
          ("cr-notjson", lambda: craft_npz("cr-notjson", meta="{not json"), None),
          ("cr-list", lambda: craft_npz("cr-list", meta="[1, 2, 3]"), None),
          ("cr-deep", lambda: craft_npz("cr-deep", meta=deep_json(100000)), None),
          ("cr-hidden-neg", lambda: meta_with("cr-hidden-neg", model__hidden_size=-1), None),
          ("cr-hidden-str", lambda: meta_with("cr-hidden-str", model__hidden_size="16"), None),
          ("cr-hidden-huge", lambda: meta_with("cr-hidden-huge", model__hidden_size=10**9), None),
          ("cr-cell", lambda: meta_with("cr-cell", model__cell="transformer"), None),
          ("cr-nomodel", lambda: meta_with("cr-nomodel", model=DELETE), None),
          ("cr-norm", lambda: meta_with("cr-norm", norm=["a", None]), None),
          ("cr-norm-zero", lambda: meta_with("cr-norm-zero", norm=[0.0, 0.0]), None),
          ("cr-window", lambda: meta_with("cr-window", window=10**12), None),
          ("cr-version", lambda: meta_with("cr-version", version=99), None),
          ("cr-format", lambda: meta_with("cr-format", format="evil"), None),
          ("cr-nan-meta", lambda: craft_npz("cr-nan-meta", meta=json.dumps(base_meta()).replace("0.7060022693970612", "NaN")), None),
          ("cr-int-meta", lambda: craft_npz("cr-int-meta", meta=np.arange(3)), None),
          ("cr-csvtext", lambda: (copy_run("cr-csvtext"), write("cr-csvtext/model.npz", series_csv(20))), None),
          ("cr-empty", lambda: (copy_run("cr-empty"), write("cr-empty/model.npz", b"")), None),
          ("cr-trunc", lambda: (copy_run("cr-trunc"), open(p("cr-trunc/model.npz"), "r+b").truncate(3000)), None),
          ("cr-random", lambda: (copy_run("cr-random"), write("cr-random/model.npz", random.Random(2).randbytes(9000))), None),
          ("cr-dir", lambda: (copy_run("cr-dir"), os.unlink(p("cr-dir/model.npz")), os.makedirs(p("cr-dir/model.npz"))), None),
          ("cr-passwd-link", lambda: (copy_run("cr-passwd-link"), os.unlink(p("cr-passwd-link/model.npz")), os.symlink("/etc/passwd", p("cr-passwd-link/model.npz"))), stderr_lacks("root:x:")),
          ("cr-loop", lambda: (copy_run("cr-loop"), os.unlink(p("cr-loop/model.npz")), os.symlink("model.npz", p("cr-loop/model.npz"))), None),
          ("cr-nan-params", lambda: craft_npz("cr-nan-params", params={k: np.full_like(v, np.nan) for k, v in base_params().items()}), None),
          ("cr-dup", lambda: craft_npz("cr-dup", extra={"params/bias_y.npy": npy(np.zeros(1))}), None),
      ]
      for k, a in enumerate([["load", f"{name}/model.npz"], ["predict", "--model", name, "--out", f"{name}-pred.csv"]])],
    dict(cat="crafted files", argv=["predict", "--model", "pw", "--out", "pw.csv"], setup=passwd_model("pw"), expect="refuse", names="/etc/passwd", check=stderr_lacks("root:x:", "daemon", "/bin/")),
    dict(cat="crafted files", argv=["forecast", "--model", "pw", "--out", "pwf.csv"], expect="refuse", names="/etc/passwd", check=stderr_lacks("root:x:", "daemon", "/bin/")),
    dict(cat="crafted files", argv=["load", "pw/model.npz"], expect="clean", check=stderr_lacks("root:x:", "daemon")),
    # ---- concurrency ----
    dict(cat="concurrency", concurrent=[[*T, "--preset", "seed001", "--epochs", "40", "--out", "cc1"]] * 2, expect="one-wins", changes=["cc1"], names="in use"),
    dict(cat="concurrency", concurrent=[[*T, "--preset", "seed001", "--epochs", "40", "--out", "cc2"]] * 3, expect="one-wins", changes=["cc2"], names="in use"),
    dict(cat="concurrency", concurrent=[[*T, "--preset", "seed001", "--epochs", "150", "--early-stopping", "200", "--out", "cc3"], [*T, "--resume", "cc3"]], delay=1.5, expect="one-wins", changes=["cc3"], names="cc3", note="resume while the first run trains"),
    dict(cat="concurrency", concurrent=[[*T, "--resume", "cc4", "--epochs", "300"], [*T, "--resume", "cc4", "--epochs", "300"]], setup=mkrun("cc4"), expect="one-wins", changes=["cc4"], names="in use"),
    # ---- signals ----
    *[dict(cat="signals", argv=[*T, "--preset", "seed001", "--epochs", "200", "--early-stopping", "200", "--out", f"sg-{s}"], signal=SIG[s], expect=128 + SIG[s],
           changes=[f"sg-{s}"], check=both(stderr_has("--resume"), exists(f"sg-{s}/checkpoint.npz")))
      for s in SIG],
    *[dict(cat="signals", argv=[*T, "--resume", f"sg-{s}"], expect="ok", changes=[f"sg-{s}"], note="resume after the signal")
      for s in SIG],
    *[dict(cat="signals", argv=[*T, "--preset", "seed001", "--out", f"sg-early{t}"], signal=signal.SIGINT, signal_at=t, expect=130,
           changes=[f"sg-early{t}"], note=f"Ctrl-C {t} s into start-up") for t in (0.05, 0.1, 0.2, 0.4)],
    dict(cat="signals", argv=["forecast", "--model", "po", "--steps", "100000", "--out", "sg-f.csv"], setup=once_run("po"), signal=signal.SIGTERM, signal_at=1.0, expect=143, changes=["sg-f.csv", "sg-f.png"],
         check=both(stderr_has("stopped by SIGTERM; nothing was written"), absent("sg-f.csv", "sg-f.png"))),
    # ---- issue 27 item 1: a stored address is never connected to (check (g) counts connections) ----
    # ---- --resume: a run folder names no address or process count (issue 27 items 1, 7, 9a, 12) ----
    dict(cat="stored addresses", argv=[*T, "--resume", "rp1", "--epochs", "20"], listen=True,
         setup=checkpoint_settings("rp1", "early", dask_scheduler=here, dask_timeout=2.0), expect="ok",
         changes=["rp1"], check=both(epochs_are("rp1", 20), stderr_has("note: the run trained on Dask (stored --dask-scheduler")),
         note="an edited checkpoint names a listening Dask scheduler: not dialled, resumed in one process"),
    dict(cat="stored addresses", argv=[*T, "--resume", "rp2", "--epochs", "20"],
         setup=checkpoint_settings("rp2", "early", dask_workers=400), expect="ok", changes=["rp2"],
         check=both(epochs_are("rp2", 20), stderr_has("stored --dask-workers 400", "resuming in this process")),
         note="an edited checkpoint asks for 400 Dask workers: none started"),
    dict(cat="stored addresses", argv=[*T, "--resume", "rp3", "--epochs", "20", "--dask-scheduler", given_listener(), "--dask-timeout", "2"],
         setup=chain(mkrun("rp3", "early"), counted), expect="usage", names="--dask-scheduler", check=dialled(),
         note="--dask-scheduler given again is used; a scheduler that does not answer refuses, nothing changed"),
    dict(cat="stored addresses", argv=[*T, "--resume", "rp4", "--epochs", "20", "--dask-timeout", "5"], setup=mkrun("rp4", "early"),
         expect="usage", names="--dask-timeout"),
    dict(cat="stored addresses", argv=[*T, "--resume", "rp5", "--epochs", "20", "--dask-workers", "0"], setup=mkrun("rp5", "early"),
         expect="usage", names="--dask-workers"),
    dict(cat="stored addresses", argv=[*T, "--resume", "rp6", "--dask-workers", "2"], setup=mkrun("rp6"), expect="usage",
         names="--dask-workers", note="a finished run without --epochs trains nothing: the Dask flag is refused"),
    dict(cat="stored addresses", argv=[*T, "--resume", "rp7", "--epochs", "20"], setup=checkpoint_settings("rp7", "early", preset="/etc/passwd"),
         expect="usage", names="checkpoint.npz", check=stderr_lacks("root:x:"),
         note="settings.preset a path: a malformed checkpoint, not an internal error"),
    dict(cat="stored addresses", argv=[*T, "--resume", "rp8", "--epochs", "3"], listen=True,
         setup=record_settings("rp8", dask_scheduler=here, dask_timeout=2.0), expect="ok",
         changes=["rp8"], check=stderr_has("note: the run trained on Dask"),
         note="a classification run's edited classes.json names a listening scheduler: not dialled"),
    dict(cat="stored addresses", argv=[*T, "--resume", "rp9", "--epochs", "3"],
         setup=record_settings("rp9", dask_workers=400, coordinator="10.0.0.1:1234", num_processes=400), expect="ok",
         changes=["rp9"], check=stderr_has("stored --dask-workers 400")),
    dict(cat="stored addresses", argv=[*T, "--resume", "rp10", "--epochs", "4"], setup=record_settings("rp10", batch_size=0),
         expect="usage", names="classes.json", note="a refused resume changes no file (e)"),
    dict(cat="stored addresses", argv=[*T, "--resume", "rp11", "--epochs", "4"], setup=record_settings("rp11", lr=-1),
         expect="usage", names="classes.json"),
    dict(cat="stored addresses", argv=[*T, "--resume", "rp12", "--epochs", "4", "--dask-scheduler", given_listener(), "--dask-timeout", "2"],
         setup=chain(record_settings("rp12"), counted), expect="usage", names="--dask-scheduler", check=dialled(),
         note="classification resume onto a scheduler that does not answer: classes.json not rewritten"),
    dict(cat="conflicting options", argv=[*T, "--preset", "seed001", "--backend", "jax", "--devices", "2", "--coordinator",
                                        "localhost:99999", "--num-processes", "2", "--process-id", "0", "--out", "co1"],
         expect="usage", names="--coordinator", check=absent("co1")),
    dict(cat="crafted files", argv=["sample", "--model", "tf1"], setup=text_first("tf1", "Z"), expect="runtime",
         names="text.json", check=stderr_lacks("--prime:")),
    dict(cat="predict/forecast misuse", argv=["predict", "--model", "pm1"], setup=panel_model_misfit("pm1"),
         expect="usage", names="model.npz", check=stderr_lacks("object at 0x")),
    # ---- a run's files are never read through a link or from a FIFO; a silent scheduler is bounded ----
    # a run's file that is a symbolic link (rnnx never writes one): refused in one line, the link and its target unchanged
    dict(cat="run files (links, FIFOs)", argv=[*T, "--resume", "rl1", "--epochs", "90"], setup=chain(mkrun("rl1"), link_out("rl1", "checkpoint.npz")), expect="refuse", names="rl1/checkpoint.npz", check=stderr_has("symbolic link")),
    dict(cat="run files (links, FIFOs)", argv=["forecast", "--model", "rl2"], setup=chain(mkrun("rl2"), link_out("rl2", "model.npz")), expect="refuse", names="rl2/model.npz", check=stderr_has("symbolic link")),
    dict(cat="run files (links, FIFOs)", argv=[*T, "--resume", "rl3", "--epochs", "3"], setup=chain(panel_copy("rl3"), link_out("rl3", "classes.json")), expect="refuse", names="rl3/classes.json", check=stderr_has("symbolic link")),
    dict(cat="run files (links, FIFOs)", argv=[*T, "--resume", "rl4", "--epochs", "3"], setup=chain(panel_copy("rl4"), link_out("rl4", "checkpoint.npz")), expect="refuse", names="rl4/checkpoint.npz", check=stderr_has("symbolic link")),
    dict(cat="run files (links, FIFOs)", argv=["predict", "--model", "rl5"], setup=chain(panel_copy("rl5"), link_out("rl5", "model.npz")), expect="refuse", names="rl5/model.npz", check=stderr_has("symbolic link")),
    dict(cat="run files (links, FIFOs)", argv=[*T, "--resume", "rl6", "--max-updates", "10"], setup=chain(text_run("rl6"), link_out("rl6", "checkpoint.npz")), expect="refuse", names="rl6/checkpoint.npz", check=stderr_has("symbolic link")),
    dict(cat="run files (links, FIFOs)", argv=["sample", "--model", "rl7"], setup=chain(text_run("rl7"), link_out("rl7", "text.json")), expect="refuse", names="rl7/text.json", check=stderr_has("symbolic link")),
    dict(cat="run files (links, FIFOs)", argv=["sample", "--model", "rl8"], setup=chain(text_run("rl8"), link_out("rl8", "model.npz")), expect="refuse", names="rl8/model.npz", check=stderr_has("symbolic link")),
    # a checkpoint that is a FIFO: named as one (was "holds no checkpoint.npz"), without waiting for a writer
    dict(cat="run files (links, FIFOs)", argv=[*T, "--resume", "rf1", "--epochs", "90"], setup=chain(mkrun("rf1"), fifo_at("rf1", "checkpoint.npz")), expect="refuse", names="rf1/checkpoint.npz", check=stderr_has("FIFO")),
    dict(cat="run files (links, FIFOs)", argv=[*T, "--resume", "rf2", "--epochs", "3"], setup=chain(panel_copy("rf2"), fifo_at("rf2", "checkpoint.npz")), expect="refuse", names="rf2/checkpoint.npz", check=stderr_has("FIFO")),
    dict(cat="run files (links, FIFOs)", argv=[*T, "--resume", "rf3", "--max-updates", "10"], setup=chain(text_run("rf3"), fifo_at("rf3", "checkpoint.npz")), expect="refuse", names="rf3/checkpoint.npz", check=stderr_has("FIFO")),
    # a Dask scheduler that accepts and never answers: one line within --dask-timeout (was a hang past the harness's timeout)
    dict(cat="stored addresses", argv=[*T, "--csv", "fixtures/data.csv", "--column", "v", *SMALL, "--dask-scheduler", silent_scheduler(), "--dask-timeout", "2", "--out", "out/silent"], expect="usage", names="--dask-scheduler", check=both(stderr_has("no Dask handshake"), absent("out/silent"))),
    dict(cat="stored addresses", argv=[*T, "--resume", "dk1", "--epochs", "85"], listen=True,
         setup=checkpoint_settings("dk1", dask_scheduler=here, dask_timeout=10.0), expect="ok", changes=["dk1"],
         check=epochs_are("dk1", 85), note="checkpoint.npz names a listening socket as its Dask scheduler; resume runs here, connects nowhere"),
    # ---- issue 27 item 2: the lock file ----
    dict(cat="lock", argv=[*T, "--resume", "lk1", "--epochs", "20"], setup=lock_link("lk1"), expect="refuse",
         names=".rnnx.lock", check=both(unchanged("victim-lk1.txt", "lk1/.rnnx.lock"), stderr_lacks("SECRET"))),
    dict(cat="lock", argv=[*T, "--preset", "seed001", "--epochs", "2", "--out", "lk2"], setup=lock_link("lk2", None),
         expect="refuse", names=".rnnx.lock", check=both(unchanged("victim-lk2.txt", "lk2/.rnnx.lock"), stderr_lacks("SECRET"))),
    dict(cat="lock", argv=["predict", "--model", "lk3"], setup=lock_link("lk3"), expect="refuse", names=".rnnx.lock",
         check=both(unchanged("victim-lk3.txt", "lk3/.rnnx.lock"), absent("lk3/predictions.csv"), stderr_lacks("SECRET"))),
    dict(cat="lock", argv=[*T, "--preset", "seed001", "--epochs", "2", "--out", "lk4"], setup=lock_fifo("lk4"),
         expect="refuse", names="FIFO", timeout=300),
    dict(cat="lock", argv=[*T, "--preset", "seed001", "--epochs", "2", "--out", "lk5"], setup=lock_dir("lk5"),
         expect="refuse", names=".rnnx.lock", check=exists("lk5/.rnnx.lock/inside")),
    dict(cat="lock", argv=[*T, "--resume", "lk6", "--epochs", "20"],
         setup=chain(mkrun("lk6", "early"), mk("lk6/.rnnx.lock", SECRET)), expect="refuse", names=".rnnx.lock",
         check=both(unchanged("lk6/.rnnx.lock"), stderr_lacks("SECRET"))),
    dict(cat="lock", argv=[*T, "--resume", "lk7", "--epochs", "20"],
         setup=chain(mkrun("lk7", "early"), mk("lk7/.rnnx.lock", "pid 999999 on nowhere since 2020-01-02T03:04:05\n")),
         expect="ok", changes=["lk7"], check=both(stderr_has("pid 999999 on nowhere"), stderr_lacks("2020-01-02"))),
    dict(cat="lock", argv=[*T, "--resume", "lk8", "--epochs", "20"],
         setup=chain(mkrun("lk8", "early"), mk("lk8/.rnnx.lock", "")), expect="ok", changes=["lk8"]),
    # ---- issue 27 item 3: an existing file is replaced only with --overwrite, never a run's, never twice ----
    dict(cat="outputs", argv=[*B, "--json", "ou-mine.json"], setup=chain(mkrun("ou"), mk("ou-mine.json", "keep me")),
         expect="usage", names="--json", check=unchanged("ou-mine.json")),
    dict(cat="outputs", argv=[*B, "--plot", "ou-mine.json"], expect="usage", names="--plot", check=unchanged("ou-mine.json")),
    dict(cat="outputs", argv=[*B, "--json", "ou/model.npz", "--overwrite"], expect="usage", names="ou/model.npz",
         check=unchanged("ou/model.npz")),
    dict(cat="outputs", argv=[*B, "--json", "ou/metrics.json", "--plot", "ou-b.png", "--overwrite"], expect="usage",
         names="ou/metrics.json", check=both(unchanged("ou/metrics.json"), absent("ou-b.png"))),
    dict(cat="outputs", argv=[*B, "--json", "ou-b.out", "--plot", "ou-b.out"], expect="usage", names="same file",
         check=absent("ou-b.out")),
    dict(cat="outputs", argv=[*B, "--json", "ou-mine.json", "--plot", "ou-hard.png", "--overwrite"],
         setup=lambda: os.link(p("ou-mine.json"), p("ou-hard.png")), expect="usage", names="same file",
         check=unchanged("ou-mine.json")),
    dict(cat="outputs", argv=["parity", "--backend", "numpy", "--cells", "lstm", "--json", "ou-mine.json"], expect="usage",
         names="--json", check=unchanged("ou-mine.json")),
    dict(cat="outputs", argv=["parity", "--backend", "numpy", "--cells", "lstm", "--json", "ou/checkpoint.npz", "--overwrite"],
         expect="usage", names="ou/checkpoint.npz", check=unchanged("ou/checkpoint.npz")),
    dict(cat="outputs", argv=["forecast", "--model", "ou", "--steps", "3", "--out", "ou-f.png"], expect="usage",
         names="same file", check=absent("ou-f.png")),
    dict(cat="outputs", argv=["diagnose", "--model", "ou", "--out", "ou", "--overwrite"], expect="usage",
         names="ou/diagnostics.json", check=absent("ou/diagnostics.json")),
    dict(cat="outputs", argv=["save", "--from-torch", "gru.pt", "--out", "ou/checkpoint.npz", "--overwrite"],
         expect="usage", names="is a file of the run", check=unchanged("ou/checkpoint.npz")),
    dict(cat="outputs", argv=[*B, "--json", "ou-mine.json", "--overwrite"], setup=lambda: os.unlink(p("ou-hard.png")),
         expect="ok", changes=["ou-mine.json"], check=stderr_lacks("Traceback")),
    # ---- issue 27 item 8: only rnnx's own temporaries are removed ----
    dict(cat="temporaries", argv=[*T, "--resume", "tm1", "--epochs", "20"], setup=user_tmp("tm1"), expect="ok",
         changes=["tm1"], check=both(unchanged("tm1/.tmp-999999-notes.txt",
                                              "tm1/.rnnx-tmp-999999-0123456789abcdef-checkpoint.npz/inside"),
                                    stderr_lacks("removed"))),
    dict(cat="temporaries", argv=[*T, "--preset", "seed001", "--epochs", "2", "--out", "tm2"],
         setup=mk("tm2/.tmp-999999-notes.txt", "mine"), expect="refuse", names="tm2",
         note="a user's .tmp-* file makes the folder not empty"),
    # ---- issue 27 item 9b: a FIFO or a device as an input (each would hang or read 1 GiB before) ----
    *[dict(cat="non-regular inputs", argv=[*argv[:i], bad, *argv[i + 1:]], setup=chain(fifo("in.fifo"), good_ts(), once_run("nr")),
           expect="refuse", names=flag, check=both(stderr_has(bad, kind), absent("fo")), timeout=300)
      for bad, kind in (("in.fifo", "FIFO"), ("/dev/zero", "character device"))
      for argv, flag in (
          ([*F_TRAIN, "--csv", "{}", "--column", "v"], "--csv"),
          ([*F_TRAIN, "--npz", "{}"], "--npz"),
          ([*F_TRAIN, "--ts", "{}"], "--ts"),
          ([*F_TRAIN, "--ts", "good.ts", "--test-ts", "{}"], "--test-ts"),
          ([*F_TRAIN, "--text", "{}"], "--text"),
          (["predict", "--model", "nr", "--csv", "{}", "--column", "v"], "--csv"),
          (["forecast", "--model", "nr", "--csv", "{}", "--column", "v"], "--csv"),
          (["load", "{}"], "load: "),
          (["save", "--from-torch", "{}", "--out", "nr-s.npz"], "--from-torch"))
      for i in [argv.index("{}")]],
    dict(cat="non-regular inputs", argv=["predict", "--model", "nr2"],
         setup=chain(mkrun("nr2"), lambda: os.unlink(p("nr2/model.npz")), fifo("nr2/model.npz")),
         expect="refuse", names="FIFO", timeout=300),
    dict(cat="non-regular inputs", argv=["predict", "--model", "nr3"],
         setup=chain(mkrun("nr3"), lambda: os.unlink(p("nr3/model.npz")), symlink("/dev/zero", "nr3/model.npz")),
         expect="refuse", names="symbolic link", timeout=300),
    # ---- issue 27 item 4: bounds of every run kind ----
    dict(cat="bounds (every run kind)", argv=[*T, "--npz", "bd-cases.npz", "--hidden", "30000", "--out", "bd-npz"], setup=lambda: small_npz("bd-cases.npz"), expect="refuse", names="--hidden", check=both(absent("bd-npz"), faster_than(10))),
    dict(cat="bounds (every run kind)", argv=[*T, "--text", "bd-t.txt", "--hidden", "30000", "--out", "bd-text"], setup=mk("bd-t.txt", "abcdefghij klmnop\n" * 1000), expect="refuse", names="--hidden", check=both(absent("bd-text"), faster_than(10))),
    dict(cat="bounds (every run kind)", argv=[*T, "--text", "bd-wide.txt", "--out", "bd-wide"], setup=lambda: wide_text("bd-wide.txt"), expect="refuse", names="--text", check=both(absent("bd-wide"), stderr_has("70000 distinct characters", "MAX_VOCABULARY"))),
    dict(cat="bounds (every run kind)", argv=[*T, "--npz", "bd-int8.npz", "--out", "bd-int8"], setup=lambda: int8_npz("bd-int8.npz"), expect="refuse", names="bd-int8.npz", check=both(absent("bd-int8"), stderr_has("as float64", "available")), timeout=120, note="refused from the x header; needs < 36 GB available"),
    dict(cat="bounds (every run kind)", argv=[*T, "--preset", "seed001", "--dask-workers", "500", "--out", "bd-workers"], expect="refuse", names="--dask-workers", check=absent("bd-workers")),
    dict(cat="bounds (every run kind)", argv=[*T, "--npz", "bd-cases.npz", "--dask-workers", "500", "--out", "bd-workers2"], setup=lambda: small_npz("bd-cases.npz"), expect="refuse", names="--dask-workers", check=absent("bd-workers2")),
    # ---- issue 27 item 10: .ts, a final inf is a value, not padding ----
    dict(cat=".ts values", argv=[*T, "--ts", "bd-inf.ts", "--out", "bd-inf"], setup=mk("bd-inf.ts", TS_HEAD + "".join(f"{i},{i + 1},{i + 2}:{'ab'[i % 2]}\n" for i in range(20)) + "1,2,inf:a\n"), expect="refuse", names="bd-inf.ts", check=both(absent("bd-inf"), stderr_has("case 20 channel 0 step 2"))),
    dict(cat=".ts values", argv=[*T, "--ts", "bd-1e999.ts", "--out", "bd-1e999"], setup=mk("bd-1e999.ts", TS_HEAD + "".join(f"{i},{i + 1},{i + 2}:{'ab'[i % 2]}\n" for i in range(20)) + "1,2,1e999:b\n"), expect="refuse", names="bd-1e999.ts", check=both(absent("bd-1e999"), stderr_has("case 20 channel 0 step 2"))),
    dict(cat=".ts values", argv=[*T, "--ts", "bd-pad.ts", "--epochs", "2", "--out", "bd-pad"], setup=mk("bd-pad.ts", TS_HEAD + "".join(f"{i},{i + 1},{i + 2}:{'ab'[i % 2]}\n" for i in range(20)) + "1,2,?:a\n3,4,?:b\n"), expect="ok", changes=["bd-pad"], note="NaN ('?') after the last step stays padding"),
    # ---- issue 27 item 5: every long command stops on a signal (signal_at: seconds after start) ----
    dict(cat="signals (every command)", argv=["forecast", "--model", "po", "--steps", "100000", "--out", "sg-f2.csv"], setup=once_run("po"),
         signal=signal.SIGHUP, signal_at=3.0, expect=129, changes=["sg-f2.csv", "sg-f2.png"],
         check=both(stderr_has("stopped by SIGHUP; nothing was written"), absent("sg-f2.csv", "sg-f2.png"))),
    dict(cat="signals (every command)", argv=["sample", "--model", "sg-text", "--length", "1000000"], setup=text_run("sg-text"),
         signal=signal.SIGTERM, signal_at=3.0, expect=143, check=stderr_has("stopped by SIGTERM; nothing was printed")),
    dict(cat="signals (every command)", argv=["parity", "--backend", "numpy,array-api-strict", "--json", "sg-p.json"], signal=signal.SIGTERM, signal_at=2.0,
         expect=143, changes=["sg-p.json"], check=both(stderr_has("stopped by SIGTERM; nothing was written"), absent("sg-p.json"))),
    dict(cat="signals (every command)", argv=["bench", "--cells", "rnn", "--sizes", "2,3,2,4", "--backend", "numpy", "--repeat", "1000",
                                              "--no-anchors", "--json", "sg-b.json", "--plot", "sg-b.png"], signal=signal.SIGINT, signal_at=3.0,
         expect=130, changes=["sg-b.json", "sg-b.png"],
         check=both(stderr_has("stopped by SIGINT; nothing was written"), absent("sg-b.json", "sg-b.png"))),
    dict(cat="signals (every command)", argv=["diagnose", "--compare", "clip", "--preset", "seed001", "--epochs", "5", "--quiet", "--out", "sg-cmp"],
         signal=signal.SIGTERM, signal_at=6.0, expect=143, changes=["sg-cmp"],
         check=both(stderr_has("stopped by SIGTERM; ", "of 18 runs finished", "compare.json"), absent("sg-cmp/compare.json"))),
    dict(cat="signals (every command)", argv=["diagnose", "--compare", "clip", "--preset", "seed001", "--epochs", "5", "--quiet", "--out", "sg-cmp2"],
         signal=signal.SIGHUP, signal_at=10.0, expect=129, changes=["sg-cmp2"],
         check=both(stderr_has("stopped by SIGHUP; ", "of 18 runs finished"), absent("sg-cmp2/compare.json"))),
    # ---- issue 29: the optimizers rnnx.optim.make builds (rmsprop, adamw), refusals, --min-epochs by run kind ----
    dict(cat="optimizers", argv=[*T, "--preset", "seed001", "--optimizer", "rmsprop", "--epochs", "3", "--out", "op-rms"],
         expect="ok", changes=["op-rms"], check=both(epochs_are("op-rms", 3), optimizer_used("op-rms", "rmsprop", "square_avg"))),
    dict(cat="optimizers", argv=[*T, "--preset", "seed001", "--optimizer", "adamw", "--epochs", "3", "--out", "op-adamw"],
         expect="ok", changes=["op-adamw"],
         check=both(epochs_are("op-adamw", 3), optimizer_used("op-adamw", "adamw", "exp_avg", "exp_avg_sq"))),
    dict(cat="optimizers", argv=[*T, "--preset", "seed001", "--optimizer", "adamax", "--out", "op-adamax"], expect="usage",
         names="--optimizer", check=both(stderr_has("adamax"), absent("op-adamax"))),
    dict(cat="optimizers", argv=[*T, "--preset", "seed001", "--optimizer", "rmsprop", "--momentum", "0.9", "--out", "op-rms-mom"],
         expect="usage", names="--momentum", check=both(stderr_has("rmsprop"), absent("op-rms-mom")),
         note="rnnx.optim.RMSprop has momentum; the command passes --momentum to sgd only and says so"),
    dict(cat="optimizers", argv=[*T, "--preset", "seed001", "--optimizer", "adamw", "--nesterov", "--out", "op-adamw-nest"],
         expect="usage", names="--nesterov", check=both(stderr_has("adamw"), absent("op-adamw-nest"))),
    dict(cat="min-epochs", argv=[*T, "--preset", "seed001", "--min-epochs", "5", "--out", "me-series"], expect="usage",
         names="--min-epochs", check=absent("me-series")),
    dict(cat="min-epochs", argv=[*T, "--text", "me-t.txt", "--min-epochs", "5", "--out", "me-text"],
         setup=mk("me-t.txt", "abcdefghij klmnop\n" * 300), expect="usage", names="--min-epochs", check=absent("me-text")),
    # ---- issue 27 item 6: results near the float64 limit (csv_train's --epochs 2, then 3: the last wins) ----
    dict(cat="results", argv=csv_train("csv/big.csv", "v", "--epochs", "3"), setup=mk("csv/big.csv", BIG_CSV), expect="ok",
         changes=["out/csv_big.csv"], check=metrics_null_and_finished("out/csv_big.csv")),
    dict(cat="results", argv=[*T, "--resume", "out/csv_big.csv"], expect="ok", check=unchanged(
        "out/csv_big.csv/metrics.json", "out/csv_big.csv/checkpoint.npz", "out/csv_big.csv/predictions.png"),
         note="a finished run of 1.79e308 values resumed: says finished, rewrites nothing"),
    *NEW_USER_CASES, *PLOT_CASES, *OUTACT_CASES, *COLUMN_CASES, *CLIPERF_CASES, *CKPT_CASES, *CORE_CASES, *PERFCLI_CASES, *ONE_TABLE_CASES, *CASES_PANELRUN, *CASES_TRAINCONFIG, *STREAM_CASES, *CASES_CLIRUN, *PERFB1_CASES, *CLILINES_CASES,
]


# -- full / read-only disks (unshare + tmpfs) --------------------------------------------------------
def disk_cases() -> list[dict]:
    """Cases run inside ``unshare -rm`` on a small tmpfs at DIR: ``prep`` (shell, before the
    snapshot) fills it; ``disk="ro"`` remounts it read-only after ``prep``.  ``keep``: files
    a failed run may legitimately leave (a resumable checkpoint it reports)."""
    fill = "dd if=/dev/zero of=DIR/fill bs=1k count=100000 2>/dev/null; "
    run, early = "cp -a fixtures/base DIR/run; ", "cp -a fixtures/early DIR/run; "
    c = "full/read-only disk"
    return [
        dict(cat=c, disk="64k", prep="", argv=[*T, "--preset", "seed001", "--out", "DIR/new"], keep=["new/checkpoint.npz"], note="train onto a 64 KiB disk"),
        dict(cat=c, disk="12k", prep="", argv=[*T, "--preset", "seed001", "--out", "DIR/new"], check=stderr_lacks("--resume"),
             note="train onto a 12 KiB disk: no checkpoint fits, the run's folder is removed; no --resume advised"),
        dict(cat=c, disk="1m", prep=run + fill, argv=["predict", "--model", "DIR/run", "--out", "DIR/p.csv"]),
        dict(cat=c, disk="1m", prep=run + fill, argv=["predict", "--model", "DIR/run"], note="default --out, full disk"),
        dict(cat=c, disk="1m", prep=run + fill, argv=["forecast", "--model", "DIR/run", "--steps", "2000", "--out", "DIR/f.csv"]),
        dict(cat=c, disk="1m", prep=early + fill, argv=[*T, "--resume", "DIR/run", "--epochs", "40"], keep=["run/checkpoint.npz"], note="resume onto a full disk"),
        dict(cat=c, disk="1m", prep=fill, argv=["save", "--from-torch", "gru.pt", "--out", "DIR/g.npz"]),
        dict(cat=c, disk="ro", prep="", argv=[*T, "--preset", "seed001", "--out", "DIR/new"]),
        dict(cat=c, disk="ro", prep=run, argv=["predict", "--model", "DIR/run", "--out", "DIR/p.csv"]),
        dict(cat=c, disk="ro", prep=run, argv=["predict", "--model", "DIR/run"], note="default --out inside a read-only run"),
        dict(cat=c, disk="ro", prep=early, argv=[*T, "--resume", "DIR/run", "--epochs", "40"]),
        dict(cat=c, disk="ro", prep=run, argv=["load", "DIR/run/model.npz"], expect="ok", note="reading a read-only file is fine"),
        *DISK_CASES_CLIRUN,
    ]


def disk_shell(c: dict, d: str) -> str:
    import shlex

    snap = f"(cd {d} && find . -type f ! -name .rnnx.lock -exec sha256sum {{}} + | sort) > {d}.%s"
    size = "1m" if c["disk"] == "ro" else c["disk"]
    ro = f" && mount -o remount,ro {d}" if c["disk"] == "ro" else ""
    argv = " ".join(shlex.quote(x.replace("DIR", d)) for x in c["argv"])
    return (f"mount -t tmpfs -o size={size} none {d} || exit 99; {c['prep'].replace('DIR', d)} true{ro}; {snap % 'before'}; "
            f"{shlex.quote(PY)} -m rnnx {argv} 2>{d}.err; rc=$?; {snap % 'after'}; "
            f"(cd {d} && find . -name '.rnnx-tmp-*' -o -name '*.tmp') > {d}.tmps; exit $rc")


# -- running -----------------------------------------------------------------------------------------
def run_one(c: dict, n: int) -> dict:
    global PORT
    listener = None
    if c.get("listen"):  # a socket for a file to name: any connection it gets is counted by (g)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        PORT = listener.getsockname()[1]
    try:
        r = run_case(c, n)
    finally:
        if listener is not None:
            conns, port = accepted(listener), PORT
            listener.close()
            PORT = 0
    if listener is not None:
        r["connections"], r["port"] = conns, port
    return r


def accepted(listener: socket.socket) -> int:
    """How many connections are waiting on ``listener`` (each accepted and closed)."""
    listener.setblocking(False)
    n = 0
    while True:
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return n
        conn.close()
        n += 1


def run_case(c: dict, n: int) -> dict:
    if c.get("setup"):
        c["setup"]()
    before = snapshot(W)
    t0 = time.monotonic()
    timeout = c.get("timeout", TIMEOUT)
    if "concurrent" in c:
        procs = []
        for i, a in enumerate(c["concurrent"]):
            procs.append(subprocess.Popen([PY, "-m", "rnnx", *a], cwd=W, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            if i == 0 and c.get("delay"):
                time.sleep(c["delay"])
        outs = [pr.communicate(timeout=timeout) for pr in procs]
        rcs = [pr.returncode for pr in procs]
        r = dict(cmd=" & ".join("rnnx " + " ".join(a) for a in c["concurrent"]), rc=rcs,
                 stdout="\n".join(o for o, _ in outs), stderr="\n".join(e for _, e in outs), errs=[e for _, e in outs])
    elif "disk" in c:
        d = f"disk{n}"
        os.makedirs(p(d))
        pr = subprocess.run(["unshare", "-rm", "sh", "-c", disk_shell(c, d)], cwd=W, capture_output=True, text=True, timeout=timeout)
        out = {x: open(p(f"{d}.{x}")).read() for x in ("before", "after", "tmps", "err") if os.path.exists(p(f"{d}.{x}"))}
        r = dict(cmd=f"[{c['disk']} tmpfs at DIR] rnnx " + " ".join(map(quote, c["argv"])), rc=pr.returncode, stdout=pr.stdout,
                 stderr=out.get("err", pr.stderr).replace(d, "DIR"))
        if pr.returncode == 99:
            r["skipped"] = "mount failed: " + pr.stderr.strip()
        else:
            b, a = (set(out.get(x, "").splitlines()) for x in ("before", "after"))
            r["disk_changed"] = sorted({ln.split("  ", 1)[-1][2:] for ln in b ^ a} - set(c.get("keep", [])))
            r["disk_lost"] = sorted({ln.split("  ", 1)[-1][2:] for ln in b - a} - set(c.get("keep", [])))
            r["disk_tmps"] = out.get("tmps", "").split()
        for x in out:
            os.unlink(p(f"{d}.{x}"))
    else:
        pr = subprocess.Popen([PY, "-m", "rnnx", *c["argv"]], cwd=W, stdin=subprocess.PIPE if "stdin" in c else subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if "signal" in c:
            wait_for_training(pr, c)
            pr.send_signal(c["signal"])
            if "signal2_at" in c:  # a second signal: the run stops at once (rnnx.cli.signals.Forced)
                time.sleep(c["signal2_at"])
                if pr.poll() is None:
                    pr.send_signal(c["signal"])
        try:
            out, err = pr.communicate(input=c.get("stdin"), timeout=timeout)
        except subprocess.TimeoutExpired:
            pr.kill()
            out, err = pr.communicate()
            err += f"\n[reliability.py: killed after {timeout} s]"
        r = dict(cmd="rnnx " + " ".join(map(quote, c["argv"])), rc=pr.returncode, stdout=out, stderr=err)
    r["wall_s"] = time.monotonic() - t0
    r["before"], r["after"] = before, snapshot(W)
    return r


def quote(s: str) -> str:
    import shlex

    return shlex.quote(s)


def wait_for_training(pr: subprocess.Popen, c: dict) -> None:
    """Sleep until the run holds its folder and has trained a little (or ``signal_at`` s)."""
    if "signal_at" in c:
        time.sleep(c["signal_at"])
        return
    out = c["argv"][c["argv"].index("--out") + 1] if "--out" in c["argv"] else None
    t0 = time.monotonic()
    while time.monotonic() - t0 < 20 and pr.poll() is None:
        if out and os.path.exists(p(out, ".rnnx.lock")):
            break
        time.sleep(0.02)
    time.sleep(0.8)


def judge(c: dict, r: dict) -> list[str]:
    """The violated checks of one case (empty: clean)."""
    bad = []
    exp = c.get("expect", "refuse")
    rcs = r["rc"] if isinstance(r["rc"], list) else [r["rc"]]
    lines = [x for x in r["stderr"].splitlines() if x.strip()]
    if r.get("skipped"):
        return []
    if "disk" in c:
        exp = c.get("expect", "runtime")
    refused = rcs != [0] and exp not in ("one-wins",)
    # (a) exit status
    if exp == "ok" and rcs != [0]:
        bad.append(f"(a) exit {r['rc']}, expected 0")
    elif exp == "usage" and rcs != [2]:
        bad.append(f"(a) exit {r['rc']}, expected 2 (usage)")
    elif exp == "runtime" and rcs != [1]:
        bad.append(f"(a) exit {r['rc']}, expected 1 (runtime)")
    elif exp == "refuse" and rcs[0] not in (1, 2):
        bad.append(f"(a) exit {r['rc']}, expected a refusal (1 or 2)")
    elif exp == "clean" and rcs[0] < 0:
        bad.append(f"(a) exit {r['rc']}: killed")
    elif isinstance(exp, int) and rcs != [exp]:
        bad.append(f"(a) exit {r['rc']}, expected {exp}")
    elif exp == "signal-or-ok" and rcs[0] not in (0, 143, -15):
        bad.append(f"(a) exit {r['rc']}, expected 143")
    elif exp == "nochange" and rcs[0] not in (0, 1, 2):
        bad.append(f"(a) exit {r['rc']}")
    elif exp == "one-wins" and sorted(rcs) != [0] + [1] * (len(rcs) - 1):
        bad.append(f"(a) exits {rcs}, expected one 0 and the others 1")
    # (b) one line naming the argument or file
    if exp == "one-wins":
        for e, rc in zip(r["errs"], rcs):
            ls = [x for x in e.splitlines() if x.strip()]
            if rc != 0 and (len(ls) != 1 or c["names"] not in e):
                bad.append(f"(b) loser's stderr has {len(ls)} lines / does not name {c['names']!r}")
    elif refused and not isinstance(exp, int) and exp != "signal-or-ok":
        if len(lines) != 1:
            bad.append(f"(b) {len(lines)} stderr lines, expected 1")
        want = c.get("names", "DIR" if "disk" in c else None)
        if want and want not in r["stderr"]:
            bad.append(f"(b) stderr does not name {want!r}")
    elif isinstance(exp, int) and (exp > 128 or exp == 3):
        if len(lines) != 1:
            bad.append(f"(b) {len(lines)} stderr lines after the signal, expected 1")
    # (c), (d)
    if "Traceback" in r["stderr"]:
        bad.append("(c) Traceback")
    if "internal error" in r["stderr"]:
        bad.append("(d) internal error")
    # (e) files unchanged
    allowed = tuple(c.get("changes", [])) if rcs and all(x == 0 for x in rcs) or exp in ("one-wins",) or (isinstance(exp, int) and (exp > 128 or exp == 3)) or exp == "signal-or-ok" else ()
    if exp == "nochange":
        allowed = ()
    changed = sorted(k for k in set(r["before"]) | set(r["after"])
                     if r["before"].get(k) != r["after"].get(k)
                     and not any(k == a or k.startswith(a.rstrip("/") + "/") for a in allowed)
                     and not k.endswith(".rnnx.lock"))
    lost = [k for k in changed if k in r["before"]]
    if "disk" in c:
        changed += [f"(in the tmpfs) {x}" for x in r.get("disk_changed", [])]
        lost += [f"(in the tmpfs) {x}" for x in r.get("disk_lost", [])]
    if changed:
        bad.append(f"(e) files changed: {changed[:6]}{' ...' if len(changed) > 6 else ''}")
    r["changed"] = changed
    # (f) temporaries
    tmps = temporaries(W) + r.get("disk_tmps", [])
    if tmps:
        bad.append(f"(f) temporaries left: {tmps[:4]}")
        for t in temporaries(W):  # count each once
            os.unlink(p(t))
    r["tmps"] = tmps
    # (g) code run by a file: a pickle, a connection to the address a file named
    if os.path.exists(MARKER):
        bad.append("(g) a pickle ran")
        os.unlink(MARKER)
    if r.get("connections"):
        bad.append(f"(g) {r['connections']} connection(s) to the listening socket a file named (port {r.get('port', '?')})")
    if c.get("check") and not r.get("skipped"):
        try:
            bad += [f"(case) {m}" for m in c["check"](r)]
        except Exception as e:  # the check itself could not look (a file missing)
            bad.append(f"(case) check failed: {type(e).__name__}: {e}")
    # files lost: a file that was there before, changed or vanished outside the command's outputs,
    # or one the case's unchanged() check names
    r["lost"] = sorted(set(lost) | set(r.get("lost_by_check", [])))
    return bad


# -- the SIGKILL loop --------------------------------------------------------------------------------
def params_of(run: str) -> dict[str, bytes]:
    from rnnx.io.checkpoint import load

    _, groups = load(p(run, "model.npz"))
    return {k: (str(v.dtype), v.shape, np.ascontiguousarray(v).tobytes()) for k, v in groups["params"].items()}


def kill_loop(kills: int, seed: int = 16) -> dict:
    argv = [*T, "--preset", "seed001", "--epochs", "70"]
    t0 = time.monotonic()
    subprocess.run([PY, "-m", "rnnx", *argv, "--out", "kill-ref"], cwd=W, check=True, capture_output=True)
    ref = params_of("kill-ref")
    rng = random.Random(seed)
    done, rounds, survived, problems, delivered = 0, [], 0, [], 0
    while done < kills and len(rounds) < 3 * kills:
        out = f"kill-{len(rounds)}"
        per_round = min(kills - done, 10)
        k, starts = 0, 0
        while True:
            resume = os.path.exists(p(out, "checkpoint.npz"))
            cmd = [*T, "--resume", out] if resume else [*argv, "--out", out]
            pr = subprocess.Popen([PY, "-m", "rnnx", *cmd], cwd=W, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            starts += 1
            if k < per_round:
                time.sleep(rng.uniform(0.3, 2.3))
                if pr.poll() is None:
                    pr.kill()
                    pr.communicate()
                    k += 1
                    continue
            o, e = pr.communicate(timeout=120)
            if pr.returncode != 0:
                problems.append(f"{out}: rnnx {' '.join(cmd)} exited {pr.returncode}: {e.strip()}")
                if "Traceback" in e or starts > 40:
                    break
                continue
            break  # finished (before the round's kills were all used: a shorter round)
        same = os.path.exists(p(out, "model.npz")) and params_of(out) == ref
        tmps = temporaries(p(out))
        if tmps:
            problems.append(f"{out}: temporaries left after the run finished: {tmps}")
        if not same:
            problems.append(f"{out}: model.npz params differ from the uninterrupted run after {k} kills")
        survived += k if same and not tmps else 0
        delivered += k
        done += k
        rounds.append(dict(folder=out, kills=k, starts=starts, bit_identical=same))
    return dict(kills=delivered, survived_bit_identical=survived, rounds=rounds, problems=problems,
                wall_s=round(time.monotonic() - t0, 1), seed=seed)


# -- fixtures ----------------------------------------------------------------------------------------
def fixtures() -> None:
    def train(*a, cwd=W):
        pr = subprocess.run([PY, "-m", "rnnx", *T, *a], cwd=cwd, capture_output=True, text=True)
        if pr.returncode:
            sys.exit(f"fixture failed: rnnx train {' '.join(a)}: {pr.stderr}")

    os.makedirs(p("fixtures"))
    write("fixtures/data.csv", series_csv(120))
    write("fixtures/data2.csv", series_csv(120))
    train("--preset", "seed001", "--out", "fixtures/base")  # finished, early-stopped at 80
    train("--preset", "seed001", "--epochs", "15", "--out", "fixtures/early")  # done at 15: resume extends
    train("--csv", "fixtures/data.csv", "--column", "v", *SMALL, "--out", "fixtures/csvrun")
    train("--csv", "fixtures/data2.csv", "--column", "v", *SMALL, "--out", "fixtures/csvrun2")
    train("--csv", "fixtures/data.csv", "--column", "v", *SMALL, "--horizon", "2", "--out", "fixtures/horizon2")
    torch_good()
    os.makedirs(p("sub"))
    write("sub/data.csv", series_csv(120))
    train("--csv", "data.csv", "--column", "v", *SMALL, "--out", "../fixtures/relcsv", cwd=p("sub"))


def main() -> int:
    global W, MARKER
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", help="write the tally here")
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--keep", action="store_true", help="keep the working folder")
    ap.add_argument("--only", metavar="CATEGORY[,CATEGORY]",
                    help="run only the categories whose names contain one of these words (no kill loop with --kills 0)")
    args = ap.parse_args()
    W = tempfile.mkdtemp(prefix="rnnx-reliability-")
    MARKER = os.path.join(W, "PICKLE-RAN")
    t0 = time.monotonic()
    fixtures()
    only = [w.strip() for w in args.only.split(",") if w.strip()] if args.only else []
    cases = [c for c in CASES + disk_cases() if not only or any(w in c["cat"] for w in only)]
    if not cases:
        ap.error(f"--only {args.only!r}: no category matches; categories: {', '.join(dict.fromkeys(c['cat'] for c in CASES + disk_cases()))}")
    results = []
    for n, c in enumerate(cases):
        r = run_one(c, n)
        bad = judge(c, r)
        results.append((c, r, bad))
        mark = "ok " if not bad else "BAD"
        print(f"{mark} {n:3d} [{c['cat']}] {r['cmd'][:110]}  -> {r['rc']} ({r['wall_s']:.1f} s) {'; '.join(bad)[:200]}", flush=True)
    kl = kill_loop(args.kills) if args.kills else dict(kills=0, survived_bit_identical=0, rounds=[], problems=[])
    tally = summarise(results, kl, time.monotonic() - t0)
    print_table(tally)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(tally, f, indent=1, ensure_ascii=False)
            f.write("\n")
    if args.keep:
        print("working folder:", W)
    else:
        shutil.rmtree(W, ignore_errors=True)
    return 0


def summarise(results, kl, wall) -> dict:
    cats: dict[str, dict] = {}
    viol = []
    for c, r, bad in results:
        s = cats.setdefault(c["cat"], dict(cases=0, clean=0, violations=0, skipped=0))
        s["cases"] += 1
        if r.get("skipped"):
            s["skipped"] += 1
        s["clean"] += not bad
        s["violations"] += bool(bad)
        if bad:
            viol.append(dict(category=c["cat"], command=r["cmd"], exit=r["rc"], problems=bad, wall_s=round(r["wall_s"], 2),
                             stderr=r["stderr"].strip()[-1500:], note=c.get("note")))
    nonzero = [(c, r, b) for c, r, b in results if (r["rc"] if not isinstance(r["rc"], list) else max(r["rc"])) != 0]
    def one_line(r):  # one line of rnnx's own (not the harness's note on a command it killed)
        return (len([x for x in r["stderr"].splitlines() if x.strip()]) == 1 and "Traceback" not in r["stderr"]
                and "internal error" not in r["stderr"] and "[reliability.py: killed" not in r["stderr"])

    one_line_count = sum(1 for c, r, b in nonzero if one_line(r))
    return dict(
        cases=len(results), per_category=cats,
        failed_or_refused=len(nonzero), clean_one_line_errors=one_line_count,
        not_one_line=[dict(command=r["cmd"], exit=r["rc"], stderr=r["stderr"].strip()[-600:]) for c, r, b in nonzero if not one_line(r)],
        tracebacks=sum("Traceback" in r["stderr"] for _, r, _ in results),
        internal_errors=sum("internal error" in r["stderr"] for _, r, _ in results),
        commands_that_modified_files=sum(bool(r["changed"]) for _, r, _ in results),
        files_modified=sum(len(r["changed"]) for _, r, _ in results),
        files_lost=sum(len(r["lost"]) for _, r, _ in results),
        files_lost_paths=[dict(command=r["cmd"], files=r["lost"]) for _, r, _ in results if r["lost"]],
        commands_leaving_temporaries=sum(bool(r["tmps"]) for _, r, _ in results),
        temporaries_left=sum(len(r["tmps"]) for _, r, _ in results),
        pickles_run=sum(any("(g) a pickle ran" in b for b in bad) for _, _, bad in results),
        connections_made=sum(r.get("connections", 0) for _, r, _ in results),
        cases_listening=sum("connections" in r for _, r, _ in results),
        code_run_by_a_file=sum(any(b.startswith("(g)") for b in bad) for _, _, bad in results),
        skipped=[dict(command=r["cmd"], reason=r["skipped"]) for _, r, _ in results if r.get("skipped")],
        cases_with_violations=len(viol), kill_loop=kl,
        exits=dict(sorted(__import__("collections").Counter(str(r["rc"]) for _, r, _ in results).items())), wall_s=round(wall, 1), violations=viol,
    )


def print_table(t: dict) -> None:
    print(f"\n{'category':28s} {'cases':>5s} {'clean':>5s} {'violations':>10s}")
    for k, s in t["per_category"].items():
        print(f"{k:28s} {s['cases']:5d} {s['clean']:5d} {s['violations']:10d}")
    print(f"{'total':28s} {t['cases']:5d} {t['cases'] - t['cases_with_violations']:5d} {t['cases_with_violations']:10d}\n")
    kl = t["kill_loop"]
    for label, v in [
        ("failed or refused commands", t["failed_or_refused"]),
        ("  of which clean one-line errors", t["clean_one_line_errors"]),
        ("tracebacks", t["tracebacks"]),
        ('"internal error" for a user mistake', t["internal_errors"]),
        ("commands that modified files when they should not", t["commands_that_modified_files"]),
        ("  files modified", t["files_modified"]),
        ("files lost (a user's file changed or vanished)", t["files_lost"]),
        ("code run by a file (cases)", t["code_run_by_a_file"]),
        ("  pickles run", t["pickles_run"]),
        ("  connections to an address a file named", f"{t['connections_made']} ({t['cases_listening']} cases listening)"),
        ("commands leaving temporaries", t["commands_leaving_temporaries"]),
        ("  temporaries left", t["temporaries_left"]),
        ("cases skipped", len(t["skipped"])),
        ("SIGKILLs survived with bit-identical resume / kills", f"{kl['survived_bit_identical']} / {kl['kills']}"),
        ("wall time (s)", t["wall_s"]),
    ]:
        print(f"{label:52s} {v}")
    for s in t["skipped"]:
        print("skipped:", s["command"], "--", s["reason"])
    for m in kl["problems"]:
        print("kill loop:", m)
    print(f"\n{len(t['violations'])} cases violated a check:")
    for v in t["violations"]:
        print(f"- [{v['category']}] {v['command']}\n    exit {v['exit']}: {'; '.join(v['problems'])}\n    stderr: {v['stderr'][-400:]!r}")


if __name__ == "__main__":
    sys.exit(main())
