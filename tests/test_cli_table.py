"""One settings table for ``rnnx train`` (issue 30, item 1): rnnx/cli/table.py's rows generate
the parser (grouped by task and topic, each default shown per task) and say which flags each
task reads; a flag given to a task that does not read it is refused, one line naming it."""

from __future__ import annotations

import argparse
import re

import pytest

from rnnx.cli import main
from rnnx.training.defaults import CLASSIFICATION, REGRESSION, TEXT


def _help(capsys, command="train") -> str:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    return capsys.readouterr().out


def _flag_help(text: str, flag: str) -> str:
    """The help of ``flag`` in ``rnnx train --help``, on one line."""
    m = re.search(rf"^  {re.escape(flag)}(?= [A-Z{{]| {{2}}|\n).*?(?=^  --|^\S|\Z)", text, flags=re.M | re.S)
    assert m, flag
    return " ".join(m.group(0).split())


@pytest.mark.parametrize("flag,field", [("--hidden", "hidden"), ("--epochs", "epochs"), ("--cell", "cell"),
                                        ("--optimizer", "optimizer")])
def test_train_help_shows_each_tasks_default(capsys, flag, field):
    """Every default of the defaults table is in the flag's help, per task (before, only the
    classification group's description had some, and no regression default was shown)."""
    h = _flag_help(_help(capsys), flag)
    first = getattr(REGRESSION, field)
    assert f"default {first}" in h, h
    for task, row in (("classification", CLASSIFICATION), ("text", TEXT)):
        v = getattr(row, field)
        assert (f"{task} {v}" in h) == (v != first), h


def test_train_help_groups_flags_by_task_and_topic(capsys):
    """No flag of ``train`` is left in argparse's catch-all group: each is in its task's data
    group or a topic's (the model, the training, where it runs, the run folder)."""
    text = _help(capsys)
    groups = dict(re.findall(r"^(\S[^\n]*):\n(.*?)(?=^\S|\Z)", text, flags=re.M | re.S))
    assert re.findall(r"^  (?:-\w, )?(--[\w-]+)", groups["options"], flags=re.M) == ["--help"]
    for title in ("the model", "the training", "where it runs", "the run folder"):
        assert title in groups, sorted(groups)
    assert "--min-epochs" in groups["the training"] and "[classification]" in _flag_help(text, "--min-epochs")


def test_every_flag_of_train_is_a_row_of_the_table():
    from rnnx.cli import table
    from rnnx.cli.commands import train

    p = argparse.ArgumentParser()
    train.add_arguments(p)
    assert {a.dest for a in p._actions} - {"help"} == set(table.FLAGS)
    for name, row in table.FLAGS.items():
        assert row.tasks and set(row.tasks) <= set(table.TASKS), name
        assert row.topic == "data" or row.topic in table.TOPICS, name


def _argv(row) -> list[str]:
    """The flag of ``row`` with a value argparse accepts."""
    from rnnx.cli.commands import floats, ints, names

    flag, a = "--" + row.name.replace("_", "-"), row.arg
    if a.get("action") is not None or a.get("nargs") == "?":
        return [flag]
    if "choices" in a:
        return [flag, str(a["choices"][-1])]
    value = {int: "2", float: "0.5", floats: "0.5,0.25,0.25", ints: "2,3", names: "a"}.get(a.get("type"), "0.5")
    return [flag, value]


def _refused(task: str) -> list:
    from rnnx.cli import table

    return [r for n, r in table.FLAGS.items() if r.topic != "data" and n not in table.used(task)
            and n not in table.RESUME_ONLY]


@pytest.mark.parametrize("task,source", [("text", ["--text", "missing.txt"]), ("classification", ["--npz", "missing.npz"]),
                                         ("regression", ["--preset", "seed001"])])
def test_a_flag_the_table_does_not_give_a_task_is_refused_naming_it(capsys, tmp_path, monkeypatch, task, source):
    """The table's ``tasks`` is what the task reads: each other flag (of a topic, not another
    task's data) given to it exits 2 with one line that starts with the flag, and writes nothing."""
    monkeypatch.chdir(tmp_path)
    rows = _refused(task)
    assert rows or task == "regression"
    for row in rows:
        argv = ["train", *source, *_argv(row), "--out", "out"]
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and err.startswith(f"rnnx train: error: --{row.name.replace('_', '-')}"), (argv, err)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flag,value", [("--hidden", "0"), ("--layers", "0"), ("--epochs", "0"), ("--lr", "-1"),
                                        ("--lr", "nan"), ("--clip-value", "0")])
def test_every_task_refuses_a_bad_value_in_the_same_words(capsys, tmp_path, monkeypatch, flag, value):
    """A value is checked once, by the table's kind for its flag (rnnx.cli.table.check): the
    same line from each task (before, --hidden 0 was 'a positive int' for a regression run
    and 'a positive integer' for the others; --lr -1 'a finite learning rate > 0' and 'a
    finite number > 0')."""
    monkeypatch.chdir(tmp_path)
    lines = {}
    for task, source in (("regression", ["--preset", "seed001"]), ("classification", ["--npz", "missing.npz"]),
                         ("text", ["--text", "missing.txt"])):
        assert main(["train", *source, flag, value, "--out", "out"]) == 2, task
        lines[task] = capsys.readouterr().err.strip()
    assert len(set(lines.values())) == 1, lines
    assert lines["text"].startswith(f"rnnx train: error: {flag}: expected ") and "\n" not in lines["text"]
    assert not (tmp_path / "out").exists()


