"""Every run kind bounded before it allocates (rnnx.bounds and its CLI layer rnnx.cli.bounds):
rnnx.fit, rnnx.text.fit_text, the .npz/.ts readers, checkpoint and model files, classification,
text and Dask runs are refused in one line naming the parameter, flag or file, the bytes needed
and the bytes available.  No test allocates what it refuses: the memory available is made small
(``available_bytes`` or a patched :func:`rnnx.bounds.available_memory`), or the work is bounded
by tracemalloc's peak."""

from __future__ import annotations

import importlib
import re
import tracemalloc

import numpy as np
import pytest

import rnnx
from rnnx import bounds
from rnnx.data import panel
from rnnx.cli import main

HAS_SKTIME = importlib.util.find_spec("sktime") is not None
needs_sktime = pytest.mark.skipif(not HAS_SKTIME, reason="sktime is not installed (pip install -e '.[panel]')")
MiB = 2**20


def _one_line(text: str) -> str:
    assert text.count("\n") <= 1 and text.strip(), text
    return text.strip()


def _says_bytes(msg: str, avail: int) -> None:
    assert re.search(r"need about [0-9.e+]+ bytes \(", msg), msg
    assert f"({avail} bytes) available" in msg, msg


@pytest.fixture
def small_memory(monkeypatch):
    """This machine has ``avail`` bytes available, as rnnx.bounds sees it."""
    def set_to(avail: int) -> int:
        monkeypatch.setattr(bounds, "available_memory", lambda: avail)
        return avail
    return set_to


# -- the MemoryError message -------------------------------------------------------------------------
def _oom(monkeypatch, argv, capsys):
    import rnnx.cli.commands.train as train_cmd
    import rnnx.cli.commands.predict as predict_cmd

    def boom(args):
        raise MemoryError

    monkeypatch.setattr(train_cmd, "run", boom)
    monkeypatch.setattr(predict_cmd, "run", boom)
    assert main(argv) == 1
    return _one_line(capsys.readouterr().err)


def test_out_of_memory_names_only_flags_the_command_has(monkeypatch, capsys, tmp_path):
    err = _oom(monkeypatch, ["train", "--csv", "s.csv", "--column", "v"], capsys)
    assert err == "rnnx train: error: out of memory; try a smaller --hidden, --layers, --batch-size or --window"
    err = _oom(monkeypatch, ["train", "--npz", "c.npz"], capsys)
    assert err == "rnnx train: error: out of memory; try a smaller --hidden, --layers or --batch-size"
    err = _oom(monkeypatch, ["train", "--text", "t.txt"], capsys)
    assert err == "rnnx train: error: out of memory; try a smaller --hidden, --layers, --seq-len or --streams"
    err = _oom(monkeypatch, ["predict", "--model", str(tmp_path)], capsys)
    assert err == "rnnx predict: error: out of memory; free some memory or use a machine with more"
    err = _oom(monkeypatch, ["train", "--resume", str(tmp_path)], capsys)
    assert "--window" not in err and "--hidden" not in err


