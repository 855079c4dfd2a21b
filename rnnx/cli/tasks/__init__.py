"""The tasks of ``rnnx train``: each its flags' meaning, data source and outputs, and nothing
of the others (a task module imports no other task's: tests/test_cli_layout.py).

- :mod:`~rnnx.cli.tasks.regression`: windows of a series or table (``--preset``, ``--csv``),
  and ``predict`` / ``forecast`` / ``save`` on such a run;
- :mod:`~rnnx.cli.tasks.classification` (with ``classification_resume`` and
  ``classification_predict``): labelled panels (``--npz``, ``--ts``, ``--uea``);
- :mod:`~rnnx.cli.tasks.text`: a character model (``--text``), which ``rnnx sample`` reads;
- :mod:`~rnnx.cli.tasks.forecasting`: an :class:`rnnx.Forecaster` of one column (``--forecast H``),
  and ``forecast`` on such a run.

:data:`REGISTRY` is how ``rnnx train`` finds them (:func:`chosen`): each module has ``TASK``
(its name in :mod:`rnnx.cli.table`), ``wants(args)`` (its data flag was given),
``holds_run(folder)`` (a run folder of its own), ``start_run(args)`` and ``resume_run(args)``
(each returns the exit status).  Adding a task: its module, its line here and its flags' rows
in the table.  What they share is elsewhere: the flags, defaults and refusals
(:mod:`rnnx.cli.table`), the run-folder transaction and the stop/error path
(:mod:`rnnx.cli.run`), the lock (:mod:`rnnx.cli.runfolder`).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

#: Task name -> its module, in the order ``rnnx train`` asks them (the last one: the default).
REGISTRY = {"forecasting": "rnnx.cli.tasks.forecasting", "classification": "rnnx.cli.tasks.classification",
            "text": "rnnx.cli.tasks.text", "regression": "rnnx.cli.tasks.regression"}


def task(name: str) -> ModuleType:
    """The module of task ``name`` (imported on first use)."""
    return importlib.import_module(REGISTRY[name])


def chosen(args: Any) -> tuple[ModuleType, bool]:
    """(the task module, whether it resumes) for a parsed ``rnnx train`` command line: the
    first task whose data flag is given starts a new run (and refuses ``--resume``); else
    ``--resume DIR`` resumes the run of the first task that holds it; else the last task."""
    mods = [task(n) for n in REGISTRY]
    new = next((m for m in mods[:-1] if m.wants(args)), None)
    if new is not None or args.resume is None:
        return new or mods[-1], False
    return next((m for m in mods if m.holds_run(args.resume)), mods[-1]), True
