"""``--diagnostics`` in a run folder, for regression (rnnx/cli/tasks/regression.py) and classification
(rnnx/cli/tasks/classification.py) runs alike: the Recorder of the run's settings, its file
``diagnostics.json`` (written before every checkpoint, so ``--resume`` finds at least the
checkpoint's epochs), and at the end the figure and the headline numbers."""

from __future__ import annotations

import os
from typing import Any

from rnnx.cli.errors import AppError

FILE = "diagnostics.json"
FIGURE = "diagnostics.png"


def check(what: Any, probe_size: Any, cell: str, *, tbptt: Any = None, probe_given: bool = False) -> None:
    """``--diagnostics WHAT`` names of rnnx.diagnostics.recorder.WHAT (or all) the cell has, not with
    --tbptt; ``--probe-size`` a positive integer, given only with --diagnostics (AppError
    naming the flag)."""
    from rnnx.diagnostics import recorder

    if what is None:
        if probe_given:
            raise AppError("--probe-size: applies with --diagnostics only (the batch its profiles are measured on)")
        return

    if isinstance(probe_size, bool) or not isinstance(probe_size, int) or probe_size < 1:
        raise AppError(f"--probe-size: expected a positive integer, got {probe_size!r}")
    if tbptt is not None:
        raise AppError("--diagnostics: not recorded with --tbptt (its updates are per window of a batch); drop one "
                       "of them")
    try:
        recorder.check_what(None if tuple(what) == ("all",) else what, cell)
    except ValueError as e:
        raise AppError("--" + str(e).replace("diagnostics: expected names from",
                                             "diagnostics: expected all or names from")) from None


def recorder_for(what: Any, probe_size: int, seed: int) -> Any:
    """The Recorder of a run (None when ``what`` is None: no --diagnostics)."""
    if what is None:
        return None
    from rnnx.diagnostics import recorder

    return recorder.Recorder(None if tuple(what) == ("all",) else tuple(what), probe_size=probe_size, seed=seed)


def probe_error(e: ValueError, windows: str) -> AppError:
    """The Recorder's probe-size refusal in the CLI's words."""
    text = str(e).replace("probe_size", "probe-size", 1).replace("sequences of the training data", windows)
    return AppError(f"--{text}")


def load(rec: Any, out: str) -> None:
    """A resumed run continues its records (``--resume``); a missing or foreign file is refused."""
    try:
        rec.load(os.path.join(out, FILE), nofollow=True)  # a run's file: never through a link
    except ValueError as e:
        raise AppError(f"--resume: {e}; the run records --diagnostics, so its diagnostics file must be there "
                       "(restore it, or start a new run)") from None


def read(out: str) -> dict | None:
    """The run's diagnostics.json in folder ``out`` (never through a link), or None where there
    is none; ValueError for a file that is not one."""
    import json

    from rnnx.io.inputs import open_regular

    path = os.path.join(out, FILE)
    if not os.path.lexists(path):
        return None
    with open_regular(path, nofollow=True) as f:
        d = json.loads(f.read().decode("utf-8"))
    if not isinstance(d, dict):
        raise ValueError(f"{path}: not a diagnostics file")
    return d


def save(rec: Any, out: str) -> None:
    if rec is not None:
        rec.save(os.path.join(out, FILE))


def finish(rec: Any, out: str, title: str, metrics: dict) -> dict:
    """diagnostics.json, diagnostics.png (``title``, the probe batch's size), and the headline
    numbers into ``metrics`` (``diagnostics``); returns the records written."""
    from rnnx.diagnostics import plots, recorder

    rec.save(os.path.join(out, FILE))
    d = rec.to_json()
    metrics["diagnostics"] = recorder.summary(d)
    plots.diagnostics(d, os.path.join(out, FIGURE), f"{title}, probe batch {d['probe_size']}")
    return d
