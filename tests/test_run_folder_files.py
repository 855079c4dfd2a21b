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
                 f".rnnx-tmp-{DEAD}-0123456789abcdef-", f".rnnx-tmp--1-0123456789abcdef-x", "notes.txt"):
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
