"""What a series (regression) run's folder holds that other parts of the CLI read without
importing the regression task: its model from its settings (:func:`model_for`; bounds.py
sizes it before any array is made) and its checkpoint's record (:func:`checkpoint_record`;
partial.py, ``diagnose``).  Tasks never import each other, and the shared parts
(run, partial, bounds) import no task: tests/test_cli_layout.py."""

from __future__ import annotations

from typing import Any

__all__ = ["RUN_KIND", "checkpoint_record", "model_for"]

#: ``run.kind`` of a series run's checkpoint (``fit-state`` version 2).
RUN_KIND = "rnnx-series-run"


def model_for(s: Any) -> Any:
    """The run's model (a :class:`rnnx.nn.model.Model`, no array allocated) from its
    :class:`~rnnx.cli.settings.TrainSettings`: one input per input column (1 for a series),
    one output per target."""
    from rnnx.cli import run

    return run.model_of(s, len(s.inputs or s.targets) if s.table else 1, len(s.targets) if s.table else 1,
                        output_activation=s.output_activation, objective=s.objective)


def checkpoint_record(meta: dict) -> dict:
    """A run folder's checkpoint record read as one flat dict: a ``fit-state`` file's ``run``
    record (a series run's TrainSettings under ``settings``, ``finished``, ``data``...) over its
    meta; an older ``checkpoint`` file's meta as it is."""
    run = meta.get("run") if meta.get("kind") == "fit-state" else None
    return {**meta, **run} if isinstance(run, dict) else meta
