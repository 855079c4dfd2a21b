"""``rnnx save --from-torch FILE --out FILE.npz [--overwrite]``: a torch.save()d
nn.RNN/LSTM/GRU or its state dict, converted to an rnnx .npz.  ``--out`` is checked before
``--from-torch`` is read and again before it is written (:func:`rnnx.cli.runfolder.check_output`:
never a file of a run; an existing one replaced only with ``--overwrite``, its permission bits
kept); the file is written atomically."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from-torch", required=True, metavar="FILE", help="a torch.save()d nn.RNN/LSTM/GRU or state dict")
    p.add_argument("--nonlinearity", default="tanh", choices=["tanh", "relu"], help="for an RNN state dict")
    p.add_argument("--out", required=True, metavar="FILE.npz")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")


def run(args: argparse.Namespace) -> int:
    import rnnx
    from rnnx.cli import runfolder
    from rnnx.cli.errors import AppError
    from rnnx.install import install_command
    from rnnx.io.inputs import NotARegularFile, open_regular

    path, out = args.from_torch, args.out
    runfolder.check_output("--out", out, overwrite=args.overwrite)  # before --from-torch is read
    try:
        import torch
    except ImportError:
        raise AppError(f"save: --from-torch needs torch; install it with: {install_command('torch')}") from None
    from rnnx.interop import from_torch

    try:
        f = open_regular(path)  # a FIFO or a device: refused before a byte is read
    except FileNotFoundError:
        raise AppError(f"--from-torch: {path!r} does not exist") from None
    except NotARegularFile as e:
        raise AppError(f"--from-torch: {path!r} {e.strerror}") from None
    except OSError as e:
        raise AppError(f"--from-torch: cannot read {path!r} ({e.strerror or e})") from None
    try:
        with f:
            obj = torch.load(f, map_location="cpu", weights_only=True)
    except Exception as e:
        raise AppError(f"--from-torch: {path!r} is not a loadable torch file ({type(e).__name__}: {e})") from None
    runfolder.check_output("--out", out, overwrite=args.overwrite)  # again: it may have changed meanwhile
    layer, params = from_torch(obj, nonlinearity=args.nonlinearity)
    try:
        rnnx.save(out, layer, params, overwrite=args.overwrite)
    except FileExistsError:  # --out appeared while converting: left as it is
        raise AppError(f"--out: {out!r} exists; pass --overwrite to replace it (nothing was written)") from None
    except OSError as e:
        raise AppError(f"--out: cannot write {e.filename or out!r}: {e.strerror or e}", code=1) from None
    print(f"rnnx save: {layer!r} -> {out}")
    return 0
