"""A run folder is data, never instructions (issue 27, items 2, 3, 8 and 9b): what rnnx
finds at its lock's, its temporaries' and its inputs' names is never written through,
deleted or read without bound, and no command replaces a file the user did not ask it to.

Each refusal is checked for its exit status, one line on stderr naming the flag or file,
and not one byte or permission bit changed of what was there.
"""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import subprocess
import sys

import pytest

from rnnx.cli import main, runfolder
from rnnx.cli.errors import AppError
from rnnx.io import atomic

PY = sys.executable
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = ["--preset", "seed001", "--epochs", "3", "--quiet"]
DEAD = 2**22 + 12345  # above any pid_max default: no such process
SECRET = "api_key=SECRET-TOKEN-0123456789\nsecond line of the user's notes\n"


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {err!r}"
    assert "Traceback" not in err and "internal error" not in err, err
    return lines[0]


def state(path) -> tuple[str, int] | None:
    """A file's SHA-256 and permission bits (None when it is not there)."""
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest(), stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None


def snapshot(root) -> dict:
    """Every entry under ``root`` (not following links): a file's digest and mode, a link's
    target, a FIFO or folder's kind."""
    out = {}
    for dirpath, dirs, names in os.walk(root):
        for n in names + dirs:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            key = os.path.relpath(p, root)
            if stat.S_ISLNK(st.st_mode):
                out[key] = ("link", os.readlink(p))
            elif stat.S_ISREG(st.st_mode):
                out[key] = state(p)
            else:
                out[key] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode))
    return out


def rnnx_run(*argv, cwd, timeout=300) -> subprocess.CompletedProcess:
    """``python -m rnnx ARGV`` in ``cwd`` (this checkout's rnnx); a hang fails by the timeout."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([PY, "-m", "rnnx", *map(str, argv)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished regression run (copied for each test that changes it)."""
    root = tmp_path_factory.mktemp("trained")
    assert main(["train", *RUN, "--out", str(root / "r")]) == 0
    return root / "r"


def copy_run(trained, dest):
    import shutil

    shutil.copytree(trained, dest)
    return dest


# -- item 2: the lock file ------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["resume", "new", "predict"])
def test_lock_symlink_to_a_file_outside_is_refused(capsys, tmp_path, trained, command):
    victim = tmp_path / "mine.txt"
    victim.write_text(SECRET)
    os.chmod(victim, 0o640)
    before = state(victim)
    if command == "new":
        r = tmp_path / "new"
        r.mkdir()
        argv = ["train", *RUN, "--out", r]
    else:
        r = copy_run(trained, tmp_path / "r")
        argv = ["train", "--resume", r, "--epochs", "4", "--quiet"] if command == "resume" else ["predict", "--model", r]
    (r / ".rnnx.lock").symlink_to(victim)
    folder = snapshot(r)
    code, out, err = cli(capsys, *argv)
    line = one_line(err)
    assert code != 0 and ".rnnx.lock" in line and "symbolic link" in line, err
    assert "SECRET" not in err + out
    assert state(victim) == before  # byte for byte, mode too
    assert snapshot(r) == folder


def _lock_refused(folder) -> str:
    with pytest.raises(AppError) as e:
        with runfolder.Lock(str(folder), option="--out"):
            pass
    return str(e.value)


def test_lock_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / ".rnnx.lock")
    before = snapshot(tmp_path)
    p = rnnx_run("train", *RUN, "--out", tmp_path, cwd=tmp_path)  # a hang fails by the timeout
    line = one_line(p.stderr)
    assert p.returncode != 0 and ".rnnx.lock" in line and "FIFO" in line, p.stderr
    assert snapshot(tmp_path) == before