def test_diagnose_help_shows_only_what_a_diagnose_run_takes(capsys):
    """``diagnose --help`` showed every flag of ``train`` (--resume, --coordinator, --text,
    --npz...); now only a regression run's (what --compare trains) and its own."""
    text = _help(capsys, "diagnose")
    shown = set(re.findall(r"^  (--[\w-]+)", text, flags=re.M))
    for flag in ("--resume", "--allow-changed-data", "--coordinator", "--num-processes", "--text", "--npz", "--uea",
                 "--min-epochs", "--seq-len"):
        assert flag not in shown, flag
    assert {"--model", "--compare", "--preset", "--csv", "--hidden", "--probe-size", "--out"} <= shown


@pytest.mark.parametrize("argv", [["--compare", "clip", "--preset", "seed001", "--coordinator", "127.0.0.1:1"],
                                  ["--compare", "clip", "--preset", "seed001", "--num-processes", "2"],
                                  ["--model", "run", "--process-id", "0"]])
def test_diagnose_refuses_the_multi_process_flags(capsys, tmp_path, monkeypatch, argv):
    """``diagnose --compare ... --coordinator HOST:PORT`` ran its whole study in this process,
    the flag ignored (an option accepted that did nothing); now one line naming it, nothing
    written."""
    monkeypatch.chdir(tmp_path)
    from rnnx.cli import diagnose_app

    monkeypatch.setattr(diagnose_app, "compare", lambda *a, **k: pytest.fail("the study ran"))
    assert main(["diagnose", *argv, "--epochs", "1"] if "--compare" in argv else ["diagnose", *argv]) == 2
    err = capsys.readouterr().err.strip()
    flag = next(a for a in argv if a in ("--coordinator", "--num-processes", "--process-id"))
    assert err.startswith(f"rnnx diagnose: error: {flag}: ") and "\n" not in err, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("task,source,other", [("text", ["--text", "missing.txt"], "tbptt"),
                                               ("classification", ["--npz", "missing.npz"], "seq_len"),
                                               ("regression", ["--preset", "seed001"], "seq_len")])
def test_a_flag_another_task_reads_is_refused_in_the_tables_words(capsys, tmp_path, monkeypatch, task, source, other):
    """One refusal path (rnnx.cli.table.refuse_unused): a topic flag of another task is refused by
    every task in the same form, ``--flag: does not apply to <the run>; drop it`` (before, a
    series run said ``applies to a character model (--text FILE) only`` of --seq-len and of
    classification's flags alike)."""
    from rnnx.cli import table

    monkeypatch.chdir(tmp_path)
    assert task not in table.FLAGS[other].tasks
    argv = ["train", *source, *_argv(table.FLAGS[other]), "--out", "out"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    flag = "--" + other.replace("_", "-")
    assert err.startswith(f"rnnx train: error: {flag}: does not apply to {table.RUNS[task]}; drop it"), err


@pytest.mark.parametrize("task", ["regression", "classification", "text"])
def test_what_a_resumed_run_may_change_is_the_tables(task, tmp_path, monkeypatch):
    """The resume check of every task is rnnx.cli.table.refuse_changed over RESUMABLE: a flag the
    table lets a resumed run take passes, any other is named (one line, every such flag)."""
    from rnnx.cli import table
    from rnnx.cli.errors import AppError

    ns = argparse.Namespace(command="train", resume="r", out=None, quiet=True, hidden=None, lr=None, epochs=3,
                            max_updates=None, overwrite=False)
    table.refuse_changed(ns, task)  # --epochs extends every task's run
    ns.lr, ns.overwrite = 0.1, True
    with pytest.raises(AppError, match=r"^--resume: continues with the run's own settings \(only .*--epochs may "
                                       r"extend it\); drop --lr, --overwrite$"):
        table.refuse_changed(ns, task)
    monkeypatch.setitem(table.RESUMABLE, task, (*table.RESUMABLE[task], "lr", "overwrite"))
    table.refuse_changed(ns, task)


def test_every_task_refuses_through_the_table():
    """No task keeps its own list of the flags it reads or may resume with (USED, RESUME_FLAGS,
    REFUSED's 'does not apply' catch-all): each calls table.refuse_unused; rnnx train calls
    refuse_changed once, for every task's --resume."""
    import pathlib

    tasks = pathlib.Path(__file__).resolve().parents[1] / "rnnx" / "cli" / "tasks"
    for name in ("regression.py", "classification.py", "text.py"):
        src = (tasks / name).read_text()
        assert "table.refuse_unused(" in src, name
        assert "does not apply to" not in src and "RESUME_FLAGS" not in src and "USED =" not in src, name
    assert "table.refuse_changed(" in (tasks.parent / "commands" / "train.py").read_text()
    assert not any("refuse_changed(" in p.read_text() for p in tasks.glob("*.py"))
