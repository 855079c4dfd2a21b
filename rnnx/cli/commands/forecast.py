"""``rnnx forecast --model DIR``: an autoregressive multi-step forecast from the end of the
series (each prediction fed back); of a forecasting run (``rnnx train --forecast H``), its
forecaster's next steps and their intervals.  Prints a JSON summary."""

from __future__ import annotations

import argparse
import json

from rnnx.cli.commands import columns_of, run_folder_arguments


def add_arguments(p: argparse.ArgumentParser) -> None:
    run_folder_arguments(p, "forecast.csv")
    p.add_argument("--steps", type=int, help="steps to forecast (default 50; a forecasting run: its --forecast H, "
                   "at most H)")


def run(args: argparse.Namespace) -> int:
    import os
    import sys

    from rnnx.cli import signals
    from rnnx.cli.errors import AppError
    from rnnx.cli.tasks import forecasting
    from rnnx.cli.tasks import regression as app

    out = args.out or os.path.join(args.model, "forecast.csv")
    # SIGINT/SIGTERM/SIGHUP: one line, exit 128 + N, saying which of the CSV and its plot were written (whole)
    with signals.stopping(outputs=[out, os.path.splitext(out)[0] + ".png"]):
        if forecasting.holds_run(args.model):  # a forecasting run: from the end of its own series only
            given = next((k for k in ("csv", "column", "targets", "inputs", "time_column", "missing")
                          if getattr(args, k) is not None), None)
            if given is not None:
                raise AppError(f"--{given.replace('_', '-')}: a forecasting run forecasts from the end of its own "
                               "series; drop it")
            r = forecasting.forecast(args.model, args.steps, out=args.out, backend=args.backend, device=args.device,
                                     overwrite=args.overwrite)
        else:
            steps = 50 if args.steps is None else args.steps
            r = app.forecast(args.model, steps, csv=args.csv, columns=columns_of(args), out=args.out,
                             backend=args.backend, overwrite=args.overwrite, device=args.device)
            print(f"rnnx forecast: note: a one-step model fed its own predictions {steps} times; for a model of the "
                  f"{steps} steps at once, its preprocessing chosen on validation and prediction intervals: rnnx "
                  f"train --csv FILE --targets COLUMN --time-column DATE --forecast {steps} (docs/forecasting.md)",
                  file=sys.stderr)
    print(json.dumps(r))
    return 0
