"""CSV input: every user mistake is one DataError line naming the file (and row, column),
and ``rnnx train`` shows it as one ``--csv``/``--column`` line with exit 2 and no run folder;
values up to 1e300 normalise exactly and train."""

from __future__ import annotations

import hashlib
import math
import re
import statistics

import numpy as np
import pytest

import rnnx.cli
from rnnx import data
from rnnx.data import tables
from rnnx.data.dataset import build

SECRET = "s3cret-token-7f1d"


def _series(n: int, scale: float) -> list[float]:
    """A wavy positive series of n values of about ``scale``."""
    return [(2 + math.sin(0.3 * i)) * scale for i in range(n)]


def _csv_text(values: list[float]) -> str:
    return "t,v\n" + "".join(f"{i},{v!r}\n" for i, v in enumerate(values))


#: name -> (file bytes, column, regex the DataError message must match, flag the CLI names).
#: ``{f}`` in a regex stands for the file's path as repr() writes it.
BAD: dict[str, tuple[bytes, str, str, str]] = {
    "latin1": ("t,v,note\n0,1.0,ok\n1,2.0,caf\xe9\n".encode("latin-1"), "v",
               r"csv: {f} is not UTF-8 text \(byte 0xe9 at offset 27, line 3\); re-save it as UTF-8$", "--csv"),
    "utf16": ("t,v\n0,1.0\n1,2.0\n".encode("utf-16"), "v",
              r"csv: {f} is UTF-16 text \(it starts with a UTF-16 byte-order mark\), not UTF-8; re-save it as UTF-8$",
              "--csv"),
    "utf16-no-bom": ("t,v\n0,1.0\n".encode("utf-16-le"), "v",
                     r"csv: {f} has a NUL byte at offset 1 \(line 1\); expected a text file", "--csv"),
    "nul": (b"t,v\n0,1.0\n1,2\x00.0\n", "v", r"csv: {f} has a NUL byte at offset 13 \(line 3\)", "--csv"),
    "field-200KiB": (b"t,v\n0,1.0\n1," + b"7" * (200 * 1024) + b"\n", "v",
                     r"csv: {f} row 3: a field of more than 131072 characters; expected numeric cells$", "--csv"),
    "blank-cell": (b"t,v\n0,1.0\n1,\n2,3.0\n", "v",
                   r"csv: {f} row 3, column 'v': missing value; fill or drop the row$", "--csv"),
    "short-row": (b"t,v\n0,1.0\n\n1\n", "v", r"csv: {f} row 4, column 'v': missing value; fill or drop the row$",
                  "--csv"),
    "whitespace-cell": (b"t,v\n0,1.0\n1,  \t \n", "v", r"csv: {f} row 3, column 'v': missing value", "--csv"),
    "not-a-number": (b"t,v\n0,1.0\n1,abc\n", "v", r"csv: {f} row 3, column 'v': 'abc' is not a number$", "--csv"),
    "long-not-a-number": (b"t,v\n0," + b"x" * 5000 + b"\n", "v",
                          r"csv: {f} row 2, column 'v': 'x{40}'\.\.\. \(5000 characters\) is not a number$", "--csv"),
    "nan": (b"t,v\n0,1.0\n1,NaN\n", "v", r"csv: {f} row 3, column 'v': 'NaN' is not finite \(NaN/Inf\)", "--csv"),
    "beyond-float64": (b"t,v\n0,1.0\n1,1e400\n", "v",
                       r"csv: {f} row 3, column 'v': '1e400' is beyond float64 \(largest 1.8e\+308\); rescale", "--csv"),
    "empty-file": (b"", "v", r"csv: {f} is empty; expected a header row and numeric rows$", "--csv"),
    "header-only": (b"t,v\n", "v", r"csv: {f} has a header but no data rows$", "--csv"),
    "duplicate-column": (b"t,v,w,v\n0,1,2,3\n", "v",
                         r"csv: {f} names column 'v' twice \(columns 2 and 4 of the header\); expected unique", "--csv"),
    "column-not-found": (b"t,v\n0,1\n", "w", r"column: 'w' is not a column of {f}; its columns are \['t', 'v'\]$",
                         "--column"),
}


def _message_re(pattern: str, path: str) -> str:
    return pattern.replace("{f}", re.escape(repr(path)))


def _cli_train(path: str, column: str, out: str, *extra: str) -> list[str]:
    return ["train", "--csv", path, "--column", column, "--out", out, "--quiet", *extra]


