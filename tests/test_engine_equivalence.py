"""``rnnx train --csv/--preset`` trains through ``rnnx.fit`` (issue 29): a run of the CLI and a
plain ``rnnx.fit`` of the same windows give the same parameters, bit for bit, for the same
settings (shuffle, dropout seeds, clipping, optimizers; many-to-one and many-to-many
windows; NumPy and JAX).  (The CLI's former ``Trainer`` ran the same updates too, bit for
bit but for JAX's many-to-many: 2.2e-16 after 3 epochs, as it sliced each batch before the
compiled update where fit gathers it inside; its run folders resume bit for bit on the
engine: tests/test_train.py.)"""

from __future__ import annotations

import numpy as np
import pytest

import rnnx
from rnnx import backends
from rnnx.cli.tasks import regression as app
from rnnx.cli.settings import resolve
from rnnx.io import checkpoint

CASES = [
    ("lstm", {}, False, dict(optimizer="adam", lr=0.01, clip_norm=1.0)),
    ("gru", dict(num_layers=2, dropout=0.3), False, dict(optimizer="sgd", lr=0.05, momentum=0.9, clip_value=0.5)),
    ("rnn", dict(bidirectional=True), True, dict(optimizer="adagrad", lr=0.05)),
    ("lstm", {}, True, dict(optimizer="rmsprop", lr=0.005, shuffle=False)),
]


@pytest.mark.parametrize("backend", ["numpy", "jax"])
@pytest.mark.parametrize("cell,options,every_step,settings", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_the_cli_and_fit_run_the_same_updates(tmp_path, backend, cell, options, every_step, settings):
    target = next((t for t in backends.targets() if t.backend == backend and not t.unavailable()), None)
    if target is None:
        pytest.skip(f"{backend} is not available")
    layer = {"num_layers": "layers", "dropout": "dropout", "bidirectional": "bidirectional"}
    cli = {"preset": "seed001", "backend": backend, "cell": cell, "hidden": 6, "window": 10, "epochs": 3,
           "batch_size": 16, "seed": 3, "objective": "many-to-many" if every_step else "many-to-one",
           **{layer[k]: v for k, v in options.items()}, **settings}
    s = resolve(cli, unset=("early_stopping",))  # (the preset's clip_norm stays where settings have none)
    m = app.train(s, out=str(tmp_path / "run"), quiet=True)
    assert m["epochs"] == 3 and m["used_params"] == "final"
    got = checkpoint.load(str(tmp_path / "run" / "model.npz"))[1]["params"]

    xp, dev = target.namespace(), target.device_obj()
    ds = app.dataset_for(s, app.series_for(s)[0], target)
    model = app.model_for(s)
    part = ds.parts["train"]
    opt = rnnx.optim.make(s.optimizer, lr=s.lr, **({"momentum": s.momentum} if s.momentum else {}))
    r = rnnx.fit(model, part.x, part.y, batch_first=False, epochs=3, batch_size=16, seed=3, shuffle=s.shuffle,
                 params=model.init_params(xp, seed=3, dtype=xp.float64, device=dev), optimizer=opt,
                 clip_norm=s.clip_norm, clip_value=s.clip_value)
    assert sorted(got) == sorted(r.params)
    for k in got:
        assert got[k].tobytes() == np.asarray(backends.to_numpy(r.params[k])).tobytes(), k
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert [float(row.split(",")[1]) for row in history[1:]] == [h["loss"] for h in r.history]
