"""Never lose a result: run folders under kills, signals, concurrent runs, full and
read-only disks, and the careless-user cases of issue 16, through the real command line.

Every refused command is checked four ways: its exit status, exactly one line on stderr
naming the argument or file, no traceback and no "internal error", and not one byte or
permission bit of the files already there changed.  The SIGKILL loop kills training at
random moments (``RNNX_KILLS``, default 10; marked ``soak``: ``RNNX_KILLS=200 python -m
pytest -m soak tests/test_reliability.py`` runs the long loop alone) and requires the
resumed run's model to be bit-identical to an uninterrupted one.  Full-disk and read-only cases mount a small
tmpfs in a user namespace (``unshare -rm``) and skip, with the reason, where the machine
does not allow it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

from rnnx.cli import main
from rnnx.io import checkpoint

PY = sys.executable
# the run the kill loop, the signal tests and the concurrency test train: seed 001's sine,
# 70 epochs (early-stopping patience 30 after the best epoch 50 stops it at epoch 80 otherwise)
RUN = ["--preset", "seed001", "--epochs", "70", "--quiet"]


# -- helpers ------------------------------------------------------------------------------------
def snapshot(root) -> dict[str, tuple[str, int]]:
    """Every file under ``root``: its SHA-256 and permission bits."""
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = (hashlib.sha256(f.read()).hexdigest(), stat.S_IMODE(os.stat(p).st_mode))
    return out


def metrics(folder) -> dict:
    with open(os.path.join(folder, "metrics.json"), encoding="utf-8") as f:
        return json.load(f)


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {err!r}"
    assert "Traceback" not in err and "internal error" not in err, err
    return lines[0]


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def rnnx_process(*argv, cwd, **kw) -> subprocess.Popen:
    return subprocess.Popen([PY, "-m", "rnnx", *map(str, argv)], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def params_of(path) -> dict[str, bytes]:
    meta, groups = checkpoint.load(str(path))
    return {k: v.tobytes() for k, v in groups["params"].items()}


def history_of(folder) -> list[tuple]:
    meta, _ = checkpoint.load(os.path.join(folder, "checkpoint.npz"))
    return [(r["epoch"], r["batch_loss"], r["train_mse"], r["val_mse"]) for r in meta["history"]]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run every interrupted one must reproduce bit for bit."""
    root = tmp_path_factory.mktemp("reference")
    p = subprocess.run([PY, "-m", "rnnx", "train", *RUN, "--out", "ref"], cwd=root, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return root / "ref"


def wait_for_training(folder, proc, timeout=600.0) -> bool:
    """Until the run holds its folder's lock (its inputs are checked and it is about to
    train); False when the process ended first."""
    t0, lock = time.monotonic(), os.path.join(folder, ".rnnx.lock")
    while True:  # a SIGKILLed run leaves its lock file: wait for this process's pid in it
        try:
            with open(lock, encoding="utf-8") as f:
                if f.read().startswith(f"pid {proc.pid} "):
                    return True
        except FileNotFoundError:
            pass
        if proc.poll() is not None or time.monotonic() - t0 > timeout:
            return False
        time.sleep(0.01)


def finished(folder) -> bool:
    try:
        return bool(checkpoint.load(os.path.join(folder, "checkpoint.npz"))[0]["run"].get("finished"))
    except (checkpoint.CheckpointError, FileNotFoundError):
        return False


# -- SIGKILL at random moments ----------------------------------------------------------------------
@pytest.mark.soak
def test_sigkill_loop_resumes_bit_identical(tmp_path, reference):
    """Kill training with SIGKILL at random moments (during training, checkpoint writes and
    the final writes), resume each time; every run must end with the reference's model."""
    kills_wanted = int(os.environ.get("RNNX_KILLS", "10"))
    rng = random.Random(os.environ.get("RNNX_KILL_SEED", "16"))
    kills, rounds, after_checkpoint = 0, 0, 0
    while kills < kills_wanted:
        rounds += 1
        folder = tmp_path / f"round{rounds}"
        stalls, last = 0, None
        for _ in range(200):
            if finished(folder):
                break
            argv = ["train", "--resume", folder.name, "--quiet"] if (folder / "checkpoint.npz").exists() else \
                ["train", *RUN, "--out", folder.name]
            state = sorted(os.listdir(folder)) + [str(history_of(folder)[-1:])] if argv[1] == "--resume" else None
            stalls = stalls + 1 if state == last else 0  # no progress since the last kill: wait longer
            last = state
            proc = rnnx_process(*argv, cwd=tmp_path)
            if wait_for_training(folder, proc):
                time.sleep(rng.uniform(0.0, 0.6 * 1.5**stalls))
            if proc.poll() is None:
                after_checkpoint += (folder / "checkpoint.npz").exists()
                proc.send_signal(signal.SIGKILL)
                kills += 1
            out, err = proc.communicate()
            assert proc.returncode in (0, -signal.SIGKILL), err
            if proc.returncode == 0:
                assert err == "" or all(": note: " in ln for ln in err.splitlines()), err
                if not finished(folder):  # "finished" written, then killed before exit? no: 0 means it exited
                    raise AssertionError(f"exit 0 without a finished checkpoint in {folder}: {out}{err}")
        assert finished(folder)
        assert params_of(folder / "model.npz") == params_of(reference / "model.npz")
        assert history_of(folder) == history_of(reference)
        assert not [n for n in os.listdir(folder) if n.startswith(".rnnx-tmp-") or n == ".rnnx.lock"]
    print(f"{kills} SIGKILLs ({after_checkpoint} after the first checkpoint) in {rounds} round(s): "
          "every resumed model bit-identical")
    assert kills >= kills_wanted and after_checkpoint >= 1


# -- SIGINT / SIGTERM / SIGHUP ----------------------------------------------------------------------
@pytest.mark.soak
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_signal_stops_at_a_safe_point(tmp_path, reference, sig):
    proc = rnnx_process("train", *RUN, "--checkpoint-every", "1000", "--out", "r", cwd=tmp_path)
    assert wait_for_training(tmp_path / "r", proc)
    time.sleep(0.4)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal arrived (a very fast machine)")
    assert proc.returncode == 128 + sig, err
    line = one_line(err)
    m = re.fullmatch(rf"rnnx train: stopped by {sig.name}; kept epoch (\d+) in r/checkpoint\.npz; "
                     r"continue with: rnnx train --resume r", line)
    assert m, line
    meta, _ = checkpoint.load(str(tmp_path / "r" / "checkpoint.npz"))
    assert meta["epoch"] == int(m[1]) and not meta["run"].get("finished")
    p = subprocess.run([PY, "-m", "rnnx", "train", "--resume", "r", "--quiet"], cwd=tmp_path, capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr
    assert params_of(tmp_path / "r" / "model.npz") == params_of(reference / "model.npz")
    assert history_of(tmp_path / "r") == history_of(reference)


def test_stale_temporaries_and_lock_are_cleaned_up(capsys, tmp_path):
    code, _, err = cli(capsys, "train", *RUN, "--epochs", "3", "--out", tmp_path / "r")
    assert code == 0
    r = tmp_path / "r"
    dead = 2**22 + 12345  # above any pid_max default: no such process
    (r / f".rnnx-tmp-{dead}-0badc0de0badc0de-checkpoint.npz").write_bytes(b"half a checkpoint")
    (r / ".rnnx.lock").write_text(f"pid {dead} on somewhere since then\n")
    code, _, err = cli(capsys, "train", "--resume", r, "--epochs", "4", "--quiet")
    assert code == 0, err
    assert "took over the stale lock" in err and f".rnnx-tmp-{dead}-0badc0de0badc0de-checkpoint.npz" in err
    assert sorted(os.listdir(r)) == sorted(["checkpoint.npz", "model.npz", "metrics.json", "history.csv",
                                            "convergence.png", "predictions.png"])


# -- concurrent runs ------------------------------------------------------------------------------------
def test_concurrent_runs_into_one_folder(tmp_path, reference):
    """Two runs into one folder at once: one trains, the other is refused with one line
    and changes nothing; the winner's results are the reference's."""
    for attempt in range(3):
        folder = f"c{attempt}"
        procs = [rnnx_process("train", *RUN, "--out", folder, cwd=tmp_path) for _ in range(2)]
        results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
        codes = sorted(r[0] for r in results)
        assert codes[0] == 0 and codes[1] in (1, 2), results
        loser = next(r for r in results if r[0] != 0)
        line = one_line(loser[2])
        assert "in use by another rnnx process" in line or "already holds a run" in line, line
        assert params_of(tmp_path / folder / "model.npz") == params_of(reference / "model.npz")


# -- the careless user: every case a clean line and no file changed --------------------------------------
@pytest.fixture
def run_dir(tmp_path, capsys, monkeypatch):
    """A finished run ``r`` in ``tmp_path`` (the cwd), and a CSV ``s.csv``."""
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, "train", *RUN, "--epochs", "5", "--out", "r")
    assert code == 0, err
    (tmp_path / "s.csv").write_text("v\n" + "".join(f"{np.sin(i / 5):.6f}\n" for i in range(120)))
    return tmp_path


def _latin1(p):
    p.write_bytes("v\n1.0\n2.0\ncaf\xe9\n".encode("latin-1"))


def _big_field(p):
    p.write_text("v\n1\n" + "9" * (200 * 1024) + "\n")


def _blank(p):
    p.write_text("v,w\n1,2\n,3\n4,5\n" + "".join(f"{i},{i}\n" for i in range(40)))


def _file(p):
    p.write_text("not a folder")


def _torch_file(p):
    import torch

    torch.save(torch.nn.GRU(1, 3).state_dict(), p)


#: (id, setup of a path "x" in the folder, argv, exit status, what the one line must contain)
REFUSED = [
    ("out-holds-a-run", None, ["train", *RUN, "--out", "r"], 2, "already holds a run"),
    ("out-holds-results-only", "results", ["train", *RUN, "--out", "x"], 2, "holds rnnx results"),
    ("out-holds-other-files", "notes", ["train", *RUN, "--out", "x"], 2, "is not empty"),
    ("out-is-a-file", _file, ["train", *RUN, "--out", "x"], 2, "is a file"),
    ("out-under-a-file", _file, ["train", *RUN, "--out", "x/r"], 2, "which is a file"),
    ("out-empty", None, ["train", *RUN, "--out", ""], 2, "--out: expected a folder name"),
    ("resume-with-out", None, ["train", "--resume", "r", "--out", "other"], 2, "drop --out"),
    ("resume-with-overwrite", None, ["train", "--resume", "r", "--overwrite"], 2, "drop --overwrite"),
    ("resume-with-setting", None, ["train", "--resume", "r", "--lr", "0.1"], 2, "drop --lr"),
    ("resume-fewer-epochs", None, ["train", "--resume", "r", "--epochs", "3"], 2, "--epochs: the run"),
    ("resume-not-a-run", "notes", ["train", "--resume", "x"], 2, "holds no checkpoint.npz"),
    ("resume-missing", None, ["train", "--resume", "nothing"], 2, "is not a folder"),
    ("allow-changed-without-resume", None, ["train", *RUN, "--out", "y", "--allow-changed-data"], 2,
     "--allow-changed-data: applies with --resume only"),
    ("predict-over-model", None, ["predict", "--model", "r", "--out", "r/model.npz"], 2, "is a file of the run"),
    ("predict-over-metrics", None, ["predict", "--model", "r", "--out", "r/metrics.json"], 2, "is a file of the run"),
    ("forecast-png-over-plot", None, ["forecast", "--model", "r", "--out", "r/predictions.csv"], 2,
     "is a file of the run"),
    ("predict-over-a-user-file", "notes", ["predict", "--model", "r", "--out", "x/notes.txt"], 2,
     "exists; pass --overwrite"),
    ("predict-into-missing-folder", None, ["predict", "--model", "r", "--out", "missing/p.csv"], 2,
     "does not exist"),
    ("predict-column-without-csv", None, ["predict", "--model", "r", "--column", "v"], 2,
     "--column: applies with --csv only"),
    ("forecast-too-many-steps", None, ["forecast", "--model", "r", "--steps", "10000000000000"], 2, "--steps"),
    ("forecast-zero-steps", None, ["forecast", "--model", "r", "--steps", "0"], 2, "--steps"),
    ("tbptt-one-number", None, ["train", *RUN, "--objective", "many-to-many", "--tbptt", "5", "--out", "y"], 2,
     "--tbptt"),
    ("csv-latin1", _latin1, ["train", "--csv", "x", "--column", "v", "--out", "y", "--quiet"], 2, "UTF-8"),
    ("csv-big-field", _big_field, ["train", "--csv", "x", "--column", "v", "--out", "y", "--quiet"], 2, "field"),
    ("csv-blank-cell", _blank, ["train", "--csv", "x", "--column", "v", "--out", "y", "--quiet"], 2,
     "missing value"),
    ("preset-and-csv", None, ["train", "--preset", "seed001", "--csv", "s.csv", "--column", "v", "--out", "y"], 2,
     "--csv"),
    ("column-without-csv", None, ["train", "--preset", "seed001", "--column", "v", "--out", "y"], 2, "--column"),
    ("momentum-with-adam", None, ["train", *RUN, "--momentum", "0.9", "--out", "y"], 2, "--momentum"),
    ("checkpoint-every-negative", None, ["train", *RUN, "--checkpoint-every", "-2", "--out", "y"], 2,
     "--checkpoint-every"),
    ("split-no-test", None, ["train", *RUN, "--split", "1,0,0", "--out", "y"], 2, "--split"),
    ("hidden-too-big", None, ["train", *RUN, "--hidden", "100000", "--out", "y"], 2, "--hidden"),
    ("save-over-existing", _torch_file, ["save", "--from-torch", "x", "--out", "s.csv"], 2,
     "--out: 's.csv' exists; pass --overwrite"),
    ("save-not-torch", None, ["save", "--from-torch", "s.csv", "--out", "y.npz"], 2, "--from-torch"),
    ("predict-over-the-lock", None, ["predict", "--model", "r", "--out", "r/.rnnx.lock"], 2, "is a file of the run"),
    ("save-over-a-run-file", _torch_file, ["save", "--from-torch", "x", "--out", "r/model.npz", "--overwrite"], 2,
     "is a file of the run"),
    ("predict-nan-model", "nan-model", ["predict", "--model", "x"], 2, "non-finite parameters: params["),
    ("predict-short-csv", "short-csv", ["predict", "--model", "r", "--csv", "x", "--column", "v"], 2,
     "--csv: 'x' (3 values) does not fit the model"),
    ("forecast-short-csv", "short-csv", ["forecast", "--model", "r", "--csv", "x", "--column", "v"], 2,
     "--csv: 'x' has 3 values"),
    ("horizon-too-far", None, ["train", *RUN, "--horizon", "100000", "--out", "y"], 2, "--horizon: "),
    ("csv-too-short", "short-csv", ["train", "--csv", "x", "--column", "v", "--out", "y", "--quiet"], 2,
     "(--csv "),
    ("layers-too-many", None, ["train", *RUN, "--layers", "100000", "--out", "y"], 2, "--layers: "),  # memory or bound
    ("load-a-csv", None, ["load", "s.csv"], 2, "s.csv"),
    ("load-missing", None, ["load", "nothing.npz"], 2, "nothing.npz"),
]


def _setup(root, how) -> None:
    x = root / "x"
    if how is None:
        return
    if how == "results":
        x.mkdir()
        shutil.copy(root / "r" / "model.npz", x / "model.npz")
        shutil.copy(root / "r" / "metrics.json", x / "metrics.json")
    elif how == "notes":
        x.mkdir()
        (x / "notes.txt").write_text("my notes\n")
    elif how == "short-csv":
        x.write_text("v\n1\n2\n3\n")
    elif how == "nan-model":
        shutil.copytree(root / "r", x)
        meta, groups = checkpoint.load(str(x / "model.npz"))
        w = groups["params"]["weight_hh_l0"].copy()
        w[0, 1] = np.nan
        checkpoint.save(str(x / "model.npz"), {k: v for k, v in meta.items() if k not in ("format", "version")},
                        {"params": {**groups["params"], "weight_hh_l0": w}}, to_numpy=lambda a: a)
    else:
        how(x)


@pytest.mark.parametrize("case", REFUSED, ids=[c[0] for c in REFUSED])
def test_refused_commands_change_nothing(capsys, run_dir, case):
    name, how, argv, status, text = case
    _setup(run_dir, how)
    before = snapshot(run_dir)
    code, out, err = cli(capsys, *argv)
    line = one_line(err)
    assert code == status, line
    assert text in line, line
    assert re.match(r"rnnx \w+: error: ", line), line
    assert snapshot(run_dir) == before, f"{name} changed files"
    assert not (run_dir / "y").exists()


def test_finished_run_resumed_rewrites_nothing(capsys, run_dir):
    before = snapshot(run_dir)
    for _ in range(3):
        code, out, err = cli(capsys, "train", "--resume", "r")
        assert code == 0 and err == "" and "is finished (5 epochs, done" in out
    assert snapshot(run_dir) == before


def test_early_stopped_run_resumed_stays_at_its_epoch(capsys, tmp_path, monkeypatch):
    """The issue's case: an early-stopped run resumed trained one more epoch each time."""
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, "train", "--preset", "seed001", "--out", "r", "--quiet")
    assert code == 0 and "80 epochs (early-stopped)" in out
    before = snapshot(tmp_path)
    assert cli(capsys, "train", "--resume", "r")[0] == 0
    assert snapshot(tmp_path) == before
    # killed between its final checkpoint and exit: the checkpoint is not marked finished
    meta, groups = checkpoint.load("r/checkpoint.npz")
    checkpoint.save("r/checkpoint.npz", {**meta, "run": {**meta["run"], "finished": None}}, groups,
                    to_numpy=lambda a: a)
    os.unlink("r/model.npz")
    code, out, err = cli(capsys, "train", "--resume", "r", "--quiet")
    assert code == 0 and "80 epochs (early-stopped)" in out, out + err
    assert metrics("r")["epochs"] == 80
    # extended: patience counts from epoch 80
    code, out, err = cli(capsys, "train", "--resume", "r", "--epochs", "90", "--quiet")
    assert code == 0 and "90 epochs (done)" in out, out + err