def _assert_cli_refuses(capsys, argv: list[str], flag: str, out) -> str:
    """``rnnx train`` exits 2 with exactly one stderr line naming ``flag`` and no run folder."""
    capsys.readouterr()
    rc = rnnx.cli.main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"rnnx train: error: {flag}"), err
    assert "internal error" not in err
    assert not out.exists()
    return lines[0]


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_csv_is_one_data_error_and_one_cli_line(name, tmp_path, capsys):
    raw, column, pattern, flag = BAD[name]
    f = tmp_path / "f.csv"
    f.write_bytes(raw)
    with pytest.raises(data.DataError) as e:
        data.load_csv(str(f), column)
    msg = str(e.value)
    assert "\n" not in msg
    assert re.search(_message_re(pattern, str(f)), msg), msg
    # the command reads --column NAME as --targets NAME: the table reader's message, under the flag given
    with pytest.raises(data.DataError) as e:
        tables.read_table(str(f), inputs=(column,), targets=(column,))
    line = _assert_cli_refuses(capsys, _cli_train(str(f), column, str(tmp_path / "r")), flag, tmp_path / "r")
    assert line.endswith(str(e.value).split(": ", 1)[1]), line


def test_too_large_file_is_refused_before_reading(tmp_path, capsys, monkeypatch):
    f = tmp_path / "f.csv"
    f.write_text(_csv_text([1.0, 2.0, 3.0]))
    monkeypatch.setattr(data, "MAX_CSV_BYTES", 10)
    size = f.stat().st_size
    monkeypatch.setattr("builtins.open", lambda *a, **k: pytest.fail("the file was opened"))
    with pytest.raises(data.DataError, match=re.escape(f"csv: {str(f)!r} is {size} bytes; expected at most 10 bytes "
                                                       "(MAX_CSV_BYTES)")):
        data.load_csv(str(f), "v")
    monkeypatch.undo()
    monkeypatch.setattr(data, "MAX_CSV_BYTES", 10)
    _assert_cli_refuses(capsys, _cli_train(str(f), "v", str(tmp_path / "r")), "--csv", tmp_path / "r")


def test_size_in_messages():
    assert data.MAX_CSV_BYTES == 1 << 30
    assert data.size_text(1000) == "1000 bytes"
    assert data.size_text(3 << 19) == "1.5 MiB"
    assert data.size_text(int(1.2 * (1 << 30))) == "1.2 GiB"


def test_sha256_mismatch_echoes_nothing_of_the_file(tmp_path):
    f = tmp_path / "f.csv"
    f.write_text(f"t,v,{SECRET}\n0,1.0,{SECRET}\n")
    recorded = hashlib.sha256(b"another file").hexdigest()
    now = hashlib.sha256(f.read_bytes()).hexdigest()
    with pytest.raises(data.DataChanged) as e:
        data.load_csv(str(f), "v", sha256=recorded)
    msg = str(e.value)
    assert isinstance(e.value, data.DataError)
    assert msg == f"csv: {str(f)!r} changed since the run began (sha256 {now[:12]}... now, {recorded[:12]}... recorded)"
    assert SECRET not in msg and "t,v" not in msg
    # refused before decoding: bytes that are not UTF-8 give DataChanged, not the UTF-8 error
    f.write_bytes(b"t,v\n0,\xff\n")
    with pytest.raises(data.DataChanged):
        data.load_csv(str(f), "v", sha256=recorded)


def test_sha256_match_and_digests(tmp_path):
    f = tmp_path / "f.csv"
    f.write_bytes("\ufeff".encode() + _csv_text([1.5, -2.0, 3.25]).encode())
    want = hashlib.sha256(f.read_bytes()).hexdigest()
    values, digest = data.read_csv(str(f), "v")
    assert (values, digest) == ([1.5, -2.0, 3.25], want)
    assert data.file_digest(str(f)) == (want, f.stat().st_size)
    assert data.load_csv(str(f), "v", sha256=want.upper()) == [1.5, -2.0, 3.25]
    assert data.read_csv(str(f), "v", sha256=want) == (values, want)


def test_file_digest_streams_past_one_chunk(tmp_path):
    f = tmp_path / "big.bin"
    blob = bytes(range(256)) * (5 * 4096 + 3)  # 5 MiB and 768 bytes: several 1 MiB chunks
    f.write_bytes(blob)
    assert data.file_digest(str(f)) == (hashlib.sha256(blob).hexdigest(), len(blob))


@pytest.mark.parametrize("bad, exc, text", [
    ("abc", ValueError, "sha256: expected 64 hexadecimal digits, got 'abc'"),
    ("g" * 64, ValueError, "sha256: expected 64 hexadecimal digits"),
    (12, TypeError, "sha256: expected a hex string of 64 digits or None, got int"),
])
def test_sha256_argument_is_checked(bad, exc, text, tmp_path):
    f = tmp_path / "f.csv"
    f.write_text(_csv_text([1.0]))
    with pytest.raises(exc, match=re.escape(text)):
        data.load_csv(str(f), "v", sha256=bad)


def test_blank_lines_stay_skipped(tmp_path):
    f = tmp_path / "f.csv"
    f.write_text("t,v\n\n0,1.0\n,\n1,2.0\n\n")
    assert data.load_csv(str(f), "v") == [1.0, 2.0]