def test_lock_directory_is_refused(tmp_path):
    (tmp_path / ".rnnx.lock").mkdir()
    (tmp_path / ".rnnx.lock" / "inside").write_text("x")
    before = snapshot(tmp_path)
    msg = _lock_refused(tmp_path)
    assert ".rnnx.lock" in msg and "folder" in msg and "\n" not in msg, msg
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("content", [SECRET, "pid 12 on host since 2020\n" + SECRET, "pid 1x\n", "\x00" * 10,
                                     "pid 123 on ho st since 2020\n"])
def test_lock_with_foreign_content_is_refused_unprinted(capsys, tmp_path, content):
    lock = tmp_path / ".rnnx.lock"
    lock.write_text(content)
    os.chmod(lock, 0o600)
    before = snapshot(tmp_path)
    msg = _lock_refused(tmp_path)
    assert ".rnnx.lock" in msg and "remove it" in msg and "\n" not in msg, msg
    assert "SECRET" not in msg and "second line" not in msg and "ho st" not in msg
    assert snapshot(tmp_path) == before
    code, out, err = cli(capsys, "train", *RUN, "--out", tmp_path)  # the command: one line, nothing changed
    assert code != 0 and "SECRET" not in err + out, err
    one_line(err)
    assert snapshot(tmp_path) == before


def test_lock_hard_link_is_refused(tmp_path):
    victim = tmp_path / "mine.txt"
    victim.write_text("")  # even an empty file: a second name of it is not rnnx's lock
    (tmp_path / "r").mkdir()
    os.link(victim, tmp_path / "r" / ".rnnx.lock")
    msg = _lock_refused(tmp_path / "r")
    assert "hard link" in msg, msg
    assert victim.read_text() == ""


def test_stale_lock_is_taken_over_and_only_pid_and_host_printed(capsys, tmp_path, trained):
    r = copy_run(trained, tmp_path / "r")
    (r / ".rnnx.lock").write_text(f"pid {DEAD} on somehost.example since 2020-01-02T03:04:05\n")
    code, _, err = cli(capsys, "train", "--resume", r, "--epochs", "4", "--quiet")
    assert code == 0, err
    notes = [ln for ln in err.splitlines() if "stale lock" in ln]
    assert len(notes) == 1 and f"pid {DEAD} on somehost.example" in notes[0], err
    assert "2020" not in notes[0]
    assert not (r / ".rnnx.lock").exists()


def test_empty_lock_is_taken_over(capsys, tmp_path, trained):
    """A run killed between the lock's open and its write left it empty: still rnnx's."""
    r = copy_run(trained, tmp_path / "r")
    (r / ".rnnx.lock").write_bytes(b"")
    code, _, err = cli(capsys, "train", "--resume", r, "--epochs", "4", "--quiet")
    assert code == 0, err
    with runfolder.Lock(str(r), option="--out") as lock:  # and by the Lock itself, with its own record
        with open(r / ".rnnx.lock", encoding="ascii") as f:
            mine = f.read()
        assert mine.startswith(f"pid {os.getpid()} on ") and lock.notes == []
    assert runfolder.parse_lock(mine) == (os.getpid(), runfolder.lock_host())


def test_live_lock_names_only_its_pid_and_host(tmp_path):
    with runfolder.Lock(str(tmp_path), option="--out"):
        p = rnnx_run("train", *RUN, "--out", tmp_path, cwd=tmp_path)
    line = one_line(p.stderr)
    assert p.returncode == 1 and f"pid {os.getpid()} on " in line and "since" not in line, p.stderr
    assert socket.gethostname() in line or "unknown" in line


# -- item 8: only rnnx's own temporaries are removed ------------------------------------------------------
def test_temporary_names_parse_strictly(tmp_path):
    tmp = os.path.basename(atomic.temporary_name(str(tmp_path / "checkpoint.npz")))
    assert atomic.owner_pid(tmp) == os.getpid() and tmp.endswith("-checkpoint.npz"), tmp
    for name in (f".tmp-{DEAD}-notes.txt", f".tmp-{DEAD}-0badc0de-checkpoint.npz", f".rnnx-tmp-{DEAD}-0badc0de-x",
                 f".rnnx-tmp-{DEAD}-0123456789ABCDEF-x", f".rnnx-tmp-0{DEAD}-0123456789abcdef-x",
                 f".rnnx-tmp-{DEAD}-0123456789abcdef-", ".rnnx-tmp--1-0123456789abcdef-x", "notes.txt"):
        assert atomic.owner_pid(name) is None, name
    assert atomic.owner_pid(f".rnnx-tmp-{DEAD}-0123456789abcdef-model.npz") == DEAD


