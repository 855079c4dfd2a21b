"""One process of a 2-process x 2-host-device JAX run on localhost (``jax.distributed``), or
the one-process reference.  Prints (process 0, or the reference) the trained parameters,
the history and which processes wrote the checkpoint as one JSON line.

``python multi_process.py PROCESS_ID NUM_PROCESSES PORT OUT_DIR`` (``single`` for the reference)."""

import os
import sys

os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"

import json  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import rnnx  # noqa: E402
from rnnx.training import distributed  # noqa: E402
from rnnx import optim  # noqa: E402

if __name__ == "__main__":
    single = sys.argv[1] == "single"
    out = sys.argv[-1]
    if not single:
        pid, n, port = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
        distributed.initialize(jnp, coordinator=f"localhost:{port}", num_processes=n, process_id=pid, timeout=60)
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(3)  # every process loads the same data
    x, y = rng.standard_normal((54, 9, 3)), rng.standard_normal((54, 9, 2))
    ln = rng.integers(2, 10, size=54)
    model = rnnx.Model("gru", 3, 5, 2, objective="many-to-many", num_layers=2)
    ckpt = os.path.join(out, f"state-{'single' if single else jax.process_index()}.npz")
    r = rnnx.fit(model, jnp.asarray(x), jnp.asarray(y), lengths=jnp.asarray(ln), epochs=3, batch_size=8,
                 optimizer=optim.Adam(lr=0.01), clip_norm=0.5, validation_split=0.2, seed=2, checkpoint=ckpt,
                 distribution=None if single else distributed.DataParallel())
    if single or jax.process_index() == 0:
        print(json.dumps({"devices": jax.device_count(), "processes": jax.process_count(),
                          "params": {k: np.asarray(v).tolist() for k, v in r.params.items()},
                          "losses": [h["loss"] for h in r.history], "val": [h["val_loss"] for h in r.history],
                          "written": sorted(os.listdir(out))}), flush=True)