def test_overwrite_replaces_a_run_and_keeps_other_files(capsys, run_dir):
    (run_dir / "r" / "notes.txt").write_text("mine\n")
    (run_dir / "r" / "forecast.csv").write_text("old forecast\n")
    code, out, err = cli(capsys, "train", *RUN, "--epochs", "3", "--out", "r", "--overwrite")
    assert code == 0, err
    assert (run_dir / "r" / "notes.txt").read_text() == "mine\n"
    assert not (run_dir / "r" / "forecast.csv").exists()  # the old model's: gone with it
    assert metrics(run_dir / "r")["epochs"] == 3


def test_changed_csv_is_refused_on_resume(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    csv = tmp_path / "s.csv"
    csv.write_text("v\n" + "".join(f"{np.sin(i / 5):.6f}\n" for i in range(120)))
    code, out, err = cli(capsys, "train", "--csv", "s.csv", "--column", "v", "--epochs", "4", "--hidden", "4",
                         "--checkpoint-every", "2", "--out", "r", "--quiet")
    assert code == 0, err
    meta, groups = checkpoint.load("r/checkpoint.npz")
    assert meta["run"]["data"]["path"] == str(csv) and len(meta["run"]["data"]["sha256"]) == 64
    checkpoint.save("r/checkpoint.npz", {**meta, "run": {**meta["run"], "finished": None}, "epoch": 2,
                                         "history": meta["history"][:2]},
                    groups, to_numpy=lambda a: a)
    csv.write_text(csv.read_text() + "0.5\n")
    before = snapshot(tmp_path)
    code, out, err = cli(capsys, "train", "--resume", "r", "--quiet")
    line = one_line(err)
    assert code == 2 and "changed since the run began" in line and "--allow-changed-data" in line, line
    assert snapshot(tmp_path) == before
    # predict on the run's own (changed) data is refused the same way
    code, out, err = cli(capsys, "predict", "--model", "r")
    assert code == 2 and "changed since the run began" in one_line(err)
    assert snapshot(tmp_path) == before
    # from another directory, told to: it trains on the file as it is now
    monkeypatch.chdir(tmp_path / "r")
    code, out, err = cli(capsys, "train", "--resume", ".", "--allow-changed-data", "--quiet")
    assert code == 0 and "changed since the run began (--allow-changed-data)" in err, err


def test_relative_csv_resumes_from_another_directory(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.csv").write_text("v\n" + "".join(f"{np.sin(i / 5):.6f}\n" for i in range(120)))
    code, out, err = cli(capsys, "train", "--csv", "s.csv", "--column", "v", "--epochs", "4", "--hidden", "4",
                         "--out", "r", "--quiet")
    assert code == 0, err
    meta, groups = checkpoint.load("r/checkpoint.npz")
    checkpoint.save("r/checkpoint.npz", {**meta, "run": {**meta["run"], "finished": None}}, groups,
                    to_numpy=lambda a: a)
    monkeypatch.chdir("/")
    code, out, err = cli(capsys, "train", "--resume", str(tmp_path / "r"), "--epochs", "5", "--quiet")
    assert code == 0 and "5 epochs" in out, err


# -- full and read-only disks (a tmpfs in a user namespace) --------------------------------------------
def _namespace_ok() -> str | None:
    if not shutil.which("unshare"):
        return "no unshare(1) on this machine"
    p = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k none /mnt && echo ok"],
                       capture_output=True, text=True)
    return None if p.returncode == 0 and "ok" in p.stdout else \
        f"cannot mount a tmpfs in a user namespace here ({p.stderr.strip() or p.returncode})"


NAMESPACE = _namespace_ok()
needs_tmpfs = pytest.mark.skipif(NAMESPACE is not None, reason=str(NAMESPACE))


def in_tmpfs(script: str, size: str, cwd) -> subprocess.CompletedProcess:
    """Run the shell ``script`` in a user namespace with a tmpfs of ``size`` at /mnt."""
    return subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size={size} none /mnt && cd /mnt && "
                           + script], cwd=cwd, capture_output=True, text=True, timeout=300)


