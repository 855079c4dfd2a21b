"""What a new user types first (issue 30, item 1): ``rnnx --version``, and a typo'd command
or flag answered with the nearest name (``difflib.get_close_matches``, as pip's
``get_similar_commands``), one line, exit 2."""

from __future__ import annotations

import pytest

import rnnx
from rnnx.cli import main


def run(capsys, *argv):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse's own exits (--help, --version)
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def test_version_prints_the_package_version(capsys):
    code, out, err = run(capsys, "--version")
    assert (code, out, err) == (0, f"rnnx {rnnx.__version__}\n", "")


@pytest.mark.parametrize("typo,meant", [("trian", "train"), ("predcit", "predict"), ("forcast", "forecast"),
                                        ("diagnsoe", "diagnose")])
def test_a_typod_command_suggests_the_nearest(capsys, typo, meant):
    code, out, err = run(capsys, typo, "--epochs", "5")
    assert code == 2 and out == ""
    assert err == f"rnnx: error: unknown command {typo!r}; did you mean {meant!r}?\n"


def test_an_unknown_command_with_no_near_name_lists_the_commands(capsys):
    code, _, err = run(capsys, "zzzzzz")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("rnnx: error: unknown command 'zzzzzz'; expected one of train, predict, forecast")


@pytest.mark.parametrize("typo,meant", [("--epohcs", "--epochs"), ("--hiden", "--hidden"),
                                        ("--batchsize", "--batch-size"), ("--lerning-rate=0.1", None)])
def test_a_typod_flag_suggests_the_nearest(capsys, tmp_path, typo, meant):
    code, out, err = run(capsys, "train", "--preset", "seed001", typo, "5", "--out", tmp_path / "r")
    assert code == 2 and out == "" and err.count("\n") == 1 and not (tmp_path / "r").exists()
    flag = typo.split("=")[0]
    if meant is None:
        assert err == f"rnnx train: error: unrecognized argument {flag}; see rnnx train --help\n"
    else:
        assert err == f"rnnx train: error: unrecognized argument {flag}; did you mean {meant}?\n"


def test_argparse_abbreviations_come_first(capsys, tmp_path):
    """``--epoch`` is a unique prefix of ``--epochs``: argparse takes it (no suggestion);
    an ambiguous prefix is argparse's own one-line error."""
    code, _, err = run(capsys, "train", "--preset", "seed001", "--epoch", "1", "--quiet", "--out", tmp_path / "r")
    assert code == 0, err
    code, _, err = run(capsys, "train", "--preset", "seed001", "--c", "1", "--out", tmp_path / "s")
    assert code == 2 and err.count("\n") == 1 and "ambiguous option: --c could match" in err


def test_a_stray_value_is_named_without_a_suggestion(capsys, tmp_path):
    code, _, err = run(capsys, "load", tmp_path / "a.npz", "extra")
    assert code == 2 and err == "rnnx load: error: unrecognized arguments: extra\n"


def test_a_typod_flag_of_the_top_level(capsys):
    code, _, err = run(capsys, "--verison")
    assert code == 2 and err == "rnnx: error: unrecognized argument --verison; did you mean --version?\n"
