"""``rnnx save --from-torch FILE --out FILE.npz [--overwrite]``: a torch.save()d
nn.RNN/LSTM/GRU or its state dict, converted to an rnnx .npz (the work is
:func:`rnnx.cli.tasks.regression.save_from_torch`).  An existing ``--out`` is replaced only with
``--overwrite`` (its permission bits kept); the file is written atomically."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from-torch", required=True, metavar="FILE", help="a torch.save()d nn.RNN/LSTM/GRU or state dict")
    p.add_argument("--nonlinearity", default="tanh", choices=["tanh", "relu"], help="for an RNN state dict")
    p.add_argument("--out", required=True, metavar="FILE.npz")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")


def _exists(out: str) -> str:
    return f"--out: {out!r} exists; pass --overwrite to replace it (nothing was written)"


def run(args: argparse.Namespace) -> int:
    from rnnx.cli.tasks import regression as app
    from rnnx.cli.errors import AppError

    from rnnx.cli import runfolder

    runfolder.check_output("--out", args.out, overwrite=args.overwrite)  # before --from-torch is read
    try:
        layer = app.save_from_torch(args.from_torch, args.out, nonlinearity=args.nonlinearity,
                                    overwrite=args.overwrite)
    except FileExistsError:  # --out appeared while converting: left as it is
        raise AppError(_exists(args.out)) from None
    except OSError as e:
        raise AppError(f"--out: cannot write {e.filename or args.out!r}: {e.strerror or e}", code=1) from None
    print(f"rnnx save: {layer!r} -> {args.out}")
    return 0