def test_resume_leaves_what_is_not_rnnxs_temporary(capsys, tmp_path, trained):
    r = copy_run(trained, tmp_path / "r")
    outside = tmp_path / "outside.txt"
    outside.write_text(SECRET)
    (r / f".tmp-{DEAD}-notes.txt").write_text(SECRET)  # a user's file, of the old temporaries' form
    (r / f".tmp-{DEAD}-0badc0de-checkpoint.npz").write_bytes(b"an older rnnx's killed write: left, not rnnx's now")
    (r / f".rnnx-tmp-{DEAD}-0123456789abcdef-checkpoint.npz").mkdir()  # a folder of the very form
    (r / f".rnnx-tmp-{DEAD}-0123456789abcdef-history.csv").symlink_to(outside)  # a link of that form
    (r / f".rnnx-tmp-{DEAD}-fedcba9876543210-model.npz").write_bytes(b"half a write")  # rnnx's: removed
    keep = {k: v for k, v in snapshot(r).items() if k.startswith((".tmp-", ".rnnx-tmp-"))}
    del keep[f".rnnx-tmp-{DEAD}-fedcba9876543210-model.npz"]
    before = state(outside)
    code, _, err = cli(capsys, "train", "--resume", r, "--epochs", "4", "--quiet")
    assert code == 0, err
    removed = [ln for ln in err.splitlines() if "removed" in ln]
    assert len(removed) == 1 and f".rnnx-tmp-{DEAD}-fedcba9876543210-model.npz" in removed[0], err
    assert {k: v for k, v in snapshot(r).items() if k.startswith((".tmp-", ".rnnx-tmp-"))} == keep
    assert state(outside) == before


def test_old_temporary_names_are_not_rnnxs_files(tmp_path, trained):
    """A ``.tmp-<pid>-...`` file is the user's: a folder holding one is not empty, and
    ``predict --out`` may write it (with --overwrite) like any file of the user's."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / f".tmp-{DEAD}-notes.txt").write_text("mine")
    with pytest.raises(AppError, match="is not empty"):
        runfolder.check_new(str(tmp_path / "d"), overwrite=False)
    r = copy_run(trained, tmp_path / "r")
    assert runfolder.protected(str(r / f".tmp-{DEAD}-notes.txt")) is None
    assert runfolder.protected(str(r / f".rnnx-tmp-{DEAD}-0123456789abcdef-x.csv")) == os.path.realpath(r)


# -- item 3: an existing file is replaced only with --overwrite, never a run's, never twice ---------------
def _user_file(path, text="the user's own file\n"):
    path.write_text(text)
    os.chmod(path, 0o600)
    return state(path)


@pytest.fixture
def no_bench(monkeypatch):
    """Count the bench's rounds: a refused command runs none."""
    from rnnx.cli import bench

    calls = []
    monkeypatch.setattr(bench, "run", lambda **kw: calls.append(kw) or pytest.fail("the bench ran"))
    return calls


