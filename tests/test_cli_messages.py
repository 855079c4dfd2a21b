"""Messages that must tell the truth (issue 27, item 12): a run that fails for a full disk
before its first checkpoint does not advise ``--resume`` of a folder it removed; ``predict``
describes a model that does not fit its run in words, not as ``<rnnx.nn.model.Model object at
0x...>``; a ``text.json`` edited by hand is blamed, not ``--prime``."""

from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest

import rnnx
from rnnx.cli import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def no_space(path, *args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", str(path))


def test_a_full_disk_before_the_first_checkpoint_does_not_advise_resume(capsys, tmp_path, monkeypatch):
    from rnnx.cli.tasks import regression as app

    monkeypatch.setattr(app, "save_checkpoint", lambda out, *a, **k: no_space(os.path.join(out, "checkpoint.npz")))
    out = tmp_path / "r"
    code, _, err = run(capsys, "train", "--preset", "seed001", "--epochs", "2", "--quiet", "--out", out)
    assert code == 1 and err.count("\n") == 1 and not out.exists()
    assert "--resume" not in err
    assert err == (f"rnnx train: error: {str(out / 'checkpoint.npz')!r}: No space left on device (ENOSPC); no "
                   "checkpoint was written; free space or fix permissions, then start the run again\n")


def test_a_full_disk_before_the_first_checkpoint_of_a_classification_run(capsys, tmp_path, monkeypatch):
    from rnnx.training import state

    monkeypatch.setattr(state, "save_state", no_space)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "f.npz", x=rng.standard_normal((20, 8, 1)), y=np.arange(20) % 2)
    out = tmp_path / "r"
    code, _, err = run(capsys, "train", "--npz", tmp_path / "f.npz", "--epochs", "2", "--hidden", "4", "--quiet",
                       "--out", out)
    assert code == 1 and not out.exists()
    assert err == (f"rnnx train: error: {str(out / 'checkpoint.npz')!r}: No space left on device (ENOSPC); no "
                   "checkpoint was written; free space or fix permissions, then start the run again\n")


def test_predict_describes_a_model_that_does_not_fit_its_run(capsys, tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "f.npz", x=rng.standard_normal((30, 8, 1)), y=np.arange(30) % 3)
    out = tmp_path / "r"
    assert run(capsys, "train", "--npz", tmp_path / "f.npz", "--epochs", "1", "--hidden", "4", "--quiet",
               "--out", out)[0] == 0
    other = rnnx.Model("gru", 1, 4, 5)
    rnnx.save(str(out / "model.npz"), other, other.init_params(np), overwrite=True)
    code, _, err = run(capsys, "predict", "--model", out)
    assert code == 2 and err.count("\n") == 1
    assert " object at 0x" not in err
    assert err == (f"rnnx predict: error: --model: {str(out / 'model.npz')!r} holds a many-to-one model of 1 "
                   "feature(s) and 5 outputs, its classes.json 3 classes per-sequence of 1 feature(s); expected the "
                   "run's own model\n")


@pytest.mark.parametrize("first", ["Z", "", "hh"])
def test_a_tampered_text_record_is_blamed_not_prime(capsys, tmp_path, first):
    text = tmp_path / "t.txt"
    text.write_text("hello world, this is text. " * 40)
    out = tmp_path / "r"
    assert run(capsys, "train", "--text", text, "--max-updates", "3", "--hidden", "8", "--quiet", "--out", out)[0] == 0
    rec = json.loads((out / "text.json").read_text())
    (out / "text.json").write_text(json.dumps({**rec, "first": first}))
    code, _, err = run(capsys, "sample", "--model", out)
    assert code == 1 and err.count("\n") == 1 and "--prime:" not in err
    assert err.startswith(f"rnnx sample: error: --model: {str(out / 'text.json')!r} holds first {first!r}, expected "
                          "one character of its vocabulary"), err
    code, printed, _ = run(capsys, "sample", "--model", out, "--prime", "h", "--length", "5")
    assert code == 0 and printed.startswith("h")  # the record's other fields are still usable with --prime


# -- issue 30, item 4: what a new user sees ------------------------------------------------------
@pytest.fixture(scope="module")
def series_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("series") / "r"
    assert main(["train", "--preset", "seed001", "--epochs", "1", "--quiet", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("argv", [["train", "--preset", "seed001", "--epochs", "1"], ["predict", "--model", "RUN"],
                                  ["forecast", "--model", "RUN"], ["diagnose", "--model", "RUN"]])
def test_an_unknown_backend_is_named_under_one_prefix(capsys, tmp_path, series_run, argv):
    argv = [str(series_run) if a == "RUN" else a for a in argv]
    code, _, err = run(capsys, *argv, "--backend", "tensorflow", *(["--out", tmp_path / "o"] if "train" in argv else []))
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"rnnx {argv[0]}: error: --backend: unknown backend 'tensorflow'; expected one of numpy"), err


@pytest.mark.parametrize("command", ["bench", "parity"])
def test_a_backend_list_names_the_flag_not_the_environment_variable(capsys, command):
    code, _, err = run(capsys, command, "--backend", "numpy,tensorflow")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"rnnx {command}: error: --backend: unknown backend or target 'tensorflow'; "), err


def test_demo_backends_names_its_flag(capsys, monkeypatch):
    monkeypatch.delenv("RNNX_BACKENDS", raising=False)
    code, _, err = run(capsys, "demo", "--backends", "tensorflow")
    assert code == 2 and err.startswith("rnnx demo: error: --backends: unknown backend or target 'tensorflow'; "), err


