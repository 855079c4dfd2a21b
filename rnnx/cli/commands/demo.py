"""``rnnx demo``: the same LSTM forward + gradient on every available backend (the work is
:func:`rnnx.cli.demo.main`)."""

from __future__ import annotations

import argparse
import os


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backends", default=None, help="comma-separated backends or targets (default: all)")


def run(args: argparse.Namespace) -> int:
    from rnnx import backends
    from rnnx.cli import demo
    from rnnx.cli.commands import check_backends

    check_backends("--backends", args.backends)
    if args.backends is not None:
        os.environ["RNNX_BACKENDS"] = args.backends
    backends.selected()  # validate the selection before any work
    return demo.main()