@needs_tmpfs
def test_full_disk(tmp_path):
    """A disk that fills up while the run writes its results: one line naming the file and
    ENOSPC, exit 1, the checkpoint intact, no temporary left; with room again, --resume
    writes the results."""
    rx = f"{PY} -m rnnx"
    p = in_tmpfs(f"{rx} train {' '.join(RUN)} --epochs 5 --out r; echo rc=$?; ls -a r; "
                 f"{PY} -c \"from rnnx.io import checkpoint; print('epoch', checkpoint.load('r/checkpoint.npz')[0]"
                 "['epoch'])\"; mount -o remount,size=8m /mnt; "
                 f"{rx} train --resume r --quiet; echo rc=$?; ls -a r", "48k", tmp_path)
    out = p.stdout
    assert "rc=1" in out, out + p.stderr
    first = p.stderr.splitlines()[0]
    assert "No space left on device (ENOSPC)" in first and ("'/mnt/r/" in first or "'r/" in first), p.stderr
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr
    listing = out.split("rc=1")[1].split("epoch")[0]
    assert ".rnnx-tmp-" not in listing and "checkpoint.npz" in listing
    assert "epoch 5" in out and "rc=0" in out and "model.npz" in out.split("rc=0")[1]


@needs_tmpfs
def test_read_only_folder(tmp_path):
    """A run folder on a read-only file system: resume, predict and a new run each say
    which path is read-only (EROFS), exit 1, nothing changed."""
    rx = f"{PY} -m rnnx"
    p = in_tmpfs(f"{rx} train {' '.join(RUN)} --epochs 3 --out r >/dev/null && mount -o remount,ro /mnt && "
                 f"({rx} train --resume r --epochs 4 --quiet; echo rc=$?; {rx} predict --model r; echo rc=$?; "
                 f"{rx} train {' '.join(RUN)} --out new; echo rc=$?) 2>&1", "8m", tmp_path)
    lines = [ln for ln in p.stdout.splitlines() if ln]
    assert lines[1::2] == ["rc=1", "rc=1", "rc=1"], p.stdout + p.stderr
    for ln in lines[0::2]:
        assert "Read-only file system (EROFS)" in ln and "Traceback" not in ln, ln


