"""``rnnx train`` refuses conflicting or meaningless options and sizes that do not fit: one
line naming the flag, exit 2, and no --out folder created.  What must still be accepted is
checked on :func:`rnnx.cli.settings.resolve` alone (no training)."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import tracemalloc

import pytest

from rnnx.cli import main
from rnnx.cli.bounds import MAX_TENSOR_ELEMENTS, check_fits, estimate, human, model_of, param_counts
from rnnx.cli.errors import AppError
from rnnx.cli.settings import resolve
from rnnx.data.dataset import PRESETS

P = ["--preset", "seed001"]  # adam, many-to-one, window 10, split 0.72,0.08,0.2, early stopping 30
M2M = [*P, "--objective", "many-to-many"]

REFUSED = [
    (["--preset", "seed001", "--csv", "s.csv", "--column", "v"], "--csv: give either --preset or --csv, not both"),
    ([*P, "--column", "v"], "--column: give either --preset or --csv, not both"),
    (["--column", "v"], "--column: names a column of --csv, but no --csv was given"),
    ([*P, "--momentum", "0.9"], "--momentum: applies to --optimizer sgd only, got --momentum 0.9 with --optimizer adam "
                                "(from --preset seed001)"),
    ([*P, "--nesterov"], "--nesterov: applies to --optimizer sgd only, got --nesterov with --optimizer adam "
                         "(from --preset seed001)"),
    ([*P, "--optimizer", "adagrad", "--momentum", "0.5"], "--momentum: applies to --optimizer sgd only, got "
                                                          "--momentum 0.5 with --optimizer adagrad"),
    ([*P, "--optimizer", "sgd", "--nesterov"], "--nesterov: needs --momentum > 0"),
    ([*P, "--optimizer", "sgd", "--momentum", "1.5"], "--momentum: expected a number in [0, 1), got 1.5"),
    ([*P, "--checkpoint-every", "-2"], "--checkpoint-every: expected N >= 1 (a checkpoint every N epochs) or 0 "
                                       "(a checkpoint at the end only), got -2"),
    ([*P, "--epochs", "-1"], "--epochs: expected a positive integer, got -1"),
    ([*P, "--batch-size", "0"], "--batch-size: expected a positive integer, got 0"),
    ([*P, "--window", "-3"], "--window: expected a positive length, got -3"),
    ([*P, "--horizon", "0"], "--horizon: expected a positive number of steps, got 0"),
    ([*P, "--hidden", "-5"], "--hidden: expected a positive int, got -5"),
    ([*P, "--layers", "0"], "--layers: expected a positive int, got 0"),
    ([*P, "--split", "1,0,0"], "--split: 1,0,0 leaves no test part; expected a test fraction > 0"),
    ([*P, "--split", "0,0.5,0.5"], "--split: 0,0.5,0.5 leaves no training part"),
    ([*P, "--split", "0.5,0.5"], "--split: expected three fractions train,val,test summing to 1, each in [0, 1]; "
                                 "got 0.5,0.5"),
    ([*P, "--split", "1.2,-0.1,-0.1"], "--split: expected three fractions"),
    ([*P, "--split", "nan,0.5,0.5"], "--split: expected three fractions"),
    ([*P, "--split", "0.5,0.3,0.3"], "--split: expected three fractions"),
    ([*P, "--early-stopping", "5", "--split", "0.8,0,0.2"],
     "--early-stopping: watches the validation loss, but --split 0.8,0,0.2 has no validation part"),
    ([*P, "--split", "0.8,0,0.2"], "--split: 0.8,0,0.2 has no validation part, which --early-stopping 30 "
                                   "(from --preset seed001) watches"),
    ([*P, "--early-stopping", "0"], "--early-stopping: expected a patience >= 1 epoch, got 0"),
    ([*M2M, "--tbptt", "5"], "--tbptt: expected two integers K1,K2"),
    ([*M2M, "--tbptt", "2,3,4"], "--tbptt: expected two integers K1,K2"),
    ([*M2M, "--tbptt", "6,5"], "--tbptt: expected 1 <= K1 <= K2 <= --window 10, got K1=6, K2=5"),
    ([*M2M, "--tbptt", "0,5"], "--tbptt: expected 1 <= K1 <= K2 <= --window 10, got K1=0, K2=5"),
    ([*M2M, "--tbptt", "5,11"], "--tbptt: expected 1 <= K1 <= K2 <= --window 10, got K1=5, K2=11"),
    ([*P, "--tbptt", "5,5"], "--tbptt: truncated BPTT needs --objective many-to-many (a target at every step), "
                             "got --objective many-to-one (from --preset seed001)"),
    ([*M2M, "--tbptt", "5,5", "--bidirectional"], "--tbptt: carries the state forward in time"),
    ([*P, "--clip-value", "0"], "--clip-value: expected a finite number > 0, got 0.0"),
    ([*P, "--clip-value", "inf"], "--clip-value: expected a finite number > 0, got inf"),
    ([*P, "--clip-norm", "-1"], "--clip-norm: expected a finite number > 0, got -1.0"),
    ([*P, "--clip-norm", "nan"], "--clip-norm: expected a finite number > 0, got nan"),
    ([*P, "--lr", "0"], "--lr: expected a finite learning rate > 0, got 0.0"),
    ([*P, "--lr", "-0.1"], "--lr: expected a finite learning rate > 0, got -0.1"),
    ([*P, "--lr", "inf"], "--lr: expected a finite learning rate > 0, got inf"),
    ([*P, "--lr", "nan"], "--lr: expected a finite learning rate > 0, got nan"),
    ([*P, "--devices", "2"], "--devices: data parallel runs on --backend jax (XLA SPMD), got --backend numpy "
                             "(from --preset seed001)"),
    ([*P, "--devices", "0", "--backend", "jax"], "--devices: expected a positive integer, got 0"),
    ([*M2M, "--tbptt", "5,5", "--devices", "2", "--backend", "jax"], "--devices: not with --tbptt"),
    ([*P, "--diagnostics", "--devices", "2", "--backend", "jax"], "--devices: --diagnostics are recorded on one "
                                                                  "device; drop one of them"),
    ([*P, "--num-processes", "2"], "--num-processes: applies with --coordinator only"),
    ([*P, "--dask-workers", "2", "--dask-scheduler", "tcp://h:1"], "--dask-workers: starts a LocalCluster, "
                                                                    "--dask-scheduler joins a running one"),
    ([*P, "--dask-workers", "0"], "--dask-workers: expected a positive integer, got 0"),
    ([*P, "--dask-timeout", "5"], "--dask-timeout: applies with --dask-scheduler or --dask-workers only"),
    ([*P, "--dask-workers", "2", "--dask-timeout", "0"], "--dask-timeout: expected a number of seconds > 0, got 0.0"),
    ([*P, "--dask-workers", "2", "--backend", "jax", "--devices", "2"], "--dask-workers: Dask workers or JAX "
                                                                        "--devices, not both; drop one of them"),
    ([*P, "--dask-workers", "2", "--backend", "jax"], "--dask-workers: Dask workers run --backend numpy or cupy, got "
                                                      "--backend jax (for jax use --devices)"),
    ([*P, "--dask-scheduler", "tcp://h:1", "--diagnostics"], "--dask-scheduler: not with --diagnostics"),
    ([*P, "--coordinator", "localhost:1234", "--backend", "jax"], "--coordinator: a multi-process run splits every "
                                                                   "batch over the devices of all processes; expected "
                                                                   "--backend jax --devices N"),
    ([*P, "--coordinator", "localhost:1234", "--backend", "jax", "--devices", "2"],
     "--coordinator: localhost:1234 needs --num-processes N and --process-id I"),
    ([*P, "--coordinator", "localhost:1234", "--backend", "jax", "--devices", "2", "--num-processes", "2",
      "--process-id", "2"], "--process-id: expected 0 <= I < --num-processes 2, got 2"),
    ([*P, "--coordinator", "localhost:1234", "--backend", "jax", "--devices", "2", "--num-processes", "0",
      "--process-id", "0"], "--num-processes: expected a positive integer, got 0"),
    ([*P, "--coordinator", "auto", "--backend", "jax", "--devices", "2", "--process-id", "0"],
     "--coordinator: auto detects the processes of a SLURM / Open MPI job; drop --num-processes and --process-id"),
    ([*P, "--devices", "4", "--backend", "jax", "--batch-size", "6"], "--batch-size: 6 does not split over "
                                                                      "--devices 4; expected a multiple of 4"),
]


@pytest.mark.parametrize("argv,message", REFUSED, ids=[" ".join(a) for a, _ in REFUSED])
def test_refused_before_anything_is_created(capsys, tmp_path, argv, message):
    out = tmp_path / "r"
    code = main(["train", *argv, "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith(f"rnnx train: error: {message}"), err
    assert "internal error" not in err
    assert not out.exists()


ACCEPTED = [
    *[{"preset": p} for p in PRESETS],
    *[{"preset": p, "epochs": 3} for p in PRESETS],
    {"preset": "seed001", "optimizer": "sgd", "momentum": 0.9},
    {"preset": "seed001", "optimizer": "sgd", "momentum": 0.9, "nesterov": True},
    {"preset": "seed001", "optimizer": "adam", "momentum": 0.0},
    {"preset": "seed001-original", "momentum": 0.5},  # the preset's optimizer is sgd
    {"preset": "seed001", "checkpoint_every": 0},
    {"preset": "seed001", "objective": "many-to-many", "tbptt": (5, 5)},
    {"preset": "seed001", "objective": "many-to-many", "tbptt": (10, 10)},  # K1 = K2 = window
    {"csv": "s.csv", "column": "v", "split": (0.9, 0.0, 0.1)},  # no preset: no early stopping
]


@pytest.mark.parametrize("given", ACCEPTED, ids=[str(g) for g in ACCEPTED])
def test_still_accepted(given):
    s = resolve(given)
    for k, v in given.items():
        assert getattr(s, k) == v if k != "column" else s.targets == (v,)  # --column NAME is --targets NAME


# -- sizes that do not fit ------------------------------------------------------------------------------
GB = 10**9


def _csv(**kw):
    return resolve({"csv": "s.csv", "column": "v", **kw})


@pytest.mark.parametrize("kw,flag", [
    (dict(hidden=100000), "--hidden: 100000 units"),
    (dict(hidden=20000), "--hidden: 20000 units"),
    (dict(layers=10**6), "--layers: 1000000 layers"),
    (dict(batch_size=10**7), "--batch-size: 10000000 windows per batch"),
    (dict(window=10**8), "--window: 100000000 steps"),
])
def test_too_big_names_the_flag_and_what_fits(kw, flag):
    s = _csv(**kw)
    with pytest.raises(AppError) as e:
        check_fits(s, available_bytes=22 * GB)
    msg = str(e.value)
    assert e.value.code == 2 and msg.startswith(flag + " need about ") and "\n" not in msg, msg
    assert f"in float64; this machine has 22 GB ({22 * GB} bytes) available; expected at most about" in msg
    field = next(iter(kw))
    top = int(re.search(r"expected at most about (\d+)", msg)[1])
    assert 1 <= top < kw[field]
    check_fits(_csv(**{field: top}), available_bytes=22 * GB)  # what it suggests does fit


def test_layers_bound_independent_of_memory():
    """--layers 100000 of 16 units fits in memory but is refused: an update would take hours."""
    with pytest.raises(AppError) as e:
        check_fits(resolve({"preset": "seed001", "layers": 100000}), available_bytes=1 << 50)
    assert e.value.code == 2 and str(e.value) == "--layers: expected at most 1000 stacked layers, got 100000"
    check_fits(resolve({"preset": "seed001", "layers": 1000}), available_bytes=1 << 50)


def test_hidden_100000_message():
    with pytest.raises(AppError) as e:
        check_fits(_csv(hidden=100000), available_bytes=22 * GB)
    assert re.fullmatch(r"--hidden: 100000 units need about 3\.5e\+12 bytes \(3\.53 TB\) for 40001300001 parameters "
                        r"\(8 copies: parameters, gradients and optimizer state\) and the activations \(forward cache and backward pass\) in float64; "
                        r"this machine has 22 GB \(22000000000 bytes\) available; expected at most about 7700 units", str(e.value)), e.value


def test_presets_fit_and_nothing_alone_fits_is_said():
    for p in PRESETS:
        check_fits(resolve({"preset": p}), available_bytes=GB)
        check_fits(resolve({"preset": p}))  # this machine's memory: a few MB are needed
    with pytest.raises(AppError, match=r"^--hidden: .* expected a smaller --hidden, --layers, --batch-size, --window \(none alone fits\)$"):
        check_fits(_csv(), available_bytes=1000)


def test_tensor_bound_whatever_the_memory():
    check_fits(_csv(hidden=23000), available_bytes=10**15)
    with pytest.raises(AppError) as e:
        check_fits(_csv(hidden=30000), available_bytes=10**15)
    assert str(e.value) == ("--hidden: 30000 units make weight_hh_l0 (120000, 30000) 3.6e+09 elements; expected at most "
                            "2**31 elements per parameter tensor (at most about 23000 units)")
    assert 4 * 23170**2 <= MAX_TENSOR_ELEMENTS < 4 * 23171**2


def test_optimizer_and_clipping_change_the_copies():
    copies = {o: estimate(_csv(optimizer=o)).copies for o in ("sgd", "adagrad", "adam")}
    assert copies == {"sgd": 4, "adagrad": 6, "adam": 8}
    assert estimate(_csv(optimizer="sgd", momentum=0.9)).copies == 6
    assert estimate(_csv(clip_norm=1.0)).copies == 9 and estimate(_csv(clip_norm=1.0, clip_value=1.0)).copies == 10


def test_param_count_is_the_models():
    """The two-layer extrapolation equals the real model's count, and the model is the run's."""
    from rnnx.cli.tasks import regression as app

    for kw in (dict(), dict(cell="gru", layers=5, bidirectional=True), dict(cell="lstm", layers=3, hidden=8, proj_size=3),
               dict(cell="rnn", layers=4, dropout=0.2, bias=False)):
        s = _csv(**kw)
        real = app.model_for(s)
        assert model_of(s).config() == real.config()
        assert sum(param_counts(s).values()) == sum(math.prod(v) for v in real.param_shapes().values())


def test_activation_term_holds_the_real_forward_cache():
    """The activations per batch hold at least the forward cache itself (the whole peak of
    fit, backward pass included, is bounded in tests/test_bounds.py with tracemalloc)."""
    import numpy as np

    for cell in ("rnn", "lstm", "gru"):
        s1, s2 = _csv(cell=cell, hidden=64, layers=2, batch_size=100), _csv(cell=cell, hidden=64, layers=2, batch_size=200)
        model = model_of(s2)
        params = model.init_params(np, dtype=np.float64)
        _, _, cache = model.forward(params, np.zeros((s2.window, 100, 1)), train=True)
        per_100 = estimate(s2).total_bytes - estimate(s1).total_bytes
        assert 1.0 <= per_100 / cache[0].nbytes <= 8.0, (cell, per_100, cache[0].nbytes)


def test_checking_allocates_nothing():
    tracemalloc.start()
    with pytest.raises(AppError):
        check_fits(_csv(hidden=100000, layers=10**6), available_bytes=22 * GB)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20 * 2**20, peak


def test_human():
    assert (human(3.2e11), human(2.24e10), human(4.5e6), human(999)) == ("320 GB", "22.4 GB", "4.5 MB", "999 bytes")


def test_cli_refuses_hidden_100000_before_creating_out(tmp_path):
    """The whole command (its call of check_fits), in a child whose address space is capped
    at 4 GiB: a run without the check fails on memory instead of filling the machine."""
    out = tmp_path / "r"
    cap = 4 * 2**30
    # ulimit in a shell, not preexec_fn: forking a process that has loaded JAX warns (an error here)
    r = subprocess.run(["sh", "-c", f'ulimit -v {cap // 1024} && exec "$0" -m rnnx train --preset seed001 '
                        f'--hidden 100000 --out "$1" --quiet', sys.executable, str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("rnnx train: error: --hidden: 100000 units need about")
    assert "internal error" not in r.stderr and not out.exists()


def test_a_presets_early_stopping_and_clipping_can_be_turned_off():
    s = resolve({"preset": "seed001"}, ("early_stopping", "clip"))
    assert s.early_stopping is None and s.clip_norm is None and s.clip_value is None
    assert resolve({"preset": "seed001-original"}, ("clip",)).clip_value is None
    s = resolve({"preset": "seed001", "split": (0.8, 0.0, 0.2)}, ("early_stopping",))  # no val part: fine now
    assert s.split == (0.8, 0.0, 0.2) and s.early_stopping is None


@pytest.mark.parametrize("argv,flag", [
    (["--no-early-stopping", "--early-stopping", "5"], "--no-early-stopping: turns --early-stopping off"),
    (["--no-clip", "--clip-norm", "2"], "--no-clip: turns --clip-norm off"),
])
def test_turning_off_and_setting_at_once_is_refused(capsys, tmp_path, argv, flag):
    code = main(["train", "--preset", "seed001", *argv, "--out", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"rnnx train: error: {flag}") and err.count("\n") == 1, err
    assert not (tmp_path / "r").exists()
