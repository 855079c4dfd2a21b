"""``rnnx parity``: forward + BPTT of every cell on every backend against the float64 NumPy
reference and torch.nn (the work is :func:`rnnx.cli.parity.main`)."""

from __future__ import annotations

import argparse

from rnnx.cli.errors import AppError


def add_arguments(p: argparse.ArgumentParser) -> None:
    from rnnx.cli import parity

    p.add_argument("--backend", help="comma-separated backends or targets (default: all available)")
    p.add_argument("--namespace", action="append", default=[], metavar="MODULE[:DEVICE]",
                   help="also test any array-API module by import name, e.g. array_api_strict (repeatable)")
    p.add_argument("--cells", default=",".join(parity.CELLS), help="comma-separated cells")
    p.add_argument("--json", metavar="FILE", help="write the whole report as JSON")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file (never a file of a run "
                   "folder)")


def run(args: argparse.Namespace) -> int:
    from rnnx.cli import parity, signals

    cells = tuple(c.strip() for c in args.cells.split(",") if c.strip())
    unknown = [c for c in cells if c not in parity.CELLS]
    if unknown:
        raise AppError(f"--cells: unknown {unknown}; expected some of {', '.join(parity.CELLS)}")
    if args.json is not None:  # before the parity runs
        from rnnx.cli import runfolder

        runfolder.check_output("--json", args.json, overwrite=args.overwrite)
    with signals.stopping(outputs=[args.json]):  # SIGINT/SIGTERM/SIGHUP: one line, exit 128 + N
        return parity.main(backend=args.backend, namespaces=args.namespace, json_path=args.json, cells=cells)
