"""Nothing inside a run folder is read through a symbolic link (rnnx never writes a run's
file as one), and a run's file that is not a regular file is named as such (issue 27).

Each of a regression, a classification and a text run's files that a command reads is
replaced by a link to a copy outside the run: ``train --resume``, ``predict``,
``forecast``, ``diagnose --model`` and ``sample --model`` refuse it in one line naming the
file, and nothing changes (the run, the link, its target).  A FIFO where the checkpoint is
is said to be one, not "holds no checkpoint.npz".
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from test_run_folder_files import one_line, rnnx_run, snapshot

from rnnx.cli import main


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Finished runs of each kind, each with the files its commands read."""
    d = tmp_path_factory.mktemp("runs")
    rng = np.random.default_rng(0)
    np.savez(d / "p.npz", x=rng.standard_normal((30, 10)), y=np.arange(30) % 2)
    (d / "t.txt").write_text("the quick brown fox jumps over the lazy dog. " * 40, encoding="utf-8")
    assert main(["train", "--preset", "seed001", "--epochs", "2", "--diagnostics", "--quiet",
                 "--out", str(d / "regression")]) == 0
    assert main(["train", "--npz", str(d / "p.npz"), "--epochs", "1", "--hidden", "4", "--diagnostics", "--probe-size", "8", "--quiet",
                 "--out", str(d / "classification")]) == 0
    assert main(["train", "--text", str(d / "t.txt"), "--max-updates", "3", "--hidden", "8", "--quiet",
                 "--out", str(d / "text")]) == 0
    return d


RESUME = {"regression": ["--epochs", "3"], "classification": ["--epochs", "2"], "text": ["--max-updates", "6"]}
READS = [  # (run kind, the file, the command reading it)
    *[("regression", "checkpoint.npz", c) for c in ("resume",)],
    *[("regression", "diagnostics.json", c) for c in ("resume",)],
    *[("regression", "model.npz", c) for c in ("predict", "forecast", "diagnose")],
    *[("classification", "classes.json", c) for c in ("resume", "predict", "diagnose")],
    *[("classification", "checkpoint.npz", c) for c in ("resume",)],
    *[("classification", "diagnostics.json", c) for c in ("resume",)],
    *[("classification", "model.npz", c) for c in ("predict", "diagnose")],
    *[("text", "checkpoint.npz", c) for c in ("resume",)],
    *[("text", "text.json", c) for c in ("sample",)],
    *[("text", "model.npz", c) for c in ("sample",)],
]


def _argv(kind: str, command: str, folder) -> list[str]:
    if command == "resume":
        return ["train", "--resume", str(folder), *RESUME[kind], "--quiet"]
    probe = ["--probe-size", "8"] if (kind, command) == ("classification", "diagnose") else []  # 22 cases
    return [command, "--model", str(folder), *probe]


@pytest.mark.parametrize("kind,name,command", READS, ids=[f"{k}-{n}-{c}" for k, n, c in READS])
def test_a_run_file_that_is_a_link_is_refused(capsys, tmp_path, runs, kind, name, command):
    run = tmp_path / "run"
    shutil.copytree(runs / kind, run)
    (tmp_path / "elsewhere").mkdir()
    target = tmp_path / "elsewhere" / name
    shutil.copy2(run / name, target)
    os.unlink(run / name)
    os.symlink(target, run / name)
    before = snapshot(tmp_path)
    capsys.readouterr()
    code = main(_argv(kind, command, run))
    line = one_line(capsys.readouterr().err)
    assert code in (1, 2), line
    assert f"{str(run / name)!r} is a symbolic link" in line, line
    assert snapshot(tmp_path) == before


FIFOS = [("regression", "checkpoint.npz"), ("classification", "checkpoint.npz"), ("text", "checkpoint.npz"),
         ("classification", "classes.json")]


@pytest.mark.parametrize("kind,name", FIFOS, ids=[f"{k}-{n}" for k, n in FIFOS])
def test_resume_names_a_run_file_that_is_a_fifo(tmp_path, runs, kind, name):
    """A FIFO is said to be one (not "holds no checkpoint.npz"), without waiting for a writer."""
    run = tmp_path / "run"
    shutil.copytree(runs / kind, run)
    os.unlink(run / name)
    os.mkfifo(run / name)
    before = snapshot(tmp_path)
    p = rnnx_run(*_argv(kind, "resume", run), cwd=tmp_path)  # a reader of the FIFO would hang: the timeout fails it
    line = one_line(p.stderr)
    assert p.returncode in (1, 2), line
    assert f"{str(run / name)!r} is a FIFO (named pipe), expected a regular file" in line, line
    assert snapshot(tmp_path) == before
