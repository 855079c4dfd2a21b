"""``rnnx predict --model DIR``: one-step predictions of a trained model on its test part or
on a new series; prints a JSON summary."""

from __future__ import annotations

import argparse
import json

from rnnx.cli.commands import run_folder_arguments


def add_arguments(p: argparse.ArgumentParser) -> None:
    run_folder_arguments(p, "predictions.csv")


def run(args: argparse.Namespace) -> int:
    from rnnx.cli import app

    r = app.predict(args.model, csv=args.csv, column=args.column, out=args.out, backend=args.backend, overwrite=args.overwrite,
                    device=args.device)
    print(json.dumps(r))
    return 0
