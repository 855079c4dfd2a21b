"""``rnnx train`` as one application (issue 30, item 1): one run-folder transaction
(rnnx/cli/run.py) that every task goes through, and task modules that never import each other."""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
CLI = ROOT / "rnnx" / "cli"
#: The modules of each task of ``rnnx train`` (what runs a new run, resumes it, predicts with it).
TASK_FILES = {"regression": ["app.py"], "classification": ["panel_app.py", "panel_resume.py", "panel_predict.py"],
              "text": ["text_app.py"]}
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
                 for line, what in _calls(CLI / name)]
    assert not offenders, offenders
    assert {what for _, what in _calls(CLI / "run.py")} == TRANSACTION


def _cli_imports(path: pathlib.Path) -> set[str]:
    """The rnnx.cli modules ``path`` imports (any form, inside functions too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "rnnx.cli":
                out |= {a.name for a in node.names}
            elif node.module.startswith("rnnx.cli."):
                out.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[2] for a in node.names if a.name.startswith("rnnx.cli.")}
    return out


def test_tasks_never_import_each_other():
    """A task module imports the shared parts (run, runfolder, table, settings, signals, ...)
    and its own task's modules, never another task's."""
    owner = {name.removesuffix(".py"): task for task, files in TASK_FILES.items() for name in files}
    offenders = []
    for task, files in TASK_FILES.items():
        for name in files:
            for mod in sorted(_cli_imports(CLI / name)):
                if owner.get(mod, task) != task:
                    offenders.append(f"{name} ({task}) imports {mod} ({owner[mod]})")
    assert not offenders, offenders