# -- a model file that names a file it should not read ---------------------------------------------------
@pytest.mark.parametrize("record", ["wrong-hash", "no-hash", "other-path"])
def test_model_file_cannot_make_rnnx_read_another_file(capsys, tmp_path, monkeypatch, record):
    """A crafted model.npz whose settings name a private file as the run's CSV: predict and
    forecast refuse before parsing it, and echo nothing of it (its header included)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.csv").write_text("v\n" + "".join(f"{np.sin(i / 5):.6f}\n" for i in range(120)))
    code, _, err = cli(capsys, "train", "--csv", "s.csv", "--column", "v", "--epochs", "2", "--hidden", "4",
                       "--out", "r", "--quiet")
    assert code == 0, err
    secret = tmp_path / "secret.csv"
    secret.write_text("password_column,TOPSECRET\nhunter2,1\n")
    meta, groups = checkpoint.load("r/model.npz")
    settings = {**meta["settings"], "csv": str(secret), "column": "nonexistent"}
    data = {"kind": "csv", "path": str(secret), "sha256": "0" * 64, "bytes": 10}
    if record == "no-hash":
        crafted = {k: v for k, v in meta.items() if k not in ("format", "version", "data")}
    else:
        crafted = {**{k: v for k, v in meta.items() if k not in ("format", "version")}, "data": data}
        if record == "other-path":
            crafted["data"] = {**meta["data"]}  # the run's true record, for another file than the settings'
    checkpoint.save("r/model.npz", {**crafted, "settings": settings}, groups, to_numpy=lambda a: a)
    before = snapshot(tmp_path)
    for argv in (["predict", "--model", "r"], ["forecast", "--model", "r"]):
        code, out, err = cli(capsys, *argv)
        line = one_line(err)
        assert code == 2 and line.startswith(f"rnnx {argv[0]}: error: --model: "), line
        assert "TOPSECRET" not in line and "password_column" not in line and "hunter2" not in line, line
    assert snapshot(tmp_path) == before


def test_a_run_that_fails_before_its_first_checkpoint_leaves_no_folder(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.csv").write_text("v\n" + "".join(f"{i % 20 + 1}\n" for i in range(1, 101)))  # stays in range
    code, _, err = cli(capsys, "train", "--csv", "s.csv", "--column", "v", "--cell", "rnn", "--nonlinearity",
                       "relu", "--optimizer", "sgd", "--lr", "100", "--epochs", "5", "--out", "r", "--quiet")
    line = one_line(err)
    assert code == 3 and "at epoch 1" in line and "no checkpoint had been written yet" in line, line
    assert sorted(os.listdir(tmp_path)) == ["s.csv"]


@needs_tmpfs
def test_full_disk_names_the_file_for_predict_and_resume(tmp_path):
    """A disk already full when predict or a resumed run starts: the lock still holds (its
    pid line is best effort), and the write that fails names its file and ENOSPC."""
    rx = f"{PY} -m rnnx"
    p = in_tmpfs(f"{rx} train {' '.join(RUN)} --epochs 3 --out r >/dev/null && "
                 "(cat /dev/zero > /mnt/filler 2>/dev/null; true) && "
                 f"({rx} predict --model r; echo rc=$?; {rx} train --resume r --epochs 4 --quiet; echo rc=$?; "
                 "ls -a r) 2>&1", "2m", tmp_path)
    lines = [ln for ln in p.stdout.splitlines() if ln]
    assert lines[1] == "rc=1" and lines[3] == "rc=1", p.stdout + p.stderr
    assert "'r/predictions.csv': No space left on device (ENOSPC)" in lines[0], lines[0]
    assert "r/" in lines[2] and "No space left on device (ENOSPC)" in lines[2], lines[2]
    assert not [n for n in lines[4:] if n.startswith(".rnnx-tmp-") or n == ".rnnx.lock"], lines
