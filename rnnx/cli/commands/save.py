"""``rnnx save --from-torch FILE --out FILE.npz``: a torch.save()d nn.RNN/LSTM/GRU or its
state dict, converted to an rnnx .npz (the work is :func:`rnnx.cli.app.save_from_torch`)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from-torch", required=True, metavar="FILE", help="a torch.save()d nn.RNN/LSTM/GRU or state dict")
    p.add_argument("--nonlinearity", default="tanh", choices=["tanh", "relu"], help="for an RNN state dict")
    p.add_argument("--out", required=True, metavar="FILE.npz")


def run(args: argparse.Namespace) -> int:
    from rnnx.cli import app

    layer = app.save_from_torch(args.from_torch, args.out, nonlinearity=args.nonlinearity)
    print(f"rnnx save: {layer!r} -> {args.out}")
    return 0
