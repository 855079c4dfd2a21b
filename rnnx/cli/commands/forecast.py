"""``rnnx forecast --model DIR``: an autoregressive multi-step forecast from the end of the
series (each prediction fed back); prints a JSON summary."""

from __future__ import annotations

import argparse
import json

from rnnx.cli.commands import columns_of, run_folder_arguments


def add_arguments(p: argparse.ArgumentParser) -> None:
    run_folder_arguments(p, "forecast.csv")
    p.add_argument("--steps", type=int, default=50, help="steps to forecast (default 50)")


def run(args: argparse.Namespace) -> int:
    import os

    from rnnx.cli import signals
    from rnnx.cli.tasks import regression as app

    out = args.out or os.path.join(args.model, "forecast.csv")
    # SIGINT/SIGTERM/SIGHUP: one line, exit 128 + N, saying which of the CSV and its plot were written (whole)
    with signals.stopping(outputs=[out, os.path.splitext(out)[0] + ".png"]):
        r = app.forecast(args.model, args.steps, csv=args.csv, columns=columns_of(args), out=args.out, backend=args.backend, overwrite=args.overwrite,
                         device=args.device)
    print(json.dumps(r))
    return 0
