"""The one stop/error path of ``rnnx train`` (rnnx/cli/run.py, :func:`rnnx.cli.run.training`):
every task's training call goes through it, so a signal, a diverged loss and a disk error end
every task's run with the same one line, naming what the task keeps (an epoch, an update)."""

from __future__ import annotations

import errno
import os
import signal

import pytest

from rnnx.cli import run
from rnnx.cli.errors import AppError


class _State:
    epoch, updates = 4, 12


def _stopped(kind):
    from rnnx import text
    from rnnx.training import state

    return (state.Stopped if kind == "engine" else text.Stopped)(_State())


def _signal_then(exc_factory, tmp_path, unit):
    with pytest.raises(AppError) as e:
        with run.training(str(tmp_path), unit=unit) as t:
            t.signals.pending = signal.SIGTERM  # a first signal arrived
            raise exc_factory()
    return e.value


@pytest.mark.parametrize("unit,kind,n", [("epoch", "engine", 4), ("update", "text", 12)])
def test_a_first_signal_is_one_line_naming_what_is_kept(tmp_path, unit, kind, n):
    err = _signal_then(lambda: _stopped(kind), tmp_path, unit)
    assert err.code == 128 + signal.SIGTERM and err.label is None
    assert str(err) == (f"stopped by SIGTERM; kept {unit} {n} in {tmp_path}/checkpoint.npz; continue with: "
                        f"rnnx train --resume {tmp_path}")


@pytest.mark.parametrize("unit", ["epoch", "update"])
def test_a_second_signal_before_any_checkpoint_keeps_nothing(tmp_path, unit):
    from rnnx.cli.signals import Forced

    with pytest.raises(AppError) as e:
        with run.training(str(tmp_path), unit=unit):
            raise Forced(signal.SIGINT)
    assert e.value.code == 128 + signal.SIGINT
    assert str(e.value) == "stopped by SIGINT before the first checkpoint; nothing was kept; start the run again"


@pytest.mark.parametrize("unit", ["epoch", "update"])
def test_a_disk_error_names_the_file_once(tmp_path, unit):
    path = os.path.join(tmp_path, "checkpoint.npz")
    with pytest.raises(AppError) as e:
        with run.training(str(tmp_path), unit=unit):
            raise OSError(errno.ENOSPC, "No space left on device", path)
    assert e.value.code == 1
    assert str(e.value) == (f"{path!r}: No space left on device (ENOSPC); no checkpoint was written; free space or "
                            "fix permissions, then start the run again")


@pytest.mark.parametrize("unit", ["epoch", "update"])
def test_a_diverged_loss_is_exit_3_with_the_tasks_hint_and_files(tmp_path, unit):
    from rnnx.training.state import NonFiniteLoss

    with pytest.raises(AppError) as e:
        with run.training(str(tmp_path), unit=unit, hint="try a lower --lr", diverged=lambda e: ["history.csv"]):
            raise NonFiniteLoss(3, float("nan"))
    assert e.value.code == 3
    assert str(e.value) == ("train: the loss became nan at epoch 3; stopped, no checkpoint had been written yet; "
                            "history.csv show the run up to it; try a lower --lr")


def test_no_task_catches_a_stop_or_a_disk_error_itself():
    """Each task had its own copy of the signal / non-finite / OSError handlers; now only
    rnnx/cli/run.py holds them (a task names none of Signals, Forced, Stopped, NonFiniteLoss,
    writing_results)."""
    import ast
    import pathlib

    names = {"Signals", "Forced", "Stopped", "NonFiniteLoss", "writing_results"}
    tasks = pathlib.Path(run.__file__).parent / "tasks"
    offenders = []
    for path in sorted(tasks.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            got = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else \
                node.name if isinstance(node, ast.alias) else None
            if got in names:
                offenders.append(f"{path.name}:{node.lineno} {got}")
    assert not offenders, offenders