def test_bench_outputs_refused_before_the_bench_runs(capsys, tmp_path, trained, no_bench):
    mine = tmp_path / "mine.json"
    before = _user_file(mine)
    small = ["bench", "--sizes", "2,4,3,5", "--cells", "lstm", "--repeat", "1", "--warmup", "1", "--no-anchors",
             "--backend", "numpy"]
    run_before = snapshot(trained)
    for argv, flag, words in (
            (["--json", mine], "--json", "pass --overwrite"),
            (["--plot", mine], "--plot", "pass --overwrite"),
            (["--json", trained / "metrics.json", "--overwrite"], "--json", "is a file of the run"),
            (["--plot", trained / "model.npz", "--overwrite"], "--plot", "is a file of the run"),
            (["--json", tmp_path / "b.out", "--plot", tmp_path / "b.out"], "--plot", "same file"),
            (["--json", tmp_path / "nofolder" / "b.json"], "--json", "does not exist")):
        code, out, err = cli(capsys, *small, *argv)
        line = one_line(err)
        assert code == 2 and line.startswith(f"rnnx bench: error: {flag}: ") and words in line, (argv, err)
    assert not no_bench and state(mine) == before and snapshot(trained) == run_before
    assert not (tmp_path / "b.out").exists()


def test_bench_overwrite_replaces_a_users_file(capsys, tmp_path):
    mine = tmp_path / "mine.json"
    _user_file(mine)
    os.link(mine, tmp_path / "mine-too.json")  # a second name of the same file: one output, two names
    code, _, err = cli(capsys, "bench", "--sizes", "2,4,3,5", "--cells", "lstm", "--repeat", "1", "--warmup", "1",
                       "--no-anchors", "--backend", "numpy", "--json", mine, "--plot", tmp_path / "mine-too.json",
                       "--overwrite")
    assert code == 2 and "same file" in one_line(err), err
    os.unlink(tmp_path / "mine-too.json")
    code, _, err = cli(capsys, "bench", "--sizes", "2,4,3,5", "--cells", "lstm", "--repeat", "1", "--warmup", "1",
                       "--no-anchors", "--backend", "numpy", "--json", mine, "--overwrite")
    assert code == 0, err
    assert '"rows"' in mine.read_text() and stat.S_IMODE(os.stat(mine).st_mode) == 0o600


def test_parity_json_refused_before_the_parity_runs(capsys, tmp_path, trained, monkeypatch):
    from rnnx.cli import parity

    calls = []
    monkeypatch.setattr(parity, "collect", lambda *a, **k: calls.append(a) or pytest.fail("the parity ran"))
    mine = tmp_path / "mine.json"
    before, run_before = _user_file(mine), snapshot(trained)
    for argv, words in ((["--json", mine], "pass --overwrite"),
                        (["--json", trained / "checkpoint.npz", "--overwrite"], "is a file of the run"),
                        (["--json", tmp_path], "is a folder")):
        code, _, err = cli(capsys, "parity", "--backend", "numpy", "--cells", "lstm", *argv)
        line = one_line(err)
        assert code == 2 and line.startswith("rnnx parity: error: --json: ") and words in line, (argv, err)
    assert not calls and state(mine) == before and snapshot(trained) == run_before


