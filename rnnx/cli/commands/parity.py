"""``rnnx parity``: forward + BPTT of every cell on every backend against the float64 NumPy
reference and torch.nn (the work is :func:`rnnx.cli.parity.main`)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    from rnnx.cli.commands import names_in
    from rnnx.testing import rows as parity_rows

    p.add_argument("--backend", help="comma-separated backends or targets (default: all available)")
    p.add_argument("--namespace", action="append", default=[], metavar="SPEC",
                   help="also test any array-API namespace (repeatable): MODULE (array_api_strict), MODULE:ATTR (a "
                   "namespace attribute of it), or MODULE:FACTORY(ARGS) (what calling it returns; ARGS are Python "
                   "literals and module names: marray:masked_namespace(numpy)); each optionally @DEVICE "
                   "(array_api_strict@device1)")
    p.add_argument("--cells", type=names_in(parity_rows.CELLS), default=",".join(parity_rows.CELLS),
                   help="comma-separated cells")
    p.add_argument("--json", metavar="FILE", help="write the whole report as JSON")
    p.add_argument("--allow-empty", action="store_true",
                   help=f"exit 0, not {parity_rows.EXIT_NOTHING_RAN}, when no row ran (every target absent or skipped)")
    p.epilog = (f"exit status: 0 when every row that ran is within tolerance, 1 when a row breached its tolerance "
                f"or could not run, 2 for bad arguments, {parity_rows.EXIT_NOTHING_RAN} when no row ran (every target "
                f"absent, or every row skipped for functions its namespace lacks; --allow-empty makes that 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file (never a file of a run "
                   "folder)")


def run(args: argparse.Namespace) -> int:
    from rnnx.cli import parity, signals
    from rnnx.cli.commands import check_backends, check_outputs

    check_backends("--backend", args.backend)
    check_outputs({"--json": args.json}, overwrite=args.overwrite)  # before the parity runs
    with signals.stopping(outputs=[args.json]):  # SIGINT/SIGTERM/SIGHUP: one line, exit 128 + N
        return parity.main(backend=args.backend, namespaces=args.namespace, json_path=args.json, cells=args.cells,
                           allow_empty=args.allow_empty)
