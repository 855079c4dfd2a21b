"""A run folder is data, never instructions (issue 27): ``rnnx train --resume DIR`` takes no
Dask scheduler address, worker count or timeout from ``checkpoint.npz`` / ``classes.json``
(a resumed Dask run gets them from the command line again; the stored ones are only
compared, in one note line), a refused resume changes no file, and a stored preset that is
not one of rnnx's is a malformed file, not an internal error."""

from __future__ import annotations

import hashlib
import json
import select
import socket
import subprocess
import sys
import threading

import numpy as np
import pytest

from rnnx.cli import main
from rnnx.io import checkpoint


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(folder) -> dict[str, str]:
    """Every file of the folder (the lock file aside: it exists only while a command runs), hashed."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if p.is_file() and p.name != ".rnnx.lock"}


def edit_checkpoint(folder, **settings) -> None:
    """Change the stored settings of a regression run's checkpoint.npz (as someone editing it would)."""
    path = str(folder / "checkpoint.npz")
    meta, groups = checkpoint.load(path)
    meta["run"]["settings"].update(settings)
    checkpoint.save(path, {k: v for k, v in meta.items() if k not in ("format", "version")}, groups,
                    to_numpy=np.asarray)


def edit_record(folder, **settings) -> None:
    """Change the stored settings of a classification run's classes.json."""
    rec = json.loads((folder / "classes.json").read_text())
    rec["settings"].update(settings)
    (folder / "classes.json").write_text(json.dumps(rec))


