"""``rnnx load FILE``: check an rnnx .npz file and describe its layer and parameters."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file")


def run(args: argparse.Namespace) -> int:
    import rnnx

    obj, params = rnnx.load(args.file)
    print(f"{args.file}: {obj!r}" if not hasattr(obj, "layer") else f"{args.file}: {obj.layer!r} + head")
    for k, v in params.items():
        print(f"  {k:<24}{str(tuple(v.shape)):<14}{v.dtype}")
    return 0