def test_parity_json_overwrite_is_atomic_and_keeps_the_mode(capsys, tmp_path):
    mine = tmp_path / "mine.json"
    _user_file(mine)
    code, _, err = cli(capsys, "parity", "--backend", "numpy", "--cells", "lstm", "--json", mine, "--overwrite")
    assert code == 0, err
    assert '"rows"' in mine.read_text() and stat.S_IMODE(os.stat(mine).st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["mine.json"]  # no temporary left beside it


def test_forecast_csv_and_plot_never_share_a_file(capsys, tmp_path, trained):
    r = copy_run(trained, tmp_path / "r")
    run_before = snapshot(r)
    code, _, err = cli(capsys, "forecast", "--model", r, "--steps", "3", "--out", tmp_path / "mine.png")
    line = one_line(err)
    assert code == 2 and line.startswith("rnnx forecast: error: --out: ") and "same file" in line, err
    assert not (tmp_path / "mine.png").exists()
    a = tmp_path / "f.csv"
    before = _user_file(a)
    os.link(a, tmp_path / "f.png")  # the plot's name is a second name of the CSV
    code, _, err = cli(capsys, "forecast", "--model", r, "--steps", "3", "--out", a, "--overwrite")
    assert code == 2 and "same file" in one_line(err), err
    assert state(a) == before and snapshot(r) == run_before


def test_predict_out_never_a_run_file_even_through_a_link(capsys, tmp_path, trained):
    r = copy_run(trained, tmp_path / "r")
    run_before = snapshot(r)
    (tmp_path / "p.csv").symlink_to(r / "metrics.json")
    code, _, err = cli(capsys, "predict", "--model", r, "--out", tmp_path / "p.csv", "--overwrite")
    line = one_line(err)
    assert code == 2 and "is a file of the run" in line, err
    assert snapshot(r) == run_before
    mine = tmp_path / "mine.csv"
    before = _user_file(mine)
    code, _, err = cli(capsys, "predict", "--model", r, "--out", mine)
    assert code == 2 and "pass --overwrite" in one_line(err), err
    assert state(mine) == before


def test_save_out_refused_before_the_torch_file_is_read(capsys, tmp_path, trained, monkeypatch):
    torch = pytest.importorskip("torch")
    torch.save(torch.nn.GRU(3, 4).state_dict(), tmp_path / "gru.pt")
    r = copy_run(trained, tmp_path / "r")
    run_before = snapshot(r)
    calls = []
    real = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: (calls.append(a), real(*a, **k))[1])
    code, _, err = cli(capsys, "save", "--from-torch", tmp_path / "gru.pt", "--out", r / "model.npz", "--overwrite")
    line = one_line(err)
    assert code == 2 and line.startswith("rnnx save: error: --out: ") and "is a file of the run" in line, err
    assert not calls and snapshot(r) == run_before


def test_diagnose_out_never_writes_into_a_run(capsys, tmp_path, trained):
    r = copy_run(trained, tmp_path / "r")
    run_before = snapshot(r)
    code, _, err = cli(capsys, "diagnose", "--model", r, "--out", r, "--overwrite")
    line = one_line(err)
    assert code == 2 and line.startswith("rnnx diagnose: error: --out: ") and "is a file of the run" in line, err
    assert snapshot(r) == run_before


# -- item 9b: a FIFO or a device as an input is refused before a byte is read -------------------------
TS = ("@problemName t\n@timeStamps false\n@univariate true\n@equalLength true\n@classLabel true a b\n@data\n"
      + "".join(f"1,2,3,{i},5,6,7,8:{'ab'[i % 2]}\n" for i in range(12)))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, trained):
    """A folder with a FIFO (no writer: a reader would wait forever), good files of each
    kind, a regression run, a classification run, and runs whose files are a FIFO or a
    link to /dev/zero."""
    import shutil

    import numpy as np

    d = tmp_path_factory.mktemp("inputs")
    os.mkfifo(d / "fifo")
    (d / "t.ts").write_text(TS)
    rng = np.random.default_rng(0)
    np.savez(d / "p.npz", x=rng.standard_normal((30, 10)), y=np.arange(30) % 2)
    shutil.copytree(trained, d / "r")
    assert main(["train", "--npz", str(d / "p.npz"), "--epochs", "1", "--hidden", "4", "--quiet",
                 "--out", str(d / "rc")]) == 0
    for name, make in (("rfifo", lambda p: os.mkfifo(p)), ("rzero", lambda p: os.symlink("/dev/zero", p))):
        shutil.copytree(trained, d / name)
        os.unlink(d / name / "model.npz")
        make(d / name / "model.npz")
    assert main(["train", *RUN, "--diagnostics", "--out", str(d / "rdiag")]) == 0
    os.unlink(d / "rdiag" / "diagnostics.json")
    os.mkfifo(d / "rdiag" / "diagnostics.json")
    shutil.copytree(trained, d / "rck")
    os.unlink(d / "rck" / "checkpoint.npz")
    os.mkfifo(d / "rck" / "checkpoint.npz")
    return d


