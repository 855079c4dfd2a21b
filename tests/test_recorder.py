"""Training diagnostics (issue 18, item 4): ``rnnx.diagnostics.recorder.Recorder`` in ``rnnx.fit`` and the
CLI's trainer (``rnnx train --diagnostics``).

- Off and on train the same bits (NumPy and JAX, fit and the CLI).
- An update's record equals the norms formed directly from ``loss_and_grad``'s gradients and
  the parameters before and after (float64, 1e-12); a frozen parameter is left out.
- An epoch's profiles equal the library's own calls on the probe batch (gradient flow,
  Jacobian profile, gate saturation), averaged over the valid sequences with lengths.
- JAX (compiled, float64) records what NumPy records.
- A resumed run's records equal the uninterrupted run's.
- The norm does not overflow in float32; an update that goes non-finite is on record.
- Bad input: one clear error naming the argument or flag.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

import rnnx
from rnnx import diagnostics, optim
from rnnx.diagnostics import recorder
from rnnx.training import engine
from rnnx.training.state import NonFiniteLoss
from rnnx.cli import main


def _data(n=48, T=12, I=3, seed=0, lengths=False):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, T, I))
    y = rng.standard_normal((n, 1))
    ln = rng.integers(3, T + 1, size=n) if lengths else None
    return x, y, ln


def _close(a, b, tol=1e-12):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert np.allclose(a, b, rtol=tol, atol=tol * max(1.0, float(np.max(np.abs(b))))), (a, b)


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_off_and_on_train_the_same_bits(backend):
    x, y, _ = _data()
    if backend == "jax":
        jax = pytest.importorskip("jax")
        jnp = pytest.importorskip("jax.numpy")
        with jax.enable_x64(True):
            return _same_bits(jnp.asarray(x), jnp.asarray(y))
    _same_bits(x, y)


def _same_bits(x, y):
    model = rnnx.Model("lstm", 3, 6, 1, dropout=0.0)
    kw = dict(epochs=3, batch_size=16, clip_norm=0.3, lr=1e-2, validation_split=0.25)
    off = engine.fit(model, x, y, **kw)
    rec = recorder.Recorder(probe_size=8)
    on = engine.fit(model, x, y, diagnostics=rec, **kw)
    for k in off.params:
        assert np.array_equal(np.asarray(off.params[k]), np.asarray(on.params[k])), k
    assert [r["loss"] for r in off.history] == [r["loss"] for r in on.history]
    assert len(rec.updates) == 3 * 3 and [e["epoch"] for e in rec.epochs] == [0, 1, 2, 3]
    assert sum(u["clipped"] for u in rec.updates) == round(sum(r["clipped"] * 3 for r in on.history))


def test_update_record_equals_direct_norms():
    """One update per epoch (no shuffle, one batch): the record against norms formed here."""
    x, y, _ = _data(n=20)
    model = rnnx.Model("gru", 3, 5, 1, num_layers=2)
    p0 = model.init_params(np, seed=3, dtype=np.float64)
    rec = recorder.Recorder(probe_size=4)
    res = engine.fit(model, x, y, epochs=1, batch_size=20, shuffle=False, params=p0, clip_norm=0.05, lr=0.1,
                      optimizer="sgd", diagnostics=rec, freeze=("bias_y",))
    loss, grads, _ = model.loss_and_grad(p0, np.swapaxes(x, 0, 1), y)
    keys = [k for k in model.param_shapes() if k != "bias_y"]
    u = rec.updates[0]
    assert len(rec.updates) == 1 and u["update"] == 1 and u["epoch"] == 1 and u["finite"]
    _close(u["loss"], loss)
    _close(u["grad_norm"], math.sqrt(sum(float(np.sum(grads[k] ** 2)) for k in keys)))
    assert u["clipped"] is True and u["grad_norm"] > 0.05
    assert list(u["grad_norms"]) == keys  # the frozen bias_y left out, the model's order
    for k in keys:
        _close(u["grad_norms"][k], np.linalg.norm(grads[k]))
        _close(u["update_ratios"][k], np.linalg.norm(res.params[k] - p0[k]) / np.linalg.norm(p0[k]))
    d = math.sqrt(sum(float(np.sum((res.params[k] - p0[k]) ** 2)) for k in keys))
    _close(u["update_ratio"], d / math.sqrt(sum(float(np.sum(p0[k] ** 2)) for k in keys)))
    # SGD with clipping: the step is lr * g * clip / ||g||
    _close(d, 0.1 * 0.05 * u["grad_norm"] / (u["grad_norm"] + 1e-6), 1e-9)


@pytest.mark.parametrize("cell, bidirectional", [("lstm", False), ("gru", True), ("rnn", False)])
def test_epoch_profiles_equal_the_library_calls(cell, bidirectional):
    x, y, ln = _data(n=24, T=9, lengths=True)
    opts = {"nonlinearity": "relu"} if cell == "rnn" else {}
    model = rnnx.Model(cell, 3, 4, 1, num_layers=2, bidirectional=bidirectional, **opts)
    p0 = model.init_params(np, seed=1, dtype=np.float64)
    rec = recorder.Recorder(probe_size=10, probes=3, seed=5)
    engine.fit(model, x, y, lengths=ln, epochs=1, batch_size=8, params=p0, diagnostics=rec)
    e0 = rec.epochs[0]
    xb, yb, lb = np.swapaxes(x[:10], 0, 1), y[:10], ln[:10]
    valid = (np.arange(9)[:, None] < lb[None, :]).astype(float)  # (T, B)

    def seq_mean(a):  # (L, D, T, B[, K]) -> (L, D, T) over valid sequences
        a = np.asarray(a)
        if a.ndim == 5:
            a = a.mean(axis=4)
        return (a * valid).sum(axis=3) / valid.sum(axis=1)

    *_, flow = model.loss_and_grad(p0, xb, yb, lengths=lb, collect="norms")
    _close(e0["flow_h"], seq_mean(flow.h))
    _close(e0["flow_x"], seq_mean(flow.x))
    assert ("flow_c" in e0) == (cell == "lstm")
    prof = diagnostics.jacobian_profile(model, p0, xb, lengths=lb, probes=3, seed=5)
    _close(e0["jacobian"], seq_mean(prof.h))
    _close(e0["growth"], prof.growth)
    _close(e0["w_hh_norm"], prof.w_hh_norm)
    if cell == "lstm":
        _close(e0["flow_c"], seq_mean(flow.c))
        _close(e0["forget"], prof.forget)
    st = diagnostics.gate_saturation(model, p0, xb, lengths=lb)
    assert set(e0["saturated"]) == set(st.saturated)
    for g, v in st.saturated.items():
        _close(e0["saturated"][g], v)
    if cell == "rnn":
        assert e0["dead"]["h"] == np.asarray(st.dead["h"]).sum(axis=2).tolist()


def test_jax_records_what_numpy_records():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    x, y, _ = _data(n=32)
    model = rnnx.Model("lstm", 3, 5, 1)
    recs = []
    for on_jax in (False, True):
        rec = recorder.Recorder(probe_size=8)
        if on_jax:
            with jax.enable_x64(True):
                engine.fit(model, jnp.asarray(x), jnp.asarray(y), epochs=2, batch_size=16, diagnostics=rec)
        else:
            engine.fit(model, x, y, epochs=2, batch_size=16, diagnostics=rec)
        recs.append(rec.to_json())
    a, b = recs
    for ua, ub in zip(a["updates"], b["updates"]):
        _close(ua["grad_norm"], ub["grad_norm"], 1e-10)
        assert ua["clipped"] == ub["clipped"] and list(ua["grad_norms"]) == list(ub["grad_norms"])
    for ea, eb in zip(a["epochs"], b["epochs"]):
        for k in ("flow_h", "flow_c", "flow_x", "jacobian", "growth", "forget"):
            _close(ea[k], eb[k], 1e-10)


def test_resumed_records_equal_uninterrupted(tmp_path):
    x, y, _ = _data(n=40)
    model = rnnx.Model("rnn", 3, 5, 1)
    kw = dict(batch_size=16, clip_value=0.2)
    full = recorder.Recorder(probe_size=8)
    engine.fit(model, x, y, epochs=4, diagnostics=full, **kw)
    ck, dj = str(tmp_path / "ck.npz"), str(tmp_path / "d.json")
    first = recorder.Recorder(probe_size=8)
    engine.fit(model, x, y, epochs=2, diagnostics=first, checkpoint=ck, **kw)
    first.save(dj)
    first.updates.append({"epoch": 3, "update": 99})  # recorded past the checkpoint (a run cut off): dropped
    first.truncate(2)
    assert json.loads((tmp_path / "d.json").read_text())["updates"] == first.updates
    again = recorder.Recorder(probe_size=8)
    again.load(dj)
    engine.fit(model, x, y, epochs=4, diagnostics=again, resume=ck, **kw)
    assert json.dumps(again.to_json()) == json.dumps(full.to_json())


def test_norm_does_not_overflow_in_float32():
    g = np.full((4, 4), 1e30, dtype=np.float32)
    n = float(recorder._norm(g, xp=rnnx._xp.namespace(g=g)))
    assert math.isclose(n, 4e30, rel_tol=1e-6)
    with np.errstate(over="ignore"):
        assert math.isinf(float(optim.global_norm({"g": g}, xp=rnnx._xp.namespace(g=g))))  # what clipping squares


def test_an_exploding_update_is_on_record():
    x, y, _ = _data(n=16)
    model = rnnx.Model("rnn", 3, 8, 1, nonlinearity="relu")
    p0 = {k: v * 30.0 for k, v in model.init_params(np, seed=0, dtype=np.float64).items()}
    rec = recorder.Recorder(what="updates", probe_size=4)
    with np.errstate(all="ignore"), pytest.raises(NonFiniteLoss):
        engine.fit(model, 1e3 * x, y, epochs=5, batch_size=4, params=p0, lr=1e3, optimizer="sgd", diagnostics=rec)
    assert rec.updates and not rec.updates[-1]["finite"]
    assert recorder.summary(rec.to_json())["exploded"] >= 1
    json.dumps(rec.to_json(), allow_nan=False)  # non-finite numbers stored as None


def test_bad_input_names_the_argument():
    x, y, _ = _data(n=12)
    gru = rnnx.Model("gru", 3, 4, 1)
    with pytest.raises(ValueError, match=r"diagnostics: 'cell' .* LSTM only; this model is GRU"):
        engine.fit(gru, x, y, epochs=1, diagnostics=recorder.Recorder(what="flow,cell"))
    with pytest.raises(ValueError, match=r"diagnostics: expected names from .* got 'weights'"):
        recorder.Recorder(what="weights")
    with pytest.raises(ValueError, match=r"probe_size: expected at most 12 .* got 13"):
        engine.fit(gru, x, y, epochs=1, diagnostics=recorder.Recorder(probe_size=13))
    with pytest.raises(ValueError, match="probe_size: expected a positive integer, got 0"):
        recorder.Recorder(probe_size=0)
    with pytest.raises(ValueError, match="steps_per_execution: diagnostics record every update"):
        engine.fit(gru, x, y, epochs=1, steps_per_execution=4, diagnostics=recorder.Recorder(probe_size=4))
    with pytest.raises(TypeError, match="diagnostics: expected an rnnx.diagnostics.recorder.Recorder, got dict"):
        engine.fit(gru, x, y, epochs=1, diagnostics={})
    m2m = rnnx.Model("gru", 3, 4, 1, objective="many-to-many")
    with pytest.raises(ValueError, match="diagnostics: not recorded with tbptt"):
        engine.fit(m2m, x, np.zeros((12, 12, 1)), epochs=1, tbptt=(4, 4),
                    diagnostics=recorder.Recorder(probe_size=4))


# -- the CLI -------------------------------------------------------------------------------------
def _train(capsys, out, *extra):
    code = main(["train", "--preset", "seed001", "--epochs", "3", "--quiet", "--out", str(out), *extra])
    captured = capsys.readouterr()
    return code, captured.err


def test_cli_diagnostics_files_and_same_model(capsys, tmp_path):
    code, err = _train(capsys, tmp_path / "off")
    assert code == 0, err
    code, err = _train(capsys, tmp_path / "on", "--diagnostics", "--probe-size", "16")
    assert code == 0, err
    with np.load(tmp_path / "off" / "model.npz") as a, np.load(tmp_path / "on" / "model.npz") as b:
        assert all(np.array_equal(a[k], b[k]) for k in a.files if not k.startswith("meta"))
    d = json.loads((tmp_path / "on" / "diagnostics.json").read_text())
    assert d["format"] == "rnnx-diagnostics" and d["probe_size"] == 16 and d["what"] == list(recorder.WHAT[:2]) + ["jacobian", "gates"]
    assert [e["epoch"] for e in d["epochs"]] == [0, 1, 2, 3] and d["updates"][-1]["epoch"] == 3
    assert (tmp_path / "on" / "diagnostics.png").stat().st_size > 10_000
    m = json.loads((tmp_path / "on" / "metrics.json").read_text())
    assert m["diagnostics"]["updates"] == len(d["updates"]) and m["diagnostics"]["clipped"] == m["clipped_updates"]
    assert m["diagnostics"]["growth_start"] == d["epochs"][0]["growth"][0][0]
    assert m["diagnostics"]["growth"] == d["epochs"][-1]["growth"][0][0]
    fh = d["epochs"][0]["flow_h"][0][0]
    assert m["diagnostics"]["flow_ratio_start"] == fh[0] / fh[-1]


def test_cli_resumed_diagnostics_equal_uninterrupted(capsys, tmp_path):
    code, err = _train(capsys, tmp_path / "full", "--diagnostics", "--epochs", "4")
    assert code == 0, err
    code, err = _train(capsys, tmp_path / "part", "--diagnostics", "--epochs", "2")
    assert code == 0, err
    assert main(["train", "--resume", str(tmp_path / "part"), "--epochs", "4", "--quiet"]) == 0
    capsys.readouterr()
    a = json.loads((tmp_path / "full" / "diagnostics.json").read_text())
    b = json.loads((tmp_path / "part" / "diagnostics.json").read_text())
    assert a == b
    os.remove(tmp_path / "part" / "diagnostics.json")
    assert main(["train", "--resume", str(tmp_path / "part"), "--epochs", "5", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "diagnostics.json" in err and "--resume" in err and err.count("\n") == 1


@pytest.mark.parametrize("argv, words", [
    (("--diagnostics", "cell", "--cell", "gru"), "--diagnostics: 'cell' (the gradient dL/dc_t of the cell state) "
                                                 "exists for an LSTM only; this model is GRU"),
    (("--diagnostics", "flow,weights"), "--diagnostics: expected all or names from updates, flow, cell, jacobian, "
                                        "gates, got 'flow', 'weights'"),
    (("--probe-size", "4"), "--probe-size: applies with --diagnostics only"),
    (("--diagnostics", "--probe-size", "0"), "--probe-size: expected a positive integer, got 0"),
    (("--diagnostics", "--probe-size", "100000"), "--probe-size: expected at most"),
    (("--diagnostics", "--objective", "many-to-many", "--tbptt", "5,5"), "--diagnostics: not recorded with --tbptt"),
])
def test_cli_bad_diagnostics_flags(capsys, tmp_path, argv, words):
    code, err = _train(capsys, tmp_path / "o", *argv)
    assert code == 2 and words in err and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()


# -- rnnx diagnose ---------------------------------------------------------------------------------
def test_diagnose_model_equals_the_runs_last_epoch(capsys, tmp_path):
    """The same parameters and probe batch: the trained model's profile is the run's last
    epoch's, and its gradient is recorded; a second diagnose needs --overwrite."""
    run = tmp_path / "run"
    code, err = _train(capsys, run, "--diagnostics", "--no-early-stopping")
    assert code == 0, err
    assert main(["diagnose", "--model", str(run)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["out"] == str(run / "diagnose") and out["part"] == "train"
    d = json.loads((run / "diagnose" / "diagnostics.json").read_text())
    last = json.loads((run / "diagnostics.json").read_text())["epochs"][-1]
    assert d["epochs"] == [last] and d["updates"] == []
    assert d["gradient"]["grad_norm"] > 0 and set(d["gradient"]["grad_norms"]) == set(d["updates"] or
                                                                                      last and d["gradient"]["grad_norms"])
    assert (run / "diagnose" / "diagnostics.png").exists()
    assert main(["diagnose", "--model", str(run)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["diagnose", "--model", str(run), "--part", "test", "--diagnostics", "jacobian", "--overwrite"]) == 0
    d = json.loads((run / "diagnose" / "diagnostics.json").read_text())
    assert d["part"] == "test" and d["what"] == ["jacobian"] and "flow_h" not in d["epochs"][0]


def test_diagnose_compare_table_and_verdict(capsys, tmp_path):
    out = tmp_path / "cmp"
    assert main(["diagnose", "--compare", "cell", "--preset", "seed001", "--epochs", "2", "--quiet", "--no-bias",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    r = json.loads((out / "compare.json").read_text())
    assert [t["variant"] for t in r["variants"]] == ["rnn", "lstm", "gru"] and r["seeds"] == 3
    with np.load(out / "gru" / "seed1" / "model.npz") as z:  # the given layer option carried to every cell
        meta = json.loads(str(z["meta"]))
    assert meta["model"]["cell"] == "gru" and meta["model"]["bias"] is False
    assert len(r["runs"]) == 9 and all((tmp_path / run["folder"]).exists() or os.path.exists(run["folder"])
                                       for run in r["runs"])
    for t in r["variants"]:
        mses = [run["test_mse"] for run in r["runs"] if run["variant"] == t["variant"]]
        assert math.isclose(t["test_mse_mean"], sum(mses) / 3, rel_tol=1e-12)
    assert r["verdict"] in text and "seed-to-seed spread" in r["verdict"]
    assert (out / "compare.png").stat().st_size > 10_000 and (out / "compare.csv").read_text().count("\n") == 4


def _run(variant, mse, exploded=0, failed=None, updates=10):
    return {"variant": variant, "seed": 0, "folder": "", "test_mse": mse, "failed": failed,
            "summary": {"updates": updates, "grad_norm_max": 5.0, "grad_norm_median": 1.0, "clipped": 2,
                        "exploded": exploded, "non_finite": 0, "growth": 0.5}}


def test_compare_verdict_from_the_numbers():
    from rnnx.cli import diagnose_app as D

    runs = [_run("rnn", 1.0), _run("rnn", 1.1), _run("rnn", 0.9), _run("lstm", 0.5), _run("lstm", 0.52),
            _run("lstm", 0.48), _run("gru", 1.05), _run("gru", 0.95, exploded=2), _run("gru", None, failed="x")]
    table = D._table("cell", runs)
    assert [t["exploded_runs"] for t in table] == [0, 0, 2] and table[2]["failed_runs"] == 1
    assert math.isclose(table[0]["test_mse_std"], 0.1) and table[2]["test_mse_mean"] == 1.0
    v = D._verdict("cell", table)
    assert v.startswith("gradients exploded") and "gru (2/3 runs)" in v
    assert "the cell changed the test MSE beyond" in v and "lstm 0.5 vs 1 (spread 0.1)" in v and "gru" not in v.split(": ")[-1]
    calm = D._table("cell", [_run(c, 1.0 + 0.1 * (k - 1)) for c in ("rnn", "lstm", "gru") for k in range(3)])
    assert D._verdict("cell", calm) == ("no gradient exploded (no update above 1e3 x its run's median norm, none "
                                        "non-finite); the cell did not change the test MSE beyond the seed-to-seed "
                                        "spread (2 sd) against rnn")


@pytest.mark.long
@pytest.mark.skipif(not os.environ.get("RNNX_LONG"), reason="18 training runs (~22 s; the verdict's logic is "
                    "test_compare_verdict_from_the_numbers): RNNX_LONG=1 python -m pytest -m long")
def test_diagnose_compare_names_what_exploded(capsys, tmp_path):
    """Plain SGD at lr 3 on a ReLU RNN explodes without clipping: the unclipped runs fail
    (non-finite), are counted, and the verdict says so."""
    out = tmp_path / "cmp"
    assert main(["diagnose", "--compare", "clip", "--preset", "seed001", "--epochs", "2", "--optimizer", "sgd",
                 "--lr", "3", "--cell", "rnn", "--nonlinearity", "relu", "--quiet", "--out", str(out)]) == 0
    capsys.readouterr()
    r = json.loads((out / "compare.json").read_text())
    none = r["variants"][0]
    assert none["variant"] == "none" and none["exploded_runs"] == 3
    assert r["verdict"].startswith("gradients exploded") and "none (3/3 runs)" in r["verdict"]
    assert next(t for t in r["variants"] if t["variant"] == "norm=0.1")["exploded_runs"] == 0


def test_diagnose_unknown_study(capsys):
    with pytest.raises(SystemExit) as e:
        main(["diagnose", "--compare", "weights", "--preset", "seed001"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "invalid choice: 'weights'" in err and err.count("\n") == 1


@pytest.mark.parametrize("argv, words", [
    ((), "diagnose: give one of --model DIR"),
    (("--compare", "clip", "--model", "x"), "diagnose: give one of --model DIR"),
    (("--compare", "clip", "--preset", "seed001", "--seeds", "2"), "--seeds: expected at least 3"),
    (("--compare", "clip", "--preset", "seed001", "--clip-norm", "1"), "--compare clip: sets --clip-norm itself"),
    (("--compare", "cell", "--preset", "seed001", "--cell", "gru"), "--compare cell: sets --cell itself"),
    (("--compare", "cell", "--preset", "seed001", "--nonlinearity", "relu"),
     "--compare cell: --nonlinearity applies to --cell rnn only"),
    (("--compare", "clip", "--npz", "x.npz"), "--npz: --compare studies regression runs"),
    (("--compare", "clip", "--preset", "seed001", "--part", "test"), "--part: applies to --model"),
    (("--model", "nowhere", "--epochs", "3"), "--epochs: applies to --compare"),
    (("--model", "nowhere", "--seeds", "3"), "--seeds: applies to --compare"),  # its default too: not ignored
    (("--compare", "clip", "--preset", "seed001", "--overwrite"), "--overwrite: --compare writes new run folders"),
])
def test_diagnose_bad_input(capsys, tmp_path, argv, words):
    code = main(["diagnose", *argv, "--out", str(tmp_path / "o")] if argv else ["diagnose"])
    err = capsys.readouterr().err
    assert code == 2 and words in err and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()


# -- classification runs --------------------------------------------------------------------------
@pytest.fixture
def panel_npz(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 80)
    x = rng.normal(size=(80, 15, 2)) + y[:, None, None] * 0.5
    p = tmp_path / "p.npz"
    np.savez(p, x=x, y=y, lengths=rng.integers(8, 16, 80))
    return str(p)


def test_classification_run_diagnostics_and_resume(capsys, tmp_path, panel_npz):
    """--npz with --diagnostics: the files, cross-entropy on the labels with lengths, the
    summary in metrics.json; stopped at 2 and resumed to 4 == 4 uninterrupted."""
    a, b = tmp_path / "a", tmp_path / "b"
    common = ["train", "--npz", panel_npz, "--diagnostics", "--probe-size", "8", "--quiet"]
    assert main([*common, "--epochs", "4", "--checkpoint-every", "3", "--out", str(a)]) == 0
    assert main([*common, "--epochs", "2", "--out", str(b)]) == 0
    assert main(["train", "--resume", str(b), "--epochs", "4", "--quiet"]) == 0
    capsys.readouterr()
    da = json.loads((a / "diagnostics.json").read_text())
    assert da == json.loads((b / "diagnostics.json").read_text())
    assert da["loss"] == "cross-entropy" and [e["epoch"] for e in da["epochs"]] == [0, 1, 2, 3, 4]
    assert (a / "diagnostics.png").exists()
    m = json.loads((a / "metrics.json").read_text())
    assert m["diagnostics"]["updates"] == len(da["updates"]) > 0


@pytest.mark.parametrize("argv, words", [
    (("--diagnostics", "--probe-size", "500"), "--probe-size: expected at most 58 (the training cases), got 500"),
    (("--diagnostics", "cell"), "--diagnostics: 'cell' (the gradient dL/dc_t of the cell state) exists for an LSTM"),
    (("--probe-size", "3"), "--probe-size: applies with --diagnostics only"),
])
def test_classification_bad_diagnostics_flags(capsys, tmp_path, panel_npz, argv, words):
    code = main(["train", "--npz", panel_npz, "--quiet", "--out", str(tmp_path / "o"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and words in err and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()


def test_diagnose_model_of_a_classification_run(capsys, tmp_path, panel_npz):
    run = tmp_path / "run"
    assert main(["train", "--npz", panel_npz, "--epochs", "3", "--diagnostics", "--probe-size", "8", "--quiet",
                 "--no-early-stopping", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["diagnose", "--model", str(run), "--probe-size", "8"]) == 0
    out = json.loads(capsys.readouterr().out)
    d = json.loads((run / "diagnose" / "diagnostics.json").read_text())
    assert d["epochs"] == [json.loads((run / "diagnostics.json").read_text())["epochs"][-1]]
    assert d["loss"] == "cross-entropy" and out["grad_norm"] == d["gradient"]["grad_norm"] > 0
    assert main(["diagnose", "--model", str(run), "--csv", "x.csv", "--overwrite"]) == 2
    assert "is a classification run" in capsys.readouterr().err


def test_steps_no_sequence_reaches_are_stated_empty(tmp_path):
    """Padding past every length: no gradient reaches those steps; their averages are None
    in the record (JSON null), the summary's ratio None, and the figure is still drawn."""
    x, y, _ = _data(n=16, T=12)
    ln = np.full(16, 9)
    rec = recorder.Recorder(probe_size=8)
    engine.fit(rnnx.Model("lstm", 3, 4, 1), x, y, lengths=ln, epochs=1, batch_size=8, diagnostics=rec)
    for row in rec.epochs:
        for key in ("flow_h", "flow_x", "flow_c", "jacobian", "forget"):
            assert row[key][0][0][9:] == [None] * 3 and None not in row[key][0][0][:9], key
        assert all(v[0][0][9:] == [None] * 3 for v in row["saturated"].values())
    d = rec.to_json()
    json.dumps(d, allow_nan=False)
    assert recorder.summary(d)["flow_ratio"] is None
    from rnnx.diagnostics import plots

    plots.diagnostics(d, str(tmp_path / "d.png"), "padded")
    assert (tmp_path / "d.png").stat().st_size > 10_000