@pytest.mark.parametrize("scale", [1e154, 1e300, 1e-300])
def test_extreme_magnitudes_normalise_exactly(scale):
    v = _series(500, scale)
    n = data.Normaliser.fit(v)
    assert math.isclose(n.mean, statistics.fmean(x / scale for x in v) * scale, rel_tol=1e-14)
    z = [n(x) for x in v]
    assert abs(statistics.fmean(z)) < 1e-12
    assert math.isclose(statistics.pstdev(z), 1.0, rel_tol=1e-12)


def test_fit_matches_the_plain_formula_on_ordinary_values():
    v = [0.1 * i - 3.0 + math.cos(i) for i in range(97)]
    m = math.fsum(v) / len(v)
    s = math.sqrt(math.fsum((x - m) ** 2 for x in v) / len(v))
    assert data.Normaliser.fit(v) == data.Normaliser(m, s)
    assert data.Normaliser.fit([4.0, 4.0]) == data.Normaliser(4.0, 1.0)
    with pytest.raises(data.DataError, match="values: expected at least one value"):
        data.Normaliser.fit([])


def test_build_float32_on_1e200_values_is_small_and_finite():
    ds = build(_series(120, 1e200), window=10, horizon=1, split=(0.7, 0.1, 0.2), every_step=False, xp=np,
               dtype=np.float32, device=None)
    x = ds.parts["train"].x
    assert x.dtype == np.float32 and np.isfinite(x).all() and float(np.max(np.abs(x))) < 3
    fitted = ds.series[: ds.parts["train"].target_index[-1] + 1]
    assert math.isclose(ds.norm.std, statistics.pstdev(v / 1e200 for v in fitted) * 1e200, rel_tol=1e-12)
    assert ds.persistence_mse("test") == math.inf  # squares of ~1e200 exceed float64; no OverflowError


def test_build_refuses_values_beyond_the_dtype():
    with pytest.raises(data.DataError, match=r"^csv: values from 1e\+200 to 3e\+200 normalise .* beyond float32 "
                                             r"\(largest 3.4e\+38\); rescale the column$"):
        build(_series(60, 1e200), window=5, horizon=1, split=(0.8, 0.0, 0.2), every_step=False, xp=np,
              dtype=np.float32, device=None, norm=data.Normaliser(0.0, 1.0))
    # a test part far outside a training part of std ~1e-16: its normalised values overflow float64
    series = [1.0, 1.0 + 2**-52] * 23 + [1e308] * 4
    with pytest.raises(data.DataError, match=r"^csv: values from 1 to 1e\+308 normalise .* beyond float64"):
        build(series, window=5, horizon=1, split=(0.8, 0.0, 0.2), every_step=False, xp=np, dtype=np.float64,
              device=None)


def test_values_too_far_apart_are_refused(tmp_path, capsys):
    """1.7e308 and -1.7e308: their difference overflows float64, so no normalisation holds both."""
    values = [1.7e308 * (-1) ** i for i in range(60)]
    msg = ("csv: values from -1.7e+308 to 1.7e+308 are too far apart to normalise in float64; rescale the column")
    with pytest.raises(data.DataError, match=f"^{re.escape(msg)}$"):
        data.Normaliser.fit(values)
    f = tmp_path / "f.csv"
    f.write_text(_csv_text(values))
    assert data.load_csv(str(f), "v") == values  # finite cells: the file reads; normalising it is what fails
    line = _assert_cli_refuses(capsys, _cli_train(str(f), "v", str(tmp_path / "r")), "--csv", tmp_path / "r")
    assert line == "rnnx train: error: --" + msg


def test_1e300_csv_reads_and_normalises(tmp_path):
    f = tmp_path / "f.csv"
    f.write_text(_csv_text(_series(200, 1e300)))
    ds = build(data.load_csv(str(f), "v"), window=20, horizon=1, split=(0.8, 0.1, 0.1), every_step=False, xp=np,
               dtype=np.float32, device=None)
    fitted = ds.series[: ds.parts["train"].target_index[-1] + 1]
    z = [ds.norm(v) for v in fitted]
    assert abs(statistics.fmean(z)) < 1e-12 and math.isclose(statistics.pstdev(z), 1.0, rel_tol=1e-12)
    assert np.isfinite(ds.parts["test"].x).all() and float(np.max(np.abs(ds.parts["test"].x))) < 3


def test_cli_trains_on_1e300_values(tmp_path, capsys):
    f = tmp_path / "f.csv"
    f.write_text(_csv_text(_series(200, 1e300)))
    out = tmp_path / "r"
    rc = rnnx.cli.main(_cli_train(str(f), "v", str(out), "--epochs", "2", "--hidden", "4"))
    err = capsys.readouterr().err
    assert rc == 0, err
    assert (out / "metrics.json").exists()