# -- rnnx.fit ------------------------------------------------------------------------------------------
def test_fit_refuses_a_model_that_cannot_fit_at_once():
    """The issue's case: GRU(1, 10**6) needs 264 TB; refused before a parameter is drawn."""
    x, y = np.zeros((8, 5, 1)), np.zeros((8, 3))
    tracemalloc.start()
    try:
        with pytest.raises(bounds.TooLarge) as e:
            rnnx.fit(rnnx.Model("gru", 1, 10**6, 3), x, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    msg = _one_line(str(e.value))
    assert msg.startswith("model: hidden_size=1000000, num_layers=1 need about 2.6e+14 bytes (264 TB) for "
                          "3000012000003 parameters (8 copies"), msg
    assert isinstance(e.value, ValueError) and e.value.name == "model" and e.value.needed > e.value.available
    assert peak < 50 * MiB, peak


def test_fit_names_the_model_the_batch_size_or_x(small_memory):
    x, y = np.zeros((64, 50, 1)), np.zeros((64, 1))
    model = rnnx.Model("lstm", 1, 8, 1)
    need = bounds.estimate(model, batch_size=32, steps=50, sequences=64, slots=2).total_bytes
    small_memory(need - 1)  # the parameters fit, 32 sequences' cache does not
    with pytest.raises(bounds.TooLarge) as e:
        rnnx.fit(model, x, y, epochs=1, batch_size=32)
    msg = _one_line(str(e.value))
    assert msg.startswith("batch_size: 32 sequences of 50 steps need about"), msg
    _says_bytes(msg, need - 1)
    top = int(re.search(r"expected at most about (\d+)$", msg)[1])
    assert 1 <= top < 32
    rnnx.fit(model, x, y, epochs=1, batch_size=top)  # what it suggests runs
    one = bounds.estimate(model, batch_size=1, steps=50, sequences=64, slots=2)
    small_memory(one.total_bytes - 1)  # not even one sequence of 50 steps
    with pytest.raises(bounds.TooLarge, match=r"^x: sequences of 50 steps need about .* expected shorter sequences"):
        rnnx.fit(model, x, y, epochs=1, batch_size=32)
    small_memory(one.param_bytes - 1)
    with pytest.raises(bounds.TooLarge, match=r"^model: hidden_size=8, num_layers=1 need about .* expected a smaller "
                                              r"model$"):
        rnnx.fit(model, x, y, epochs=1, batch_size=32)


def test_fit_text_refuses_before_drawing_the_parameters(small_memory):
    from rnnx import text as T

    model = rnnx.Model("rnn", 5, 300, 5, objective="many-to-many")
    avail = small_memory(10**5)
    with pytest.raises(bounds.TooLarge) as e:
        T.fit_text(model, None, np.arange(200) % 5, seq_len=10, max_updates=1)
    msg = _one_line(str(e.value))
    assert msg.startswith("model: hidden_size=300, num_layers=1 need about"), msg
    _says_bytes(msg, avail)


# -- files: model.npz / checkpoint.npz, panel .npz and .ts, --text ----------------------------------------
def _model_file(tmp_path, hidden=1000):
    m = rnnx.Model("rnn", 1, hidden, 1)
    path = str(tmp_path / "model.npz")
    rnnx.save(path, m, {k: np.zeros(v) for k, v in m.param_shapes().items()})
    return path, sum(8 * np.prod(v) for v in m.param_shapes().values())


def test_a_model_file_is_sized_from_its_headers_before_it_is_read(tmp_path, small_memory, capsys):
    """The issue's model.npz of hidden 25000 (5 GB of zeros, 4.8 MB deflated), scaled down:
    refused from the headers' shapes, its 8 MB of arrays never read."""
    path, nbytes = _model_file(tmp_path)
    avail = small_memory(nbytes)  # the arrays fit once, not read and converted
    tracemalloc.start()
    try:
        with pytest.raises(rnnx.io.files.FileFormatError) as e:
            rnnx.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    msg = _one_line(str(e.value))
    assert msg.startswith(f"load: {path!r}: its arrays ("), msg
    _says_bytes(msg, avail)
    assert peak < nbytes / 4, peak
    from rnnx.io import checkpoint

    with pytest.raises(bounds.TooLarge):  # the reader's own error is both kinds
        checkpoint.load(path)
    assert main(["load", path]) == 2
    assert _one_line(capsys.readouterr().err).startswith(f"rnnx load: error: load: {path!r}: its arrays (")
    small_memory(3 * nbytes)
    assert main(["load", path]) == 0


def _npz(tmp_path, name="cases.npz", **arrays):
    path = str(tmp_path / name)
    np.savez_compressed(path, **arrays)
    return path


def test_an_int8_npz_is_sized_as_float64_before_it_is_read(tmp_path, small_memory, capsys):
    """The issue's 2 MB deflated int8 .npz of 16 GiB as float64, scaled down: x int8
    (100, 1000, 10) is 1 MB stored, 8 MB as float64; refused from its header."""
    path = _npz(tmp_path, x=np.zeros((100, 1000, 10), dtype=np.int8), y=np.arange(100) % 2)
    avail = small_memory(8 * 10**6)
    tracemalloc.start()
    try:
        with pytest.raises(panel.PanelTooLarge) as e:
            panel.load_npz(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    msg = _one_line(str(e.value))
    assert msg.startswith(f"panel: {path!r}: 100 cases of up to 1000 steps and 10 features as float64 (2 copies, "
                          f"and 1000"), msg
    _says_bytes(msg, avail)
    assert isinstance(e.value, bounds.TooLarge) and peak < 10**6, peak  # the member's data was never read
    out = tmp_path / "run"
    assert main(["train", "--npz", path, "--out", str(out), "--quiet"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert err.startswith(f"rnnx train: error: --npz: {path!r}: 100 cases of up to 1000 steps"), err
    assert not out.exists()


def test_a_classification_run_is_sized_before_its_model(tmp_path, small_memory, capsys):
    """A 20 KB .npz with a --hidden that cannot fit names --hidden and what fits; cases too
    long for any setting name the file."""
    rng = np.random.default_rng(0)
    path = _npz(tmp_path, x=rng.normal(size=(40, 30, 2)), y=np.arange(40) % 2)
    out = tmp_path / "run"
    avail = small_memory(50 * 10**6)
    assert main(["train", "--npz", path, "--hidden", "2000", "--out", str(out), "--quiet"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert err.startswith("rnnx train: error: --hidden: 2000 units need about"), err
    _says_bytes(err, avail)
    top = int(re.search(r"expected at most about (\d+) units$", err)[1])
    assert 64 <= top < 2000 and not out.exists()
    from rnnx.cli import bounds as cli_bounds
    from rnnx.cli.tasks.classification import DEFAULTS

    s = {**DEFAULTS, "model_options": {}}
    with pytest.raises(cli_bounds.AppError) as e:  # 34 cases of 300,000 steps on the device: no setting helps
        cli_bounds.check_panel(s, cases=(40, 300000, 1), fitted=34, n_classes=2, per_step=False,
                               source="--ts long.ts", available_bytes=50 * 10**6)
    assert str(e.value).startswith("--ts long.ts: 40 cases of up to 300000 steps and 1 features need about")
    assert str(e.value).endswith("expected shorter or fewer cases (or a smaller --hidden, --layers, --batch-size: none "
                                 "alone fits)")


def test_a_classification_run_of_hidden_30000_is_refused_on_this_machine(tmp_path, capsys):
    """The issue's case as it is: a 20 KB .npz with --hidden 30000 (260 GB)."""
    rng = np.random.default_rng(0)
    path = _npz(tmp_path, x=rng.normal(size=(40, 30, 2)), y=np.arange(40) % 2)
    out = tmp_path / "run"
    argv = ["train", "--npz", path, "--hidden", "30000", "--out", str(out), "--quiet"]
    assert main(argv) == 2  # the modules it imports imported: the second run is measured
    capsys.readouterr()
    tracemalloc.start()
    try:
        assert main(argv) == 2
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    err = _one_line(capsys.readouterr().err)
    assert re.match(r"rnnx train: error: --hidden: 30000 units need about 2\.\de\+11 bytes", err), err
    assert peak < 50 * MiB and not out.exists()


TS_HEAD = "@problemName t\n@timeStamps false\n@missing true\n@univariate true\n@equalLength false\n" \
          "@classLabel true a b\n@data\n"


@needs_sktime
def test_a_ts_case_too_long_is_refused_before_the_padding(tmp_path, small_memory, capsys):
    """The issue's .ts with one case of 300,000 steps among short ones, scaled down: padded,
    200 cases x 20,000 steps x 8 bytes are 32 MB; refused before the padded array is built."""
    f = tmp_path / "long.ts"
    f.write_text(TS_HEAD + "".join(f"{i},{i + 1}:{'ab'[i % 2]}\n" for i in range(199))
                 + ",".join(["1"] * 20000) + ":a\n")
    avail = small_memory(10 * 10**6)
    with pytest.raises(panel.PanelTooLarge) as e:
        panel.load_ts(str(f))
    msg = _one_line(str(e.value))
    assert msg.startswith(f"panel: {str(f)!r}: 200 cases of up to 20000 steps and 1 features as float64 (2 copies)"), msg
    _says_bytes(msg, avail)
    out = tmp_path / "run"
    assert main(["train", "--ts", str(f), "--out", str(out), "--quiet"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert err.startswith(f"rnnx train: error: --ts: {str(f)!r}: 200 cases of up to 20000 steps"), err
    assert not out.exists()


def test_a_text_of_more_distinct_characters_than_a_vocabulary_holds(tmp_path, capsys):
    """The issue's text of 1.1M distinct characters, scaled down to 70,000 (> MAX_VOCABULARY)."""
    from rnnx import text as T

    chars = [chr(c) for c in range(0x4E00, 0x4E00 + 70000) if not 0xD800 <= c < 0xE000]
    f = tmp_path / "wide.txt"
    f.write_text("".join(chars), encoding="utf-8")
    with pytest.raises(ValueError) as e:
        T.read_text(str(f))
    assert _one_line(str(e.value)) == (f"text: {str(f)!r} has {len(chars)} distinct characters (the vocabulary of a "
                                       f"character model, read one-hot and scored at every step); expected at most "
                                       f"65536 (MAX_VOCABULARY)")
    out = tmp_path / "run"
    assert main(["train", "--text", str(f), "--out", str(out), "--quiet"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert err.startswith(f"rnnx train: error: --text: {str(f)!r} has {len(chars)} distinct characters"), err
    assert not out.exists()


def test_a_text_run_is_sized_with_its_vocabulary(tmp_path, small_memory, capsys):
    f = tmp_path / "t.txt"
    f.write_text("abcdefghij klmnop\n" * 1000)
    out = tmp_path / "run"
    avail = small_memory(20 * 10**6)
    assert main(["train", "--text", str(f), "--hidden", "1000", "--out", str(out), "--quiet"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert err.startswith("rnnx train: error: --hidden: 1000 units need about"), err
    assert f"the 18 distinct characters of --text {f}" in err and not out.exists()
    _says_bytes(err, avail)
    from rnnx.cli import bounds as cli_bounds
    from rnnx.cli.tasks.text import DEFAULTS

    with pytest.raises(cli_bounds.AppError, match=r"^--text x\.txt: its vocabulary of 1114000 characters need about "
                                                  r".* expected a text of fewer distinct characters"):
        cli_bounds.check_text(dict(DEFAULTS), vocabulary=1114000, source="--text x.txt", available_bytes=10**9)


def test_text_hidden_30000_is_refused_on_this_machine(tmp_path, capsys):
    f = tmp_path / "t.txt"
    f.write_text("abcdefghij klmnop\n" * 1000)
    out = tmp_path / "run"
    argv = ["train", "--text", str(f), "--hidden", "30000", "--out", str(out), "--quiet"]
    assert main(argv) == 2  # the modules it imports imported: the second run is measured
    capsys.readouterr()
    tracemalloc.start()
    try:
        assert main(argv) == 2
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    err = _one_line(capsys.readouterr().err)
    assert err.startswith("rnnx train: error: --hidden: 30000 units need about"), err
    assert peak < 100 * MiB and not out.exists()  # 72 GB refused; rnnx.data reads into a 64 MiB buffer


# -- --dask-workers --------------------------------------------------------------------------------------
def test_dask_workers_bounded_by_cores_and_memory():
    from rnnx.cli import bounds as cli_bounds

    with pytest.raises(cli_bounds.AppError) as e:
        cli_bounds.check_workers(500, 10**6, cpus=2)
    assert str(e.value) == "--dask-workers: 500 worker processes; expected at most 8 (4 per CPU core, this machine has 2)"
    cli_bounds.check_workers(8, 10**6, cpus=2, available_bytes=10**10)
    with pytest.raises(cli_bounds.AppError) as e:
        cli_bounds.check_workers(8, 10**6, cpus=2, available_bytes=5 * 10**8)
    msg = _one_line(str(e.value))
    assert msg.startswith("--dask-workers: 8 worker processes need about") and msg.endswith("expected at most 4"), msg


@pytest.mark.parametrize("kind", [["--preset", "seed001"], ["--npz", None]])
def test_dask_workers_500_is_refused_before_a_process_starts(tmp_path, capsys, kind):
    if kind[1] is None:
        kind = ["--npz", _npz(tmp_path, x=np.random.default_rng(0).normal(size=(40, 30, 2)), y=np.arange(40) % 2)]
    out = tmp_path / "run"
    assert main(["train", *kind, "--dask-workers", "500", "--out", str(out), "--quiet"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert err.startswith("rnnx train: error: --dask-workers: 500 worker processes; expected at most"), err
    assert not out.exists()


def test_the_library_check_allocates_nothing():
    model = rnnx.Model("gru", 1, 10**5, 1, num_layers=3)
    tracemalloc.start()
    try:
        with pytest.raises(bounds.TooLarge):
            bounds.check_training(model, batch_size=32, steps=20, sequences=100, available_bytes=10**9)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MiB, peak


@pytest.mark.parametrize("cell, layers, bidirectional, objective", [
    ("rnn", 1, False, "many-to-one"), ("gru", 1, False, "many-to-one"), ("lstm", 1, False, "many-to-many"),
    ("lstm", 2, True, "many-to-one"), ("gru", 2, True, "many-to-many")])
def test_the_estimate_bounds_what_fit_allocates(cell, layers, bidirectional, objective):
    """rnnx.bounds.estimate is an upper bound of the tracemalloc peak of one epoch of
    rnnx.fit on NumPy (NumPy reports its buffers to tracemalloc), and not more than twice it:
    a run refused by it would not fit, a run it admits does."""
    import tracemalloc

    import numpy as np

    import rnnx
    from rnnx import bounds

    T, N, H, B = 400, 16, 32, 16
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, T, 2))
    y = rng.standard_normal((N, 3) if objective == "many-to-one" else (N, T, 3))
    model = rnnx.Model(cell, 2, H, 3, objective=objective, num_layers=layers, bidirectional=bidirectional)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        rnnx.fit(model, x, y, epochs=1, batch_size=B, seed=0)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    est = bounds.estimate(model, batch_size=B, steps=T, sequences=N).total_bytes
    assert peak <= est <= 2 * peak, (peak, est, est / peak)


def _files(folder) -> dict:
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.parametrize("kind", ["classification", "text"])
def test_a_resumed_run_is_sized_before_its_model(tmp_path, small_memory, capsys, kind):
    """``train --resume`` of a classification or text run: the whole run checked against the
    memory available with its stored settings (as a new run is), before its model is built;
    one line naming --hidden, nothing changed."""
    out = tmp_path / "run"
    if kind == "classification":
        rng = np.random.default_rng(0)
        path = _npz(tmp_path, x=rng.normal(size=(40, 30, 2)), y=np.arange(40) % 2)
        assert main(["train", "--npz", path, "--hidden", "200", "--epochs", "1", "--out", str(out), "--quiet"]) == 0
        more, avail = ["--epochs", "2"], 12 * 10**6  # room for its checkpoint's arrays (4 MB, twice), not training (44 MB)
    else:
        f = tmp_path / "t.txt"
        f.write_text("abcdefghij klmnop\n" * 100)
        assert main(["train", "--text", str(f), "--hidden", "200", "--max-updates", "2", "--out", str(out),
                     "--quiet"]) == 0
        more, avail = ["--max-updates", "4"], 2 * 10**6  # its checkpoint 0.4 MB, training 3.9 MB
    before = _files(out)
    capsys.readouterr()
    small_memory(avail)
    assert main(["train", "--resume", str(out), *more, "--quiet"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert err.startswith("rnnx train: error: --hidden: 200 units need about"), err
    _says_bytes(err, avail)
    assert _files(out) == before
