"""``rnnx train`` as one application (issue 30, item 1): one run-folder transaction
(rnnx/cli/run.py) that every task goes through, and task modules that never import each other."""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
CLI = ROOT / "rnnx" / "cli"
TASKS = CLI / "tasks"
#: The modules of each task of ``rnnx train`` (what runs a new run, resumes it, predicts with it).
TASK_FILES = {"regression": ["regression.py"],
              "classification": ["classification.py", "classification_resume.py", "classification_predict.py"],
              "text": ["text.py"], "forecasting": ["forecasting.py"]}
#: The former names of the task modules (rnnx/cli/app.py ...), deleted: code imports the tasks' modules.
FORMER = ("app", "panel_app", "panel_resume", "panel_predict", "text_app")
#: The shared parts of the CLI that every task uses: none of them imports a task.
SHARED = ("run.py", "runfolder.py", "partial.py", "bounds.py", "settings.py", "table.py", "signals.py",
          "run_diagnostics.py", "errors.py", "runrecord.py")
#: The steps of the transaction, which only rnnx/cli/run.py takes.
TRANSACTION = {"make_folder", "start", "check_out"}


def _calls(path: pathlib.Path) -> list[tuple[int, str]]:
    """``(line, name)`` of every call ``runfolder.NAME(...)`` or ``NAME(...)`` of TRANSACTION."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "runfolder" \
                    and f.attr in TRANSACTION:
                out.append((node.lineno, f.attr))
    return out


def test_only_run_py_makes_starts_or_checks_a_run_folder():
    """Each task made, locked, checked and cleaned up its own folder (three copies of the
    transaction); now each calls rnnx.cli.run (new_run, continue_run, check_new)."""
    offenders = [f"{name}:{line} calls runfolder.{what}" for files in TASK_FILES.values() for name in files
                 for line, what in _calls(TASKS / name)]
    assert not offenders, offenders
    assert {what for _, what in _calls(CLI / "run.py")} == TRANSACTION


def _module(dotted: str) -> str:
    """``rnnx.cli.tasks.text`` -> ``text``, ``rnnx.cli.run`` -> ``run``."""
    parts = dotted.split(".")[2:]
    return parts[1] if parts[0] == "tasks" and len(parts) > 1 else parts[0]


def _cli_imports(path: pathlib.Path) -> set[str]:
    """The rnnx.cli modules ``path`` imports (any form, inside functions too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module in ("rnnx.cli", "rnnx.cli.tasks"):
                out |= {_module(f"{node.module}.{a.name}") for a in node.names}
            elif node.module.startswith("rnnx.cli."):
                out.add(_module(node.module))
        elif isinstance(node, ast.Import):
            out |= {_module(a.name) for a in node.names if a.name.startswith("rnnx.cli.")}
    return out


def test_tasks_never_import_each_other():
    """A task module imports the shared parts (run, runfolder, table, settings, signals, ...)
    and its own task's modules, never another task's."""
    owner = {name.removesuffix(".py"): task for task, files in TASK_FILES.items() for name in files}
    offenders = []
    for task, files in TASK_FILES.items():
        for name in files:
            for mod in sorted(_cli_imports(TASKS / name)):
                if owner.get(mod, task) != task:
                    offenders.append(f"{name} ({task}) imports {mod} ({owner[mod]})")
    assert not offenders, offenders


def test_the_former_names_are_gone():
    """``rnnx.cli.app``, ``panel_app``, ``panel_resume``, ``panel_predict``, ``text_app`` were
    7-line aliases of the tasks' modules; they are deleted (nothing in rnnx, tests, bench or docs
    imports them)."""
    assert not [name for name in FORMER if (CLI / f"{name}.py").exists()]


def test_the_shared_parts_import_no_task():
    """partial.py and bounds.py imported the regression task (checkpoint_record, model_for):
    what they share with it is in a module every part may import (rnnx/cli/runrecord.py)."""
    owner = {name.removesuffix(".py"): task for task, files in TASK_FILES.items() for name in files}
    offenders = [f"{name} imports {mod}" for name in SHARED if (CLI / name).exists()
                 for mod in sorted(_cli_imports(CLI / name)) if mod in owner or mod == "tasks"]
    assert not offenders, offenders


def test_train_picks_its_task_from_the_registry():
    """``rnnx train`` names no task module: it asks :data:`rnnx.cli.tasks.REGISTRY` (task name ->
    module with ``TASK``, ``wants``, ``holds_run``, ``start_run``, ``resume_run``), so a new task touches its
    own module, the registry's line and the table."""
    import importlib

    from rnnx.cli import table, tasks

    assert set(tasks.REGISTRY) == {"regression", "classification", "text", "forecasting"} == set(table.TASKS)
    for name in tasks.REGISTRY:
        mod = tasks.task(name)
        assert mod.TASK == name and all(callable(getattr(mod, f)) for f in ("wants", "holds_run", "start_run", "resume_run"))
    imported = _cli_imports(CLI / "commands" / "train.py")
    assert not imported & {n.removesuffix(".py") for files in TASK_FILES.values() for n in files}, imported
    assert importlib.import_module("rnnx.cli.tasks").REGISTRY is tasks.REGISTRY
