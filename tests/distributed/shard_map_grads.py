"""Run in a fresh process (4 forced host devices): rnnx's loss and gradients inside
``jax.shard_map`` over a batch-sharded mesh + ``lax.pmean`` against one device; prints one
JSON line per case (max abs differences, the compiled program's collectives)."""

import os
import sys

os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"

import json  # noqa: E402
import re  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import Mesh, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import rnnx  # noqa: E402

CASES = {
    "lstm": dict(cell="lstm"),
    "gru-L2-bi": dict(cell="gru", num_layers=2, bidirectional=True),
    "rnn-lengths": dict(cell="rnn", lengths=True),
    "lstm-proj-m2m": dict(cell="lstm", proj_size=3, objective="many-to-many"),
    "lstm-L2-bi-lengths": dict(cell="lstm", num_layers=2, bidirectional=True, lengths=True),
}


def run(name: str, spec: dict) -> dict:
    spec = dict(spec)
    lengths = spec.pop("lengths", False)
    T, B, I, H = 12, 16, 3, 5
    mesh = Mesh(np.array(jax.devices()), ("b",))
    rng = np.random.default_rng(0)
    model = rnnx.Model(spec.pop("cell"), I, H, 2, **spec)
    m2m = model.objective == "many-to-many"
    x = rng.standard_normal((T, B, I))
    y = rng.standard_normal((T, B, 2) if m2m else (B, 2))
    ln = rng.integers(4, T + 1, size=B) if lengths else None
    p0 = model.init_params(jnp, seed=1, dtype=jnp.float64, device=jax.devices()[0])
    l0, g0, _ = model.loss_and_grad(p0, jnp.asarray(x), jnp.asarray(y),
                                    lengths=None if ln is None else jnp.asarray(ln))

    def local(p, x, y, *ln):
        loss, g, _ = model.loss_and_grad(p, x, y, lengths=ln[0] if ln else None)
        return jax.lax.pmean(loss, "b"), jax.tree.map(lambda a: jax.lax.pmean(a, "b"), g)

    put = lambda a, spec: jax.device_put(jnp.asarray(a), NamedSharding(mesh, spec))  # noqa: E731
    args = [jax.device_put(p0, NamedSharding(mesh, P())), put(x, P(None, "b", None)),
            put(y, P(None, "b", None) if m2m else P("b", None))]
    specs = [P(), P(None, "b", None), P(None, "b", None) if m2m else P("b", None)]
    if ln is not None:
        args.append(put(ln, P("b")))
        specs.append(P("b"))
    f = jax.jit(jax.shard_map(local, mesh=mesh, in_specs=tuple(specs), out_specs=(P(), P())))
    loss, g = f(*args)
    text = f.lower(*args).compile().as_text()
    coll = {k: len(re.findall(k + r"[-(.]", text)) for k in ("all-gather", "all-reduce", "all-to-all",
                                                              "collective-permute", "reduce-scatter")}
    return {"case": name, "loss": abs(float(loss) - float(l0)),
            "grads": max(float(np.max(np.abs(np.asarray(g[k]) - np.asarray(g0[k])))) for k in g0),
            "scale": max(float(np.max(np.abs(np.asarray(g0[k])))) for k in g0), "collectives": coll}


if __name__ == "__main__":
    with jax.enable_x64(True):
        for name in (sys.argv[1:] or CASES):
            print(json.dumps(run(name, CASES[name])), flush=True)
