"""``rnnx bench``: forward + backward timed against torch.nn and jax.grad, interleaved (the
work is :func:`rnnx.cli.bench.main`; the parser checks the arguments)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    import math

    from rnnx.cli import bench
    from rnnx.cli.commands import names_in, typed

    ms = typed(float, "milliseconds >= 0", many=False, ok=lambda v: 0 <= v < math.inf)
    p.add_argument("--cells", type=names_in(bench.REGISTRY), default=",".join(bench.CELLS),
                   help="comma-separated: " + ", ".join(bench.CELLS))
    p.add_argument("--sizes", nargs="+", metavar="B,T,I,H", default=bench.DEFAULT_SIZES, type=typed(
        int, "B,T,I,H: four positive integers", ok=lambda v: len(v) == 4 and min(v) >= 1),
        help="sizes (default: the five of issue #5)")
    p.add_argument("--backend", help="rnnx backends/targets to time (default numpy,torch,jax,cupy where usable)")
    p.add_argument("--repeat", type=typed(int, "at least 1", many=False, ok=lambda v: v >= 1), default=7,
                   help="timed rounds (default 7)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls per row first (default 2)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--settle", type=typed(float, "seconds >= 0", many=False, ok=lambda v: 0 <= v < math.inf),
                   default=0.2, metavar="SECONDS",
                   help="pause before a row of another library, so its idle threads stop spinning (default 0.2)")
    p.add_argument("--min-round-ms", type=ms, default=20.0, metavar="MS",
                   help="calls shorter than this are repeated within a round and averaged (default 20)")
    p.add_argument("--rewarm-ms", type=ms, default=50.0, metavar="MS",
                   help="untimed calls of a row after the pause, for MS and at least one, so idle cores "
                        "do not time cold (default 50)")
    p.add_argument("--no-anchors", action="store_true", help="time rnnx alone")
    p.add_argument("--checkpoint", action="store_true", help="also time checkpoint='sqrt' on NumPy")
    p.add_argument("--json", metavar="FILE", help="write the rows as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="write the figure")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json/--plot file (never a file "
                   "of a run folder)")


def run(args: argparse.Namespace) -> int:
    from rnnx.cli import bench, signals
    from rnnx.cli.commands import check_backends, check_outputs

    check_backends("--backend", args.backend)
    check_outputs({"--json": args.json, "--plot": args.plot}, overwrite=args.overwrite)

    # SIGINT/SIGTERM/SIGHUP: one line, exit 128 + N, saying which of --json/--plot were written (whole)
    with signals.stopping(outputs=[args.json, args.plot]):
        return bench.main(cells=args.cells, sizes=args.sizes,
                          backend=args.backend, repeat=args.repeat, warmup=args.warmup, dtype=args.dtype,
                          json_path=args.json, plot_path=args.plot, anchors=not args.no_anchors,
                          checkpoint=args.checkpoint, settle=args.settle, min_round_ms=args.min_round_ms,
                          rewarm_ms=args.rewarm_ms)
