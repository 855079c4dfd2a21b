"""``rnnx backends``: every backend/device target, and why any is unavailable here."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from rnnx import backends

    for t in backends.targets():
        reason = t.unavailable()
        print(f"{t.id:<26}" + ("available" if reason is None else f"unavailable: {reason}"))
    return 0
