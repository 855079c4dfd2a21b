"""The ``rnnx`` command line.  Errors go to stderr as one line with a non-zero exit."""

from __future__ import annotations

import argparse
import sys


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rnnx", description="Recurrent networks with hand-derived BPTT on any array-API backend.")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="the same LSTM forward + gradient on every available backend")
    d.add_argument("--backends", default=None,
                   help="comma-separated backends or targets (default: $RNNX_BACKENDS, else all)")
    sub.add_parser("backends", help="list every backend/device target and why any is unavailable")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            import os

            from rnnx import demo

            if args.backends is not None:
                os.environ["RNNX_BACKENDS"] = args.backends
            from rnnx import backends

            backends.selected()  # validate the selection before any work
            return demo.main()
        if args.command == "backends":
            from rnnx import backends

            for t in backends.targets():
                reason = t.unavailable()
                print(f"{t.id:<26}" + ("available" if reason is None else f"unavailable: {reason}"))
            return 0
    except (ValueError, TypeError) as e:
        print(f"rnnx {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
