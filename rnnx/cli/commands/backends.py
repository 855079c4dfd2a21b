"""``rnnx backends``: every backend/device target, the array API standard its library claims,
and why any is unavailable here."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    """One line per target: available, with the array API standard its library claims
    (``__array_api_version__``; rnnx needs 2023.12 or newer), or why it is not."""
    from rnnx import backends

    for t in backends.targets():
        reason = t.unavailable()
        print(f"{t.id:<26}" + (f"available; {backends.standard_note(t.namespace())}" if reason is None
                               else f"unavailable: {reason}"))
    return 0
