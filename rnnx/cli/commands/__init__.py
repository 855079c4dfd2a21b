"""The commands of ``rnnx``, as pip's ``commands_dict``: name -> the module that holds its
parser and its run, and a one-line summary.

Help lists the commands in this order, and a command's module is imported only when that
command runs (``rnnx --help`` imports none of them).  Each module has
``add_arguments(parser)`` and ``run(args) -> int``; to add a command, write its module and
add a row here.  Below the table: argument types and groups that several commands share.
"""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType
from typing import Any, NamedTuple


class CommandInfo(NamedTuple):
    module: str
    summary: str


COMMANDS: dict[str, CommandInfo] = {
    "train": CommandInfo("rnnx.cli.commands.train", "train a model on a preset or a CSV series"),
    "predict": CommandInfo("rnnx.cli.commands.predict", "one-step predictions of a trained model"),
    "forecast": CommandInfo("rnnx.cli.commands.forecast",
                            "autoregressive multi-step forecast from the end of the series"),
    "sample": CommandInfo("rnnx.cli.commands.sample", "text drawn from a character model (rnnx train --text)"),
    "diagnose": CommandInfo("rnnx.cli.commands.diagnose",
                            "gradient flow and clipping diagnostics of a trained model, or a --compare study"),
    "parity": CommandInfo("rnnx.cli.commands.parity",
                          "forward + BPTT of every cell on every backend vs NumPy float64 and torch.nn"),
    "bench": CommandInfo("rnnx.cli.commands.bench", "time forward+backward against torch.nn and jax.grad, interleaved"),
    "save": CommandInfo("rnnx.cli.commands.save", "convert a PyTorch module/state dict file to an rnnx .npz"),
    "load": CommandInfo("rnnx.cli.commands.load", "check an rnnx .npz file and describe it"),
    "demo": CommandInfo("rnnx.cli.commands.demo", "the same LSTM forward + gradient on every available backend"),
    "backends": CommandInfo("rnnx.cli.commands.backends",
                            "list every backend/device target and why any is unavailable"),
}


def command_module(name: str) -> ModuleType:
    """The module of command ``name`` (imported now)."""
    return importlib.import_module(COMMANDS[name].module)


# -- shared by several commands ------------------------------------------------------------------
def typed(convert, expected: str, *, many: bool = True, ok=lambda v: True):
    """An argparse type: ``convert`` of the text (of each comma-separated part when ``many``)
    for which ``ok`` holds, else ``expected ..., got '...'``."""
    def parse(text: str):
        try:
            v = tuple(convert(v) for v in text.split(",")) if many else convert(text)
            if ok(v):
                return v
        except ValueError:
            pass
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return parse


floats = typed(float, "comma-separated numbers")
ints = typed(int, "comma-separated integers")
number = typed(float, "a number", many=False)
#: Comma-separated column names (spaces around each stripped), none empty.
names = typed(str.strip, "comma-separated column names", ok=all)


def names_in(allowed) -> Any:
    """An argparse type: comma-separated names (empty parts dropped), each one of ``allowed``."""
    def parse(text: str) -> tuple[str, ...]:
        got = tuple(c.strip() for c in text.split(",") if c.strip())
        unknown = [c for c in got if c not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {unknown}; expected some of {', '.join(allowed)}")
        return got
    return parse


def check_backends(flag: str, spec: str | None) -> None:
    """A comma-separated list of backends or targets given as ``flag``: an unknown name is one
    line under that flag (the library names ``RNNX_BACKENDS``, where the list usually comes
    from)."""
    if spec is None:
        return
    from rnnx import backends
    from rnnx.cli.errors import AppError, under_flag

    try:
        backends.selected(spec)
    except ValueError as e:
        raise AppError(under_flag(flag, str(e), "RNNX_BACKENDS")) from None


def check_outputs(outputs: dict[str, str | None], *, overwrite: bool) -> None:
    """A command's output files (``{"--json": path}``; None: not given), before it runs: each a
    new file, or an existing one with ``overwrite``, never a file of a run folder, no two one file."""
    from rnnx.cli import runfolder

    given = [(flag, p) for flag, p in outputs.items() if p is not None]
    for flag, p in given:
        runfolder.check_output(flag, p, overwrite=overwrite)
    runfolder.check_distinct(given)


def backend_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", help="numpy | jax | torch | cupy | array-api-strict (default numpy)")
    p.add_argument("--device", help="the backend's device: cpu, cuda, gpu, device1 (default: its first)")


def data_arguments(p: argparse.ArgumentParser) -> None:
    """The data flags ``train`` took, for a command on its model: each given must be the
    model's (:func:`rnnx.cli.tasks.regression.check_columns`); :func:`columns_of` collects them."""
    p.add_argument("--column", help="the column of --csv (the same as --targets NAME)")
    p.add_argument("--targets", type=names, help="the model's target column(s), as given to train")
    p.add_argument("--inputs", type=names, help="the model's input columns, as given to train")
    p.add_argument("--time-column", help="the model's time column, as given to train")
    from rnnx.data.tables import MISSING_POLICIES

    p.add_argument("--missing", choices=MISSING_POLICIES,
                   help="blank/NA cells of a new --csv (default: as the run was trained)")


def columns_of(args: argparse.Namespace) -> dict:
    """The data flags of ``args`` (None: not given), ``--column NAME`` as ``targets``."""
    from rnnx.cli.errors import AppError

    if args.column is not None and args.targets is not None:
        raise AppError(f"--targets: give --column NAME or --targets NAMES, not both (got --column {args.column})")
    targets = (args.column,) if args.column is not None else args.targets
    return {"targets": targets, "inputs": args.inputs, "time_column": args.time_column, "missing": args.missing}


def run_folder_arguments(p: argparse.ArgumentParser, default_out: str) -> None:
    """``--model DIR`` and the series and output of ``predict`` / ``forecast`` (``predict``
    adds the new cases of a classification run: ``--npz``, ``--ts``)."""
    p.add_argument("--model", required=True, metavar="DIR", help="a run folder written by rnnx train")
    p.add_argument("--csv", help="a new series for a regression run (default: the run's own data)")
    data_arguments(p)
    p.add_argument("--out", help=f"CSV file to write (default DIR/{default_out}); never a file of the run")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    backend_arguments(p)
