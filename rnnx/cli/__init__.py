"""The ``rnnx`` command line.  Errors go to stderr as one line with a non-zero exit."""

from __future__ import annotations

import argparse
import json
import os
import sys


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _lr(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def _backend_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", help="numpy | jax | torch | cupy | array-api-strict (default numpy)")
    p.add_argument("--device", help="the backend's device: cpu, cuda, gpu, device1 (default: its first)")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="rnnx", description="Recurrent networks with hand-derived BPTT on any array-API backend.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train a model on a preset or a CSV series")
    t.add_argument("--preset", help="seed000 | seed001 | seed001-original")
    t.add_argument("--csv", help="CSV file with a header row")
    t.add_argument("--column", help="the column of --csv to model")
    t.add_argument("--window", type=int, help="input steps per window")
    t.add_argument("--horizon", type=int, help="predict this many steps after the window (default 1)")
    t.add_argument("--split", type=_floats, help="train,val,test fractions in time order (default 0.7,0.15,0.15)")
    _backend_args(t)
    t.add_argument("--dtype", choices=["float32", "float64"])
    t.add_argument("--cell", choices=["rnn", "lstm", "gru"])
    t.add_argument("--hidden", type=int, help="hidden units")
    t.add_argument("--layers", type=int, help="stacked recurrent layers")
    t.add_argument("--bidirectional", action="store_true", default=None)
    t.add_argument("--nonlinearity", choices=["tanh", "relu"], help="for --cell rnn")
    t.add_argument("--output-activation", choices=["none", "tanh", "sigmoid"])
    t.add_argument("--objective", choices=["many-to-one", "many-to-many"])
    t.add_argument("--optimizer", choices=["sgd", "adam", "adagrad"])
    t.add_argument("--lr", type=_lr, help="learning rate (> 0)")
    t.add_argument("--momentum", type=float, help="SGD momentum")
    t.add_argument("--nesterov", action="store_true", default=None, help="Nesterov momentum (SGD)")
    t.add_argument("--batch-size", type=int, help="windows per update; 1 is per-sample SGD")
    t.add_argument("--epochs", type=int)
    t.add_argument("--clip-value", type=float, help="clip every gradient element to [-v, v]")
    t.add_argument("--clip-norm", type=float, help="clip the global gradient norm to this")
    t.add_argument("--tbptt", type=_ints, help="K1,K2: truncated BPTT, update every K1 steps through K2 steps")
    t.add_argument("--seed", type=int)
    t.add_argument("--early-stopping", type=int, metavar="PATIENCE", help="stop after PATIENCE epochs without a "
                   "better validation loss, keep the best params")
    t.add_argument("--checkpoint-every", type=int, metavar="N", help="checkpoint every N epochs (default 10)")
    t.add_argument("--out", help="output folder (default runs/<preset or csv name>)")
    t.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its checkpoint")
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    for name, helptext in (("predict", "one-step predictions of a trained model"),
                           ("forecast", "autoregressive multi-step forecast from the end of the series")):
        q = sub.add_parser(name, help=helptext)
        q.add_argument("--model", required=True, metavar="DIR", help="a run folder written by rnnx train")
        q.add_argument("--csv", help="a new series (default: the run's own data)")
        q.add_argument("--column")
        q.add_argument("--out", help="CSV file to write (default DIR/%s.csv)" % ("predictions" if name == "predict" else "forecast"))
        _backend_args(q)
        if name == "forecast":
            q.add_argument("--steps", type=int, default=50, help="steps to forecast (default 50)")

    q = sub.add_parser("parity", help="forward + BPTT of every cell on every backend vs NumPy float64 and torch.nn")
    q.add_argument("--backend", help="comma-separated backends or targets (default: all available)")
    q.add_argument("--namespace", action="append", default=[], metavar="MODULE[:DEVICE]",
                   help="also test any array-API module by import name, e.g. array_api_strict (repeatable)")
    q.add_argument("--cells", default=",".join(("rnn_tanh", "rnn_relu", "lstm", "gru", "gru_reset_before")),
                   help="comma-separated cells")
    q.add_argument("--json", metavar="FILE", help="write the whole report as JSON")

    b = sub.add_parser("bench", help="time forward+backward against torch.nn and jax.grad, interleaved")
    b.add_argument("--cells", default="lstm,gru,rnn", help="comma-separated: lstm, gru, rnn")
    b.add_argument("--sizes", nargs="+", metavar="B,T,I,H", help="sizes (default: the five of issue #5)")
    b.add_argument("--backend", help="rnnx backends/targets to time (default numpy,torch,jax,cupy where usable)")
    b.add_argument("--repeat", type=int, default=7, help="timed rounds (default 7)")
    b.add_argument("--warmup", type=int, default=2, help="untimed calls per row first (default 2)")
    b.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    b.add_argument("--settle", type=float, default=0.2, metavar="SECONDS",
                   help="pause before a row of another library, so its idle threads stop spinning (default 0.2)")
    b.add_argument("--min-round-ms", type=float, default=20.0, metavar="MS",
                   help="calls shorter than this are repeated within a round and averaged (default 20)")
    b.add_argument("--rewarm-ms", type=float, default=50.0, metavar="MS",
                   help="untimed calls of a row after the pause, for MS and at least one, so idle cores "
                        "do not time cold (default 50)")
    b.add_argument("--no-anchors", action="store_true", help="time rnnx alone")
    b.add_argument("--checkpoint", action="store_true", help="also time checkpoint='sqrt' on NumPy")
    b.add_argument("--json", metavar="FILE")
    b.add_argument("--plot", metavar="FILE.png")

    s_ = sub.add_parser("save", help="convert a PyTorch module/state dict file to an rnnx .npz")
    s_.add_argument("--from-torch", required=True, metavar="FILE", help="a torch.save()d nn.RNN/LSTM/GRU or state dict")
    s_.add_argument("--nonlinearity", default="tanh", choices=["tanh", "relu"], help="for an RNN state dict")
    s_.add_argument("--out", required=True, metavar="FILE.npz")
    ld = sub.add_parser("load", help="check an rnnx .npz file and describe it")
    ld.add_argument("file")

    d = sub.add_parser("demo", help="the same LSTM forward + gradient on every available backend")
    d.add_argument("--backends", default=None, help="comma-separated backends or targets (default: all)")
    sub.add_parser("backends", help="list every backend/device target and why any is unavailable")
    return p