NOT_RNNX = "is not an rnnx file (.npz): it is not a zip archive"


def test_load_of_a_text_file_says_it_is_not_an_rnnx_file(capsys, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# a project\n\nsome words\n")
    code, _, err = run(capsys, "load", readme)
    assert code == 2 and err == f"rnnx load: error: load: {str(readme)!r} {NOT_RNNX}\n"


def test_load_of_an_empty_file(capsys, tmp_path):
    (tmp_path / "e.npz").write_bytes(b"")
    code, _, err = run(capsys, "load", tmp_path / "e.npz")
    assert code == 2 and err == f"rnnx load: error: load: {str(tmp_path / 'e.npz')!r} is empty, not an rnnx file (.npz)\n"


def test_a_truncated_rnnx_file_is_still_called_truncated(capsys, tmp_path, series_run):
    (tmp_path / "t.npz").write_bytes((series_run / "model.npz").read_bytes()[:100])
    code, _, err = run(capsys, "load", tmp_path / "t.npz")
    assert code == 2 and "is corrupt or truncated" in err and NOT_RNNX not in err


@pytest.mark.parametrize("argv,name", [(["predict", "--model"], "model.npz"), (["forecast", "--model"], "model.npz"),
                                       (["diagnose", "--model"], "model.npz"),
                                       (["train", "--epochs", "3", "--resume"], "checkpoint.npz")])
def test_commands_reading_a_run_name_a_non_zip_file(capsys, tmp_path, series_run, argv, name):
    import shutil

    folder = tmp_path / "r"
    shutil.copytree(series_run, folder)
    (folder / name).write_text("not a zip\n")
    code, _, err = run(capsys, *argv, folder)
    assert code == 2 and err.count("\n") == 1
    assert f"{str(folder / name)!r} {NOT_RNNX}" in err and "BadZipFile" not in err, err


def test_sample_names_a_non_zip_model_under_one_prefix(capsys, tmp_path):
    (tmp_path / "t.txt").write_text("hello world " * 100)
    out = tmp_path / "r"
    assert run(capsys, "train", "--text", tmp_path / "t.txt", "--max-updates", "3", "--quiet", "--out", out)[0] == 0
    (out / "model.npz").write_text("not a zip\n")
    code, _, err = run(capsys, "sample", "--model", out)
    assert code == 1 and err == f"rnnx sample: error: --model: {str(out / 'model.npz')!r} {NOT_RNNX}\n"


@pytest.mark.parametrize("sep,shown", [(";", "';'"), ("\t", "tab")])
@pytest.mark.parametrize("argv", [["train", "--column", "v"], ["train", "--targets", "v"],
                                  ["predict", "--model", "RUN", "--column", "v"],
                                  ["forecast", "--model", "RUN", "--column", "v"]])
def test_a_csv_with_another_separator_says_so(capsys, tmp_path, series_run, argv, sep, shown):
    f = tmp_path / "s.csv"
    f.write_text(f"t{sep}v\n" + "".join(f"{i}{sep}{i % 7}.5\n" for i in range(60)))
    argv = [str(series_run) if a == "RUN" else a for a in argv]
    code, _, err = run(capsys, *argv, "--csv", f, *(["--out", tmp_path / "o"] if argv[0] == "train" else []))
    assert code == 2 and err.count("\n") == 1
    assert f"the file looks {shown}-separated; rnnx reads comma-separated CSV" in err, err


def test_a_one_column_csv_gets_no_separator_hint(capsys, tmp_path):
    f = tmp_path / "s.csv"
    f.write_text("value\n" + "".join(f"{i % 7}.5\n" for i in range(60)))
    code, _, err = run(capsys, "train", "--csv", f, "--column", "v", "--out", tmp_path / "o")
    assert code == 2 and "has no column 'v' (columns: value)" in err and "separated" not in err


def test_install_advice_is_a_command_that_works_from_a_checkout():
    """rnnx is not on PyPI: ``pip install 'rnnx[data]'`` fails; from a checkout it is
    ``pip install -e '<checkout>[data]'`` (docs: ``pip install -e '.[data]'`` in the checkout)."""
    import pathlib
    import re

    from rnnx.install import install_command

    root = pathlib.Path(rnnx.__file__).resolve().parent.parent
    assert (root / "pyproject.toml").is_file()
    assert install_command("data") in (f"pip install -e '{root}[data]'", "pip install -e '.[data]'")
    wrong = re.compile(r"""pip install\s+(?:-[-\w]+\s+)*['"]?rnnx\[""")
    found = [f"{p.relative_to(root)}:{n}" for p in [root / "README.md", *(root / "docs").rglob("*.md"),
                                                     *(root / "rnnx").rglob("*.py"), *(root / "backends").rglob("*.py")]
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if wrong.search(line)]
    assert found == []


def test_a_preset_without_its_data_package_names_the_extra_and_a_working_command(capsys, tmp_path, monkeypatch):
    import sys

    from rnnx.install import install_command

    monkeypatch.setitem(sys.modules, "vega_datasets", None)  # not installed
    code, _, err = run(capsys, "train", "--preset", "seed004", "--out", tmp_path / "o")
    assert code == 2 and err.count("\n") == 1 and err.rstrip().endswith(install_command("data")), err
    assert "[data]" in err
