"""``rnnx predict --model DIR``: one-step predictions of a trained model on its test part or
on a new series; for a classification run (rnnx.cli.tasks.classification), the class probabilities of
its test cases or of new ones (``--npz``, ``--ts``).  Prints a JSON summary."""

from __future__ import annotations

import argparse
import json

from rnnx.cli.commands import columns_of, run_folder_arguments
from rnnx.cli.errors import AppError


def add_arguments(p: argparse.ArgumentParser) -> None:
    run_folder_arguments(p, "predictions.csv")
    p.add_argument("--npz", metavar="FILE", help="new cases for a classification run: x (N, T, I) or (N, T), optional "
                   "y labels (N,) or (N, T) (then the accuracy), optional lengths (default: the run's own test cases)")
    p.add_argument("--ts", metavar="FILE", help="new cases for a classification run, a UEA/UCR .ts file "
                   "(@classLabel true or false)")


def run(args: argparse.Namespace) -> int:
    import os

    from rnnx.cli import signals
    from rnnx.cli.tasks import classification as panel_app
    from rnnx.cli.tasks import classification_predict as panel_predict
    from rnnx.cli.tasks import forecasting
    from rnnx.cli.tasks import regression as app

    if forecasting.holds_run(args.model):
        raise AppError(f"--model: {args.model!r} holds a forecasting run ({forecasting.FORECASTER}), which predicts "
                       f"only its future: use rnnx forecast --model {args.model}")
    # SIGINT/SIGTERM/SIGHUP: one line, exit 128 + N; the CSV is written whole or not at all
    with signals.stopping(outputs=[args.out or os.path.join(args.model, "predictions.csv")]):
        panel, columns = panel_app.holds_run(args.model), columns_of(args)
        other = (("csv", args.csv), *columns.items()) if panel else (("npz", args.npz), ("ts", args.ts))
        for key, v in other:  # the data flags of the other kind of run: refused
            if v is not None:
                raise AppError(f"--{key.replace('_', '-')}: " + (
                    f"{args.model!r} holds a classification run ({panel_app.CLASSES_FILE}); give new cases with "
                    "--npz FILE or --ts FILE, or neither for the run's own test cases" if panel else
                    f"applies to a classification run (a folder holding {panel_app.CLASSES_FILE}), not "
                    f"{args.model!r}; a regression run predicts on its own data or on --csv FILE --column NAME"))
        how = dict(out=args.out, backend=args.backend, device=args.device, overwrite=args.overwrite)
        r = panel_predict.predict_panel(args.model, npz=args.npz, ts=args.ts, **how) if panel else \
            app.predict(args.model, csv=args.csv, columns=columns, **how)
    print(json.dumps(r))
    return 0
