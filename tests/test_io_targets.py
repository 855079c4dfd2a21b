"""Host I/O on every target: ``rnnx.save``/``rnnx.load`` of arrays that live on the target,
``to_torch`` from them, and ``rnnx train`` -> ``predict`` -> ``forecast`` run on it.  On a GPU
machine (``bench/gpu_check.sh``) these are the CuPy, torch-cuda and JAX-GPU cases of issue
16 (``rnnx.save`` and ``to_torch`` used to call ``np.array`` on a CuPy array); here the GPU
targets skip with their reason."""

from __future__ import annotations

import json

import numpy as np
import pytest

import rnnx
from rnnx import backends
from rnnx.cli import main
from conftest import target_params


def _dtype(target) -> str:
    return "float64" if "float64" in target.dtypes() else "float32"


@pytest.mark.parametrize("target", target_params())
def test_save_load_and_to_torch_from_the_target(target, tmp_path):
    layer = rnnx.LSTM(2, 3, num_layers=2, bidirectional=True)
    host = layer.init_params(np, seed=1, dtype=getattr(np, _dtype(target)))
    on_target = {k: target.from_numpy(v) for k, v in host.items()}
    path = tmp_path / "lstm.npz"
    rnnx.save(str(path), layer, on_target)  # the host copy through the target's own to_numpy
    back, params = rnnx.load(str(path), expect=layer)
    assert {k: v.tobytes() for k, v in params.items()} == {k: v.tobytes() for k, v in host.items()}
    xp = target.namespace()
    _, again = rnnx.load(str(path), xp=xp, device=target.device_obj())
    assert all(np.array_equal(target.to_numpy(again[k]), host[k]) for k in host)
    with pytest.raises(FileExistsError, match="exists; pass overwrite=True"):
        rnnx.save(str(path), layer, on_target)
    pytest.importorskip("torch")
    module = rnnx.interop.to_torch(on_target, layer)
    got = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
    assert all(np.array_equal(got[k], host[k]) for k in host)
    assert all(backends.to_numpy(on_target[k]).tobytes() == host[k].tobytes() for k in host)


@pytest.mark.parametrize("target", target_params())
def test_train_predict_forecast_on_the_target(target, tmp_path, capsys):
    run = str(tmp_path / "r")
    dev = ["--device", target.device]
    code = main(["train", "--preset", "seed001", "--epochs", "2", "--hidden", "4", "--backend", target.backend,
                 *dev, "--dtype", _dtype(target), "--out", run, "--quiet"])
    err = capsys.readouterr().err
    assert code == 0, err
    with open(f"{run}/metrics.json", encoding="utf-8") as f:
        m = json.load(f)
    assert m["target"] == target.id and set(backends.versions(target.backend, target.device)) <= set(m["versions"])
    for argv in (["predict", "--model", run], ["forecast", "--model", run, "--steps", "3"]):
        code = main([*argv, "--backend", target.backend, *dev])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert json.loads(out)["out"].startswith(run)