@pytest.fixture
def listener():
    """A TCP socket listening on 127.0.0.1: ``(address, accepted)``.  A thread accepts each
    connection and closes it at once (a client that dials it fails fast, not after a hang);
    ``accepted()`` is how many connections reached it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    got, done = [], threading.Event()

    def serve() -> None:
        while not done.is_set():
            if select.select([sock], [], [], 0.05)[0]:
                conn, _ = sock.accept()
                got.append(1)
                conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()

    def accepted() -> int:
        while select.select([sock], [], [], 0)[0]:  # one still queued: the thread takes it
            done.wait(0.05)
        return len(got)

    yield f"tcp://127.0.0.1:{sock.getsockname()[1]}", accepted
    done.set()
    t.join()
    sock.close()


@pytest.fixture
def two_epochs(capsys, tmp_path):
    """A finished 2-epoch regression run (and its folder)."""
    out = tmp_path / "run"
    assert run(capsys, "train", "--preset", "seed001", "--epochs", "2", "--quiet", "--out", out)[0] == 0
    return out


def test_resume_connects_to_no_scheduler_a_checkpoint_names(capsys, two_epochs, listener):
    address, accepted = listener
    edit_checkpoint(two_epochs, dask_scheduler=address, dask_timeout=1.0)
    code, _, err = run(capsys, "train", "--resume", two_epochs, "--epochs", "3", "--quiet")
    assert code == 0, err
    assert accepted() == 0
    assert err == (f"rnnx train: note: the run trained on Dask (stored --dask-scheduler {address!r}); resuming in "
                   "this process; pass --dask-workers N or --dask-scheduler ADDRESS to resume on Dask\n")
    meta = checkpoint.load(str(two_epochs / "checkpoint.npz"))[0]
    assert meta["epoch"] == 3 and meta["run"]["finished"] == "done" and meta["run"]["settings"]["dask_scheduler"] is None


def test_a_stored_dask_run_resumes_in_one_process_with_the_same_numbers(capsys, tmp_path, two_epochs, monkeypatch):
    """No Dask session is made (none is even constructed) and the run continues as it would have."""
    from rnnx.training import dask_parallel

    made = []
    monkeypatch.setattr(dask_parallel, "Session", lambda *a, **k: made.append(a) or pytest.fail("a Dask session"))
    whole = tmp_path / "whole"
    assert run(capsys, "train", "--preset", "seed001", "--epochs", "3", "--quiet", "--out", whole)[0] == 0
    edit_checkpoint(two_epochs, dask_workers=400)
    code, _, err = run(capsys, "train", "--resume", two_epochs, "--epochs", "3", "--quiet")
    assert code == 0 and made == []
    assert "note: the run trained on Dask (stored --dask-workers 400); resuming in this process" in err
    a, b = (json.loads((f / "metrics.json").read_text()) for f in (whole, two_epochs))
    assert (a["test_mse"], a["best"], a["final"]) == (b["test_mse"], b["best"], b["final"])


def test_stored_dask_workers_start_no_process_and_import_no_distributed(tmp_path, two_epochs):
    """In a fresh interpreter: ``distributed`` is never imported, no child process is started."""
    edit_checkpoint(two_epochs, dask_workers=400)
    script = ("import json, multiprocessing, sys\n"
              "from rnnx.cli import main\n"
              f"code = main(['train', '--resume', {str(two_epochs)!r}, '--epochs', '3', '--quiet'])\n"
              "print(json.dumps({'code': code, 'distributed': 'distributed' in sys.modules,\n"
              "                  'children': len(multiprocessing.active_children())}))\n")
    # a guard for the code before the fix: a LocalCluster of 400 workers is never started here
    guard = "import sys; sys.modules['distributed'] = None\n"
    p = subprocess.run([sys.executable, "-c", guard + script.replace("'distributed' in sys.modules",
                                                                     "sys.modules['distributed'] is not None")],
                       capture_output=True, text=True, timeout=300, check=False)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.splitlines()[-1]) == {"code": 0, "distributed": False, "children": 0}, p.stderr
    edit_checkpoint(two_epochs, dask_workers=400)  # the resume above stored the command line's (none)
    p = subprocess.run([sys.executable, "-c", script.replace("'--epochs', '3'", "'--epochs', '4'")],
                       capture_output=True, text=True, timeout=300, check=False)
    assert json.loads(p.stdout.splitlines()[-1]) == {"code": 0, "distributed": False, "children": 0}, p.stderr


def test_a_resumed_dask_run_takes_its_scheduler_from_the_command_line(capsys, two_epochs, listener):
    """``--dask-scheduler`` given again is used (the listener is dialled); the stored value only
    compared; the scheduler that does not answer refuses the resume and changes no file."""
    pytest.importorskip("distributed")
    address, accepted = listener
    edit_checkpoint(two_epochs, dask_workers=2)
    before = snapshot(two_epochs)
    code, _, err = run(capsys, "train", "--resume", two_epochs, "--epochs", "3", "--quiet", "--dask-scheduler",
                       address, "--dask-timeout", "1")
    assert code == 2 and accepted() >= 1
    assert err.count("\n") == 1  # refused: one line (the note comes once the run is placed)
    assert err.startswith(f"rnnx train: error: --dask-scheduler: {address} not reachable within 1 s (")
    assert snapshot(two_epochs) == before


def test_placement_takes_the_command_line_and_compares_the_stored():
    from rnnx.cli.settings import placement

    none = {"dask_scheduler": None, "dask_workers": None, "dask_timeout": None}
    assert placement({"dask_workers": 2, "dask_timeout": 60.0}, {**none, "dask_workers": 3}) == (
        {"dask_scheduler": None, "dask_workers": 3, "dask_timeout": 60.0},
        "resuming on Dask with --dask-workers 3 --dask-timeout 60; the run stored --dask-workers 2 --dask-timeout 60")
    assert placement({"dask_workers": 2, "dask_timeout": 60.0}, {**none, "dask_workers": 2}) == (
        {"dask_scheduler": None, "dask_workers": 2, "dask_timeout": 60.0}, None)  # the same: nothing to say
    assert placement({}, {**none, "dask_scheduler": "tcp://h:1", "dask_timeout": 5.0})[1] == (
        "resuming on Dask with --dask-scheduler tcp://h:1 --dask-timeout 5; the run stored none (it trained in one "
        "process)")
    assert placement({"dask_timeout": 7.0}, none) == ({"dask_scheduler": None, "dask_workers": None,
                                                       "dask_timeout": 60.0}, None)
    long = "tcp://" + "x" * 500
    got = placement({"dask_scheduler": long, "dask_workers": "400\n"}, none)
    assert got[0] == {"dask_scheduler": None, "dask_workers": None, "dask_timeout": 60.0}
    assert "\n" not in got[1] and len(got[1]) < 300 and "'400\\n'" in got[1]


@pytest.mark.distributed
def test_a_run_resumed_on_dask_workers_gives_the_numbers_of_one_process(tmp_path, capsys):
    """``--resume DIR --dask-workers 1`` (a real LocalCluster, in a subprocess): placed there,
    said in one note, and the numbers of the run continued in one process."""
    pytest.importorskip("distributed")
    for name in ("one", "dask"):
        assert run(capsys, "train", "--preset", "seed001", "--epochs", "2", "--quiet", "--out", tmp_path / name)[0] == 0
    assert run(capsys, "train", "--resume", tmp_path / "one", "--epochs", "3", "--quiet")[0] == 0
    p = subprocess.run([sys.executable, "-m", "rnnx", "train", "--resume", str(tmp_path / "dask"), "--epochs", "3",
                        "--quiet", "--dask-workers", "1"], capture_output=True, text=True, timeout=300, check=False)
    assert p.returncode == 0, p.stderr[-2000:]
    assert ("rnnx train: note: resuming on Dask with --dask-workers 1 --dask-timeout 60; the run stored none (it "
            "trained in one process)\n") in p.stderr
    a, b = (json.loads((tmp_path / f / "metrics.json").read_text()) for f in ("one", "dask"))
    assert b["settings"]["dask_workers"] == 1 and a["epochs"] == b["epochs"] == 3
    for key in ("test_mse", "final", "best"):
        x, y = (np.asarray(list(m[key].values()) if isinstance(m[key], dict) else [m[key]]) for m in (a, b))
        assert np.allclose(x, y, rtol=1e-12, atol=0), (key, x, y)


@pytest.mark.parametrize("argv, text", [
    (["--dask-workers", "0"], "--dask-workers: expected a positive integer, got 0"),
    (["--dask-timeout", "5"], "--dask-timeout: applies with --dask-scheduler or --dask-workers only"),
    (["--dask-workers", "2", "--dask-timeout", "0"], "--dask-timeout: expected a number of seconds > 0, got 0.0"),
    (["--dask-workers", "2", "--dask-scheduler", "tcp://127.0.0.1:9"], ("--dask-workers: starts a LocalCluster, "
                                                                        "--dask-scheduler joins a running one; give "
                                                                        "one of them")),
])
def test_resume_checks_the_dask_flags_as_a_new_run_does(capsys, two_epochs, argv, text):
    before = snapshot(two_epochs)
    code, _, err = run(capsys, "train", "--resume", two_epochs, "--epochs", "3", "--quiet", *argv)
    assert (code, err) == (2, f"rnnx train: error: {text}\n")
    assert snapshot(two_epochs) == before


def test_dask_flags_on_a_run_that_trains_nothing_are_refused(capsys, two_epochs):
    code, _, err = run(capsys, "train", "--resume", two_epochs, "--dask-workers", "2")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"rnnx train: error: --dask-workers: the run in {str(two_epochs)!r} is finished (2 epochs)")


def test_dask_flags_that_do_not_fit_the_stored_run(capsys, tmp_path):
    out = tmp_path / "d"
    assert run(capsys, "train", "--preset", "seed001", "--epochs", "1", "--quiet", "--diagnostics", "--out", out)[0] == 0
    code, _, err = run(capsys, "train", "--resume", out, "--epochs", "2", "--dask-workers", "2")
    assert (code, err) == (2, "rnnx train: error: --dask-workers: not with --diagnostics; drop one of them\n")


def test_a_stored_preset_that_is_a_path_is_a_malformed_checkpoint(capsys, two_epochs):
    edit_checkpoint(two_epochs, preset="/etc/passwd")
    code, _, err = run(capsys, "train", "--resume", two_epochs, "--epochs", "3")
    path = str(two_epochs / "checkpoint.npz")
    assert code == 2 and err.count("\n") == 1 and "internal error" not in err
    assert err.startswith(f"rnnx train: error: --resume: {path!r} holds settings.preset '/etc/passwd', not one of "
                          "rnnx's presets (")
    meta, groups = checkpoint.load(str(two_epochs / "model.npz"))
    meta["settings"]["preset"] = "../x"
    checkpoint.save(str(two_epochs / "model.npz"), {k: v for k, v in meta.items() if k not in ("format", "version")},
                    groups, to_numpy=np.asarray)
    code, _, err = run(capsys, "predict", "--model", two_epochs)
    assert code == 2 and err.startswith(f"rnnx predict: error: --model: {str(two_epochs / 'model.npz')!r} holds "
                                        "settings.preset '../x', not one of rnnx's presets (")


def test_predict_forecast_and_diagnose_read_no_placement_from_a_model_file(capsys, two_epochs, listener):
    address, accepted = listener
    meta, groups = checkpoint.load(str(two_epochs / "model.npz"))
    meta["settings"].update(dask_scheduler=address, dask_workers=400, dask_timeout=1.0)
    checkpoint.save(str(two_epochs / "model.npz"), {k: v for k, v in meta.items() if k not in ("format", "version")},
                    groups, to_numpy=np.asarray)
    for argv in (["predict"], ["forecast", "--steps", "3"], ["diagnose", "--diagnostics", "updates"]):
        code, _, err = run(capsys, *argv, "--model", two_epochs)
        hint = "rnnx forecast: note: a one-step model fed its own predictions 3 times; "  # its one note
        assert code == 0 and [ln for ln in err.splitlines() if not ln.startswith(hint)] == [], (argv, err)
    assert accepted() == 0


@pytest.mark.parametrize("address", ["localhost:99999", "localhost:0", "localhost:http", "localhost"])
def test_a_coordinator_port_outside_1_to_65535_is_one_line(capsys, tmp_path, address):
    code, _, err = run(capsys, "train", "--preset", "seed001", "--backend", "jax", "--devices", "2", "--coordinator",
                       address, "--num-processes", "2", "--process-id", "0", "--out", tmp_path / "o")
    assert code == 2 and err.count("\n") == 1 and "internal error" not in err
    assert err.startswith(f"rnnx train: error: --coordinator: expected HOST:PORT with a port from 1 to 65535, got "
                          f"{address!r}")
    assert not (tmp_path / "o").exists()


# -- classification runs (classes.json) ----------------------------------------------------------------
def small_npz(path, n: int = 30) -> str:
    """Two classes of noisy sines (slow, fast), 16 steps, one feature."""
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    t = np.arange(16)
    x = np.sin(2 * np.pi * np.array([0.05, 0.3])[y][:, None] * t + rng.uniform(0, 6, n)[:, None])
    np.savez(path, x=(x + 0.05 * rng.standard_normal(x.shape))[..., None], y=np.array(["slow", "fast"])[y])
    return str(path)


@pytest.fixture
def panel_run(capsys, tmp_path):
    out = tmp_path / "p"
    npz = small_npz(tmp_path / "f.npz")
    assert run(capsys, "train", "--npz", npz, "--out", out, "--quiet", "--hidden", "4", "--epochs", "2")[0] == 0
    return out


def test_a_classification_resume_connects_to_no_scheduler_its_record_names(capsys, panel_run, listener):
    address, accepted = listener
    edit_record(panel_run, dask_scheduler=address, dask_timeout=1.0)
    code, _, err = run(capsys, "train", "--resume", panel_run, "--epochs", "3", "--quiet")
    assert code == 0, err
    assert accepted() == 0
    assert err == (f"rnnx train: note: the run trained on Dask (stored --dask-scheduler {address!r}); resuming in "
                   "this process; pass --dask-workers N or --dask-scheduler ADDRESS to resume on Dask\n")
    rec = json.loads((panel_run / "classes.json").read_text())
    assert rec["finished"] == "done" and rec["settings"]["dask_scheduler"] is None and rec["settings"]["epochs"] == 3


def test_a_classification_record_with_stored_workers_starts_none(capsys, panel_run, monkeypatch):
    from rnnx.training import dask_parallel

    made = []
    monkeypatch.setattr(dask_parallel, "Session", lambda *a, **k: made.append(a) or pytest.fail("a Dask session"))
    edit_record(panel_run, dask_workers=400, coordinator="10.0.0.1:1234", num_processes=400)
    code, _, err = run(capsys, "train", "--resume", panel_run, "--epochs", "3", "--quiet")
    assert code == 0 and made == [], err
    assert "stored --dask-workers 400" in err
    rec = json.loads((panel_run / "classes.json").read_text())
    assert not {"coordinator", "num_processes"} & set(rec["settings"]) and rec["settings"]["dask_workers"] is None


@pytest.mark.parametrize("key, value, text", [
    ("batch_size", 0, "settings.batch_size: expected a positive integer, got 0"),
    ("lr", -1, "settings.lr: expected a finite learning rate > 0, got -1"),  # the one wording of every task
    ("epochs", "3", "settings.epochs: expected a positive integer, got '3'"),
])
def test_a_refused_classification_resume_changes_no_file(capsys, panel_run, key, value, text):
    edit_record(panel_run, **{key: value})
    before = snapshot(panel_run)
    code, _, err = run(capsys, "train", "--resume", panel_run, "--epochs", "4", "--quiet")
    path = str(panel_run / "classes.json")
    assert (code, err.count("\n")) == (2, 1), err
    assert err.startswith(f"rnnx train: error: --resume: {path!r} holds {text}"), err
    assert snapshot(panel_run) == before


def test_an_unreachable_scheduler_refuses_a_classification_resume_and_changes_no_file(capsys, panel_run, listener):
    pytest.importorskip("distributed")
    address, accepted = listener
    before = snapshot(panel_run)
    code, _, err = run(capsys, "train", "--resume", panel_run, "--epochs", "3", "--quiet", "--dask-scheduler",
                       address, "--dask-timeout", "1")
    assert code == 2 and accepted() >= 1
    assert err.count("\n") == 1
    assert err.startswith(f"rnnx train: error: --dask-scheduler: {address} not reachable within 1 s (")
    assert snapshot(panel_run) == before


def test_classification_resume_checks_the_dask_flags(capsys, panel_run):
    before = snapshot(panel_run)
    for argv, text in ((["--dask-workers", "0"], "--dask-workers: expected a positive integer, got 0"),
                       (["--dask-timeout", "3"], ("--dask-timeout: applies with --dask-scheduler or "
                                                  "--dask-workers only"))):
        code, _, err = run(capsys, "train", "--resume", panel_run, "--epochs", "3", "--quiet", *argv)
        assert (code, err) == (2, f"rnnx train: error: {text}\n")
    assert snapshot(panel_run) == before


def test_a_new_classification_run_refuses_a_dask_timeout_alone(capsys, tmp_path):
    """--dask-timeout without --dask-scheduler / --dask-workers does nothing: refused, as for regression."""
    npz = small_npz(tmp_path / "f.npz")
    code, _, err = run(capsys, "train", "--npz", npz, "--out", tmp_path / "p", "--quiet", "--dask-timeout", "5")
    assert (code, err) == (2, "rnnx train: error: --dask-timeout: applies with --dask-scheduler or --dask-workers "
                              "only\n")
    assert not (tmp_path / "p").exists()
