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
    from rnnx.cli.tasks import regression as app

    # SIGINT/SIGTERM/SIGHUP: one line, exit 128 + N; the CSV is written whole or not at all
    with signals.stopping(outputs=[args.out or os.path.join(args.model, "predictions.csv")]):
        if panel_app.holds_run(args.model):
            r = panel_predict.predict_panel(args.model, npz=args.npz, ts=args.ts, csv=args.csv, columns=columns_of(args),
                                            out=args.out, backend=args.backend, device=args.device,
                                            overwrite=args.overwrite)
        else:
            for flag in ("npz", "ts"):
                if getattr(args, flag) is not None:
                    raise AppError(f"--{flag}: applies to a classification run (a folder holding "
                                   f"{panel_app.CLASSES_FILE}), not {args.model!r}; a regression run predicts on its "
                                   "own data or on --csv FILE --column NAME")
            r = app.predict(args.model, csv=args.csv, columns=columns_of(args), out=args.out, backend=args.backend,
                            overwrite=args.overwrite, device=args.device)
    print(json.dumps(r))
    return 0
