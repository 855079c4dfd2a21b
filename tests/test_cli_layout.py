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
              "text": ["text.py"]}
#: The former names of the task modules (rnnx/cli/app.py ...: the same module objects).
FORMER = {"app": "regression", "panel_app": "classification", "panel_resume": "classification_resume",
          "panel_predict": "classification_predict", "text_app": "text"}
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
    """``rnnx.cli.tasks.text`` -> ``text``, ``rnnx.cli.app.x`` -> ``regression`` (its former name)."""
    parts = dotted.split(".")[2:]
    name = parts[1] if parts[0] == "tasks" and len(parts) > 1 else parts[0]
    return FORMER.get(name, name)


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


def test_the_former_names_are_the_task_modules():
    """``rnnx.cli.app`` and the other former names are the tasks' module objects (a patch of
    one is a patch of the other)."""
    import importlib

    for old, new in FORMER.items():
        assert importlib.import_module(f"rnnx.cli.{old}") is importlib.import_module(f"rnnx.cli.tasks.{new}"), old
