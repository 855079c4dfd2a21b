"""``rnnx load FILE``: check an rnnx .npz file and describe its layer and parameters.  A file
that is missing, corrupt, foreign or malformed is one error line (exit 2)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file")


def run(args: argparse.Namespace) -> int:
    import rnnx
    from rnnx.cli.errors import AppError

    try:
        obj, params = rnnx.load(args.file)
    except rnnx.io.files.FileFormatError as e:
        raise AppError(str(e)) from None
    print(f"{args.file}: {obj!r}" if not hasattr(obj, "layer") else f"{args.file}: {obj.layer!r} + head")
    for k, v in params.items():
        print(f"  {k:<24}{str(tuple(v.shape)):<14}{v.dtype}")
    return 0