def _train(args) -> int:
    from rnnx.cli import app

    cli = {k: v for k, v in vars(args).items() if k not in ("command", "out", "resume", "quiet")}
    if args.resume and any(v is not None for k, v in cli.items()):
        given = sorted(k for k, v in cli.items() if v is not None)
        raise app.AppError(f"--resume: continues with the run's own settings; drop {', '.join('--' + g.replace('_', '-') for g in given)}")
    m = app.train(cli, out=args.out, resume=args.resume, quiet=args.quiet)
    print(f"rnnx train: {m['epochs']} epochs ({m['stopped']}) in {m['seconds_training']:.2f} s on "
          f"{m['target']} {m['dtype']}; test MSE {m['test_mse']:.3g} "
          f"(persistence {m['persistence_test_mse']:.3g}, best val epoch {m['best_epoch']}); "
          f"clipped {m['clipped_updates']}/{m['updates']} updates; wrote {m['out']}")
    return 0


def _save(args) -> int:
    import rnnx
    from rnnx.cli.app import AppError
    from rnnx.interop import from_torch

    try:
        import torch
    except ImportError:
        raise AppError("save: --from-torch needs torch; install it with: pip install 'rnnx[torch]'") from None
    if not os.path.isfile(args.from_torch):
        raise AppError(f"--from-torch: {args.from_torch!r} does not exist")
    try:
        obj = torch.load(args.from_torch, map_location="cpu", weights_only=True)
    except Exception as e:
        raise AppError(f"--from-torch: {args.from_torch!r} is not a loadable torch file ({type(e).__name__}: {e})") from None
    if os.path.isdir(args.out):
        raise AppError(f"--out: {args.out!r} is a folder, expected a file name")
    layer, params = from_torch(obj, nonlinearity=args.nonlinearity)
    rnnx.save(args.out, layer, params)
    print(f"rnnx save: {layer!r} -> {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from rnnx.backends import malloc
    from rnnx.cli.app import AppError

    malloc.tune()  # CPU loops: keep freed large blocks instead of re-faulting them every call

    try:
        if args.command == "train":
            return _train(args)
        if args.command in ("predict", "forecast"):
            from rnnx.cli import app

            cli = {"csv": args.csv, "column": args.column, "out": args.out, "backend": args.backend,
                   "device": args.device}
            r = app.predict(args.model, cli) if args.command == "predict" else app.forecast(args.model, cli, args.steps)
            print(json.dumps(r))
            return 0
        if args.command == "parity":
            from rnnx.cli import parity

            cells = tuple(c.strip() for c in args.cells.split(",") if c.strip())
            unknown = [c for c in cells if c not in parity.CELLS]
            if unknown:
                raise AppError(f"--cells: unknown {unknown}; expected some of {', '.join(parity.CELLS)}")
            return parity.main(backend=args.backend, namespaces=args.namespace, json_path=args.json, cells=cells)
        if args.command == "bench":
            from rnnx.cli import bench

            return bench.main(cells=[c.strip() for c in args.cells.split(",") if c.strip()], sizes=args.sizes,
                              backend=args.backend, repeat=args.repeat, warmup=args.warmup, dtype=args.dtype,
                              json_path=args.json, plot_path=args.plot, anchors=not args.no_anchors,
                              checkpoint=args.checkpoint, settle=args.settle, min_round_ms=args.min_round_ms,
                              rewarm_ms=args.rewarm_ms)
        if args.command == "save":
            return _save(args)
        if args.command == "load":
            import rnnx

            obj, params = rnnx.load(args.file)
            print(f"{args.file}: {obj!r}" if not hasattr(obj, "layer") else f"{args.file}: {obj.layer!r} + head")
            for k, v in params.items():
                print(f"  {k:<24}{str(tuple(v.shape)):<14}{v.dtype}")
            return 0
        if args.command == "demo":
            from rnnx import backends
            from rnnx.cli import demo

            if args.backends is not None:
                os.environ["RNNX_BACKENDS"] = args.backends
            backends.selected()  # validate the selection before any work
            return demo.main()
        if args.command == "backends":
            from rnnx import backends

            for t in backends.targets():
                reason = t.unavailable()
                print(f"{t.id:<26}" + ("available" if reason is None else f"unavailable: {reason}"))
            return 0
    except AppError as e:
        print(f"rnnx {args.command}: error: {e}", file=sys.stderr)
        return e.code
    except (ValueError, TypeError) as e:
        print(f"rnnx {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rnnx {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug: still one line, the traceback on request
        if os.environ.get("RNNX_DEBUG"):
            raise
        print(f"rnnx {args.command}: internal error: {type(e).__name__}: {e} (RNNX_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