_TRAIN = ["train", "--epochs", "1", "--quiet", "--out", "o"]
NONREGULAR = [  # (argv with {bad} for the FIFO or /dev/zero, the flag or file named)
    (["train", "--csv", "{bad}", "--column", "v", "--epochs", "1", "--quiet", "--out", "o"], "--csv"),
    (["train", "--csv", "{bad}", "--targets", "v", "--epochs", "1", "--quiet", "--out", "o"], "--csv"),
    ([*_TRAIN, "--npz", "{bad}"], "--npz"),
    ([*_TRAIN, "--ts", "{bad}"], "--ts"),
    ([*_TRAIN, "--ts", "t.ts", "--test-ts", "{bad}"], "--test-ts"),
    ([*_TRAIN, "--text", "{bad}"], "--text"),
    (["predict", "--model", "r", "--csv", "{bad}", "--column", "v"], "--csv"),
    (["forecast", "--model", "r", "--csv", "{bad}", "--column", "v"], "--csv"),
    (["predict", "--model", "rc", "--npz", "{bad}"], "--npz"),
    (["predict", "--model", "rc", "--ts", "{bad}"], "--ts"),
    (["load", "{bad}"], "load: {bad}"),
    (["save", "--from-torch", "{bad}", "--out", "s.npz"], "--from-torch"),
]


@pytest.mark.parametrize("bad", ["fifo", "/dev/zero"])
@pytest.mark.parametrize("argv,flag", NONREGULAR, ids=[f"{a[0]}-{f}" for a, f in NONREGULAR])
def test_non_regular_input_is_refused_before_reading(inputs, argv, flag, bad):
    if bad != "fifo" and not os.path.exists(bad):
        pytest.skip(f"{bad} does not exist here")
    before = snapshot(inputs)
    argv = [a.replace("{bad}", bad) for a in argv]
    p = rnnx_run(*argv, cwd=inputs)  # a reader of the FIFO would wait for a writer: the timeout fails it
    line = one_line(p.stderr)
    kind = "FIFO" if bad == "fifo" else "character device"
    assert p.returncode in (1, 2) and kind in line and f"{bad}'" in line, p.stderr
    assert line.split(": error: ")[1].startswith(flag.replace("{bad}", repr(bad))), p.stderr  # the flag first
    assert snapshot(inputs) == before and not (inputs / "o").exists()


@pytest.mark.parametrize("argv,kind", [(["predict", "--model", "rfifo"], "FIFO"),
                                       (["forecast", "--model", "rfifo"], "FIFO"),
                                       (["predict", "--model", "rzero"], "symbolic link"),
                                       (["load", "rzero/model.npz"], "character device"),
                                       (["train", "--resume", "rck", "--epochs", "4"], "checkpoint.npz"),
                                       (["train", "--resume", "rdiag", "--epochs", "4"], "FIFO")])
def test_a_run_file_that_is_not_a_regular_file_is_refused(inputs, argv, kind):
    before = snapshot(inputs)
    p = rnnx_run(*argv, cwd=inputs)
    line = one_line(p.stderr)
    assert p.returncode in (1, 2) and kind in line and argv[-1 if argv[0] == "load" else 2] in line, p.stderr
    assert snapshot(inputs) == before


def test_open_regular_reads_nothing_of_a_device(tmp_path):
    import tracemalloc

    from rnnx.io import inputs

    os.mkfifo(tmp_path / "f")
    tracemalloc.start()
    try:
        for path in (str(tmp_path / "f"), "/dev/zero", str(tmp_path)):
            with pytest.raises(inputs.NotARegularFile, match="expected a regular file"):
                inputs.open_regular(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024
    (tmp_path / "a").write_text("abc")
    os.symlink(tmp_path / "a", tmp_path / "l")
    with inputs.open_regular(str(tmp_path / "l")) as f:
        assert f.read() == b"abc"
    with pytest.raises(inputs.NotARegularFile, match="symbolic link"):
        inputs.open_regular(str(tmp_path / "l"), nofollow=True)
