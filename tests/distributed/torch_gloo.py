"""Run as one rank of a torch.distributed (gloo) group on localhost: the ``train_rank``
recipe of docs/distributed.md (its python block, executed as the docs show it) on the
data below; rank 0 prints the largest difference from ``rnnx.fit`` on one process as JSON.

``python torch_gloo.py RANK WORLD RENDEZVOUS_FILE``"""

import json
import re
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "distributed.md"


def recipe() -> dict:
    """The names the docs' ``def train_rank`` block defines (the block up to its own run)."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    (block,) = [b for b in blocks if "def train_rank" in b]
    ns: dict = {}
    exec(compile(block.split("\n# one rank here")[0], str(DOC), "exec"), ns)  # noqa: S102 - our own docs
    return ns


if __name__ == "__main__":
    rank, world, rendezvous = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    ns = recipe()
    torch, dist, rnnx, optim = ns["torch"], ns["dist"], ns["rnnx"], ns["optim"]
    dist.init_process_group("gloo", init_method="file://" + rendezvous, rank=rank, world_size=world)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(10, 45, 3, generator=gen, dtype=torch.float64)  # 45 samples: a short last batch of 13
    y = torch.randn(45, 2, generator=gen, dtype=torch.float64)
    model = rnnx.Model("lstm", 3, 6, 2, num_layers=2)
    kw = dict(epochs=3, batch_size=16, lr=0.01, clip_norm=0.5)
    p = ns["train_rank"](model, x, y, **kw)
    dist.destroy_process_group()
    if rank == 0:
        ref = rnnx.fit(model, x, y, batch_first=False, shuffle=False, epochs=3, batch_size=16,
                       optimizer=optim.Adam(lr=0.01), clip_norm=0.5).params
        print(json.dumps({"world": world, "diff": max(float((p[k] - ref[k]).abs().max()) for k in p),
                          "scale": max(float(ref[k].abs().max()) for k in ref)}))
