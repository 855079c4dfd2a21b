"""rnnx.data.panel: pad, .npz and .ts panels, the bundled UEA/UCR datasets, label codes."""

from __future__ import annotations

import io
import os
import re
import sys
import zipfile

import numpy as np
import pytest

from rnnx.data import panel
from rnnx.data import DataError
from rnnx.install import install_command

HAS_SKTIME = __import__("importlib").util.find_spec("sktime") is not None
needs_sktime = pytest.mark.skipif(not HAS_SKTIME, reason="sktime is not installed (pip install -e '.[panel]')")


# -- pad -------------------------------------------------------------------------------------
def test_pad_round_trip():
    rng = np.random.default_rng(0)
    seqs = [rng.normal(size=(t, 3)) for t in (4, 1, 7)]
    x, lengths = panel.pad(seqs)
    assert x.shape == (3, 7, 3) and x.dtype == np.float64
    assert lengths.tolist() == [4, 1, 7] and lengths.dtype == np.int64
    for s, row, n in zip(seqs, x, lengths):
        np.testing.assert_array_equal(row[:n], s)
        assert not row[n:].any()


@pytest.mark.parametrize("seqs, error, message", [
    ([np.ones((3, 4)), np.ones((2, 4)), np.ones((5, 4)), np.ones((6, 2))], ValueError,
     "X: sequence 3 has 2 features, expected 4 (those of sequence 0)"),
    ([], ValueError, "X: expected at least one sequence, got an empty list"),
    ([np.ones((3, 2)), np.ones((0, 2))], ValueError,
     "X: sequence 1 has shape (0, 2); expected at least one step and one feature"),
    ([np.array([["a", "b"]])], TypeError, "X: sequence 0 has dtype <U1; expected real numbers"),
    ([np.ones(5)], ValueError, "X: sequence 0 has shape (5,); expected 2-D (steps, features)"),
    ([np.ones((2, 2)), np.array([[1.0, 2.0], [np.nan, 0.0]])], ValueError,
     "X: sequence 1 step 1 feature 0 is nan; expected finite values"),
    (np.ones((2, 3)).tolist().__iter__(), TypeError, "X: expected a list of (steps, features) arrays, got list_iterator"),
])
def test_pad_errors(seqs, error, message):
    with pytest.raises(error) as e:
        panel.pad(seqs)
    assert str(e.value) == message


def test_pad_names_the_callers_argument():
    with pytest.raises(ValueError, match=r"^X_val: expected at least one sequence"):
        panel.pad([], name="X_val")


# -- .npz ------------------------------------------------------------------------------------
def _npz(tmp_path, name="data.npz", **arrays):
    path = str(tmp_path / name)
    np.savez(path, **arrays)
    return path


def test_npz_round_trip_with_lengths_zeroes_the_padding(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 6, 2)).astype(np.float32)
    lengths = np.array([6, 1, 3, 6, 2])
    x_file = x.copy()
    x_file[2, 3:] = np.nan  # padding the file filled with NaN is not data
    y = np.array([0, 1, 1, 2, 0])
    p = panel.load_npz(_npz(tmp_path, x=x_file, y=y, lengths=lengths))
    assert p.x.dtype == np.float64 and p.x.shape == (5, 6, 2) and p.lengths.dtype == np.int64
    for i, n in enumerate(lengths):
        np.testing.assert_array_equal(p.x[i, :n], x[i, :n].astype(np.float64))
        assert not p.x[i, n:].any()
    np.testing.assert_array_equal(p.y, y)
    assert p.lengths.tolist() == lengths.tolist() and p.source.endswith("data.npz")


def test_npz_two_dimensional_x_and_per_step_labels(tmp_path):
    x = np.arange(12.0).reshape(3, 4)
    y = np.array([["a", "b", "a", "a"]] * 3)
    p = panel.load_npz(_npz(tmp_path, x=x, y=y))
    assert p.x.shape == (3, 4, 1) and p.lengths.tolist() == [4, 4, 4]
    np.testing.assert_array_equal(p.x[..., 0], x)
    assert p.y.shape == (3, 4) and p.y[0, 1] == "b"


X41 = np.zeros((41, 5, 2))


@pytest.mark.parametrize("arrays, message", [
    ({"x": X41, "y": np.zeros(40, dtype=int)}, ": y has 40 rows, x has 41"),
    ({"x": X41, "y": np.array([object()] * 41, dtype=object)},
     ": y is an object array (pickled Python objects); expected numbers or strings saved without pickle"),
    ({"x": X41, "y": np.zeros(41), "weights": np.ones(41), "extra": np.ones(1)},
     ": unknown key(s) ['extra', 'weights']; expected x, y, lengths"),
    ({"x": X41}, ": missing key(s) ['y']"),
    ({"x": X41, "y": np.zeros((41, 4))}, ": y has 4 steps per row, x has 5"),
    ({"x": X41, "y": np.zeros((41, 5, 1))}, ": y has shape (41, 5, 1); expected (N,) or (N, T) with N = 41"),
    ({"x": X41, "y": np.zeros(41), "lengths": np.full(41, 5.0)}, ": lengths has dtype float64; expected integers"),
    ({"x": X41, "y": np.zeros(41), "lengths": np.full(40, 5)}, ": lengths has shape (40,), expected (41,)"),
    ({"x": X41, "y": np.zeros(41), "lengths": np.array([5] * 7 + [6] + [5] * 33)},
     ": lengths[7] is 6; expected 1 to 5 (the steps of x)"),
    ({"x": X41, "y": np.zeros(41), "lengths": np.array([0] + [5] * 40)}, ": lengths[0] is 0; expected 1 to 5"),
    ({"x": np.where(np.arange(41)[:, None, None] == 3, np.inf, X41), "y": np.zeros(41),
          "lengths": np.full(41, 5)}, ": x[3] step 0 is not finite (NaN/Inf) within its length 5"),
    ({"x": np.zeros((4, 2, 3, 1)), "y": np.zeros(4)}, ": x has shape (4, 2, 3, 1); expected (N, T, I) or (N, T)"),
    ({"x": np.zeros((4, 0)), "y": np.zeros(4)}, ": x has shape (4, 0)"),
    ({"x": np.array([["a"]]), "y": np.zeros(1)}, ": x has dtype <U1; expected real numbers"),
    ({"x": X41, "y": np.array([1.0, np.nan] + [0.0] * 39)}, ": y[1] is not finite (NaN/Inf); expected labels"),
])
def test_npz_errors_name_the_file_and_key(tmp_path, arrays, message):
    path = _npz(tmp_path, **arrays)
    with pytest.raises(DataError) as e:
        panel.load_npz(path)
    text = str(e.value)
    assert text.startswith(f"panel: {path!r}{message}"), text
    assert "\n" not in text


def test_npz_nan_inside_a_step_names_row_and_step(tmp_path):
    x = np.zeros((3, 4, 2))
    x_bad = np.where((np.arange(3)[:, None, None] == 2) & (np.arange(4)[None, :, None] == 1), np.nan, x)
    path = _npz(tmp_path, x=x_bad, y=np.zeros(3, dtype=int), lengths=np.array([4, 4, 2]))
    with pytest.raises(DataError, match=re.escape(": x[2] step 1 is not finite (NaN/Inf) within its length 2")):
        panel.load_npz(path)
    # the same NaN past the length is padding, not data
    assert panel.load_npz(_npz(tmp_path, "ok.npz", x=x_bad, y=np.zeros(3, dtype=int),
                               lengths=np.array([4, 4, 1]))).x[2].sum() == 0


def test_npz_file_errors(tmp_path, monkeypatch):
    missing = str(tmp_path / "no.npz")
    with pytest.raises(DataError, match=re.escape(f"panel: {missing!r} does not exist")):
        panel.load_npz(missing)
    with pytest.raises(DataError, match=re.escape(f"panel: {str(tmp_path)!r} is a directory, expected a .npz")):
        panel.load_npz(str(tmp_path))
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(DataError, match=re.escape(f"panel: {str(junk)!r} is not a readable .npz file (BadZipFile")):
        panel.load_npz(str(junk))
    path = _npz(tmp_path, x=np.zeros((10, 10, 10)), y=np.zeros(10))
    monkeypatch.setattr(panel, "MAX_PANEL_BYTES", 4096)
    with pytest.raises(DataError, match=re.escape(f"panel: {path!r} holds 7.9 KiB of arrays; expected at most "
                                                  "4.0 KiB (MAX_PANEL_BYTES)")):
        panel.load_npz(path)


def test_npz_without_y_loads_unlabelled_when_labels_are_optional(tmp_path):
    x = np.arange(24, dtype=np.float64).reshape(3, 4, 2)
    path = _npz(tmp_path, x=np.where(np.arange(4)[None, :, None] >= 3, np.nan, x), lengths=np.array([3, 1, 2]))
    p = panel.load_npz(path, labels="optional")
    assert p.y is None and p.lengths.tolist() == [3, 1, 2] and p.x.shape == (3, 4, 2)
    np.testing.assert_array_equal(p.x[0, :3], x[0, :3])
    assert not p.x[1, 1:].any() and not p.x[2, 2:].any()  # padding (NaN here) returned as 0
    full = panel.load_npz(_npz(tmp_path, "full.npz", x=x[..., 0]), labels="optional")
    assert full.y is None and full.lengths.tolist() == [4, 4, 4] and full.x.shape == (3, 4, 1)
    labelled = panel.load_npz(_npz(tmp_path, "y.npz", x=x, y=np.array(["a", "b", "a"])), labels="optional")
    assert labelled.y.tolist() == ["a", "b", "a"]  # a y it holds is kept (and checked)
    with pytest.raises(DataError, match=re.escape(": y has 2 rows, x has 3")):
        panel.load_npz(_npz(tmp_path, "y2.npz", x=x, y=np.zeros(2)), labels="optional")
    with pytest.raises(DataError, match=re.escape(f"panel: {path!r}: missing key(s) ['y']; expected x (N, T, I)")):
        panel.load_npz(path)  # labels="required", the default: training data
    nan = _npz(tmp_path, "nan.npz", x=np.where(np.arange(4)[None, :, None] >= 3, np.nan, x))
    with pytest.raises(DataError) as e:  # NaN padding without lengths: every step counts, the message says so
        panel.load_npz(nan, labels="optional")
    assert str(e.value) == (f"panel: {nan!r}: x[0] step 3 is not finite (NaN/Inf) within its length 4; clean or "
                            "drop the sequence, or give each sequence's length in a lengths (N,) key (without it "
                            "every sequence has all the steps of x)")
    for bad in ("maybe", True, None):
        with pytest.raises(ValueError, match=r"^labels: expected 'required' or 'optional', got "):
            panel.load_npz(path, labels=bad)


def _npy(a, shape_text=None):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a)
    raw = buf.getvalue()
    return raw if shape_text is None else raw.replace(str(a.shape).encode(), shape_text.encode(), 1)


def test_npz_member_sizes_checked_before_reading(tmp_path):
    bad = tmp_path / "bad.npz"
    with zipfile.ZipFile(bad, "w") as zf:  # x's .npy header claims (2, 300000): 4.8 MB it does not hold
        zf.writestr("x.npy", _npy(np.zeros((2, 3)), "(2, 300000)"))
        zf.writestr("y.npy", _npy(np.zeros(2)))
    with pytest.raises(DataError, match=r"^panel: .*bad\.npz': member 'x\.npy' claims 181 bytes, its header "
                                        r"implies 4800128$"):
        panel.load_npz(str(bad))


# -- .ts -------------------------------------------------------------------------------------
@needs_sktime
def test_load_ts_basic_motions():
    p = panel.load_ts(panel.bundled_uea("BasicMotions", "train"))
    assert p.x.shape == (40, 100, 6) and p.x.dtype == np.float64
    assert p.lengths.tolist() == [100] * 40
    codes, classes = panel.encode_labels(p.y)
    assert classes == ("badminton", "running", "standing", "walking") and codes.shape == (40,)
    from sktime.datasets import load_from_tsfile

    x3, _ = load_from_tsfile(p.source, return_data_type="np3D")
    np.testing.assert_array_equal(p.x, np.transpose(x3, (0, 2, 1)))


@needs_sktime
def test_load_ts_japanese_vowels_unequal_lengths():
    p = panel.load_ts(panel.bundled_uea("JapaneseVowels", "train"))
    assert p.x.shape == (270, 26, 12) and p.y.shape == (270,)
    assert p.lengths.min() == 7 and p.lengths.max() == 26 and len(set(p.lengths.tolist())) > 5
    from sktime.datasets import load_from_tsfile

    nested, _ = load_from_tsfile(p.source)
    i = int(np.argmin(p.lengths))
    first = np.stack([np.asarray(c) for c in nested.iloc[i]], axis=1)
    np.testing.assert_array_equal(p.x[i, : p.lengths[i]], first)
    assert not p.x[i, p.lengths[i]:].any()
    assert sorted(set(p.y.tolist())) == [str(k) for k in range(1, 10)]


TS_HEAD = "@problemName t\n@timeStamps false\n@missing true\n@univariate true\n@equalLength false\n" \
          "@classLabel true a b\n@data\n"


@needs_sktime
def test_load_ts_trailing_missing_values_are_padding(tmp_path):
    f = tmp_path / "small.ts"
    f.write_text(TS_HEAD + "1,2,3:a\n4,5,?:b\n")
    p = panel.load_ts(str(f))
    assert p.lengths.tolist() == [3, 2] and p.x[:, :, 0].tolist() == [[1, 2, 3], [4, 5, 0]]
    assert p.y.tolist() == ["a", "b"]


@needs_sktime
@pytest.mark.parametrize("body, at", [
    ("1,2,inf:a\n4,5:b\n", "case 0 channel 0 step 2"),
    ("1,2,1e999:a\n4,5:b\n", "case 0 channel 0 step 2"),
    ("1,2,3:a\n4,-inf:b\n", "case 1 channel 0 step 1"),
    ("1,2,3:a\n4,5,6,-1e999,?:b\n", "case 1 channel 0 step 3"),
])
def test_load_ts_refuses_a_final_inf_as_the_npz_reader_does(tmp_path, body, at):
    """An Inf (written inf or 1e999) is a value, never padding: at a case's last step too
    (it was dropped as if it were missing); NaN ('?') after the last step stays padding."""
    f = tmp_path / "inf.ts"
    f.write_text(TS_HEAD + body)
    with pytest.raises(DataError) as e:
        panel.load_ts(str(f))
    assert str(e.value) == f"panel: {str(f)!r}: {at} is missing or not finite; clean or drop the case"


@needs_sktime
def test_load_ts_a_final_inf_in_one_channel_is_refused(tmp_path):
    f = tmp_path / "multi.ts"
    f.write_text(UNLABELLED_HEAD.format("false", "false") + "1,2,3:4,5,inf\n7,8:9,10\n")
    with pytest.raises(DataError, match=r": case 0 channel 1 step 2 is missing or not finite; clean or drop"):
        panel.load_ts(str(f), labels="optional")
    ok = tmp_path / "ok.ts"  # NaN padding in every channel after the last step still is padding
    ok.write_text(UNLABELLED_HEAD.format("false", "false") + "1,2,?:4,5,?\n7,8,9:9,10,11\n")
    assert panel.load_ts(str(ok), labels="optional").lengths.tolist() == [2, 3]


UNLABELLED_HEAD = "@problemName u\n@timeStamps false\n@missing true\n@univariate {}\n@equalLength {}\n" \
                  "@classLabel false\n@data\n"


@needs_sktime
def test_load_ts_class_label_false_loads_unlabelled_when_labels_are_optional(tmp_path):
    uni = tmp_path / "uni.ts"
    uni.write_text(UNLABELLED_HEAD.format("true", "true") + "1,2,3\n4,5,6\n")
    p = panel.load_ts(str(uni), labels="optional")
    assert p.y is None and p.x[:, :, 0].tolist() == [[1, 2, 3], [4, 5, 6]] and p.lengths.tolist() == [3, 3]
    multi = tmp_path / "multi.ts"  # two channels (':' between them), unequal lengths
    multi.write_text(UNLABELLED_HEAD.format("false", "false") + "1,2,3:4,5,6\n7,8:9,10\n")
    p = panel.load_ts(str(multi), labels="optional")
    assert p.y is None and p.x.shape == (2, 3, 2) and p.lengths.tolist() == [3, 2]
    assert p.x[0].tolist() == [[1, 4], [2, 5], [3, 6]] and p.x[1].tolist() == [[7, 9], [8, 10], [0, 0]]
    with pytest.raises(DataError) as e:
        panel.load_ts(str(uni))  # labels="required", the default: training data
    assert str(e.value) == (f"panel: {str(uni)!r} has no class labels (its header says '@classLabel false'); "
                            "expected labelled cases ('@classLabel true' with the classes, each case ending with "
                            "':' and its label)")
    labelled = tmp_path / "labelled.ts"
    labelled.write_text(TS_HEAD + "1,2,3:a\n4,5:b\n")
    assert panel.load_ts(str(labelled), labels="optional").y.tolist() == ["a", "b"]
    with pytest.raises(ValueError, match=r"^labels: expected 'required' or 'optional', got 'no'$"):
        panel.load_ts(str(uni), labels="no")


@needs_sktime
@pytest.mark.parametrize("body, message", [
    ("1,?,3:a\n4,5:b\n", ": case 0 channel 0 step 1 is missing or not finite; clean or drop the case"),
    ("1,2:3,4:a\n5:b\n", " could not be read by sktime (OSError: inconsistent number of dimensions"),
    ("x,y:a\n", " could not be read by sktime (ValueError: could not convert string to float"),
    ("", " could not be read by sktime ("),
])
def test_load_ts_errors(tmp_path, body, message):
    f = tmp_path / "bad.ts"
    f.write_text(TS_HEAD + body)
    with pytest.raises(DataError) as e:
        panel.load_ts(str(f))
    assert str(e.value).startswith(f"panel: {str(f)!r}{message}") and "\n" not in str(e.value)


def test_load_ts_without_a_loader(tmp_path, monkeypatch):
    f = tmp_path / "data.ts"
    f.write_text(TS_HEAD + "1,2:a\n")
    monkeypatch.setitem(sys.modules, "sktime.datasets", None)  # import raises ImportError
    monkeypatch.setitem(sys.modules, "aeon.datasets", None)
    with pytest.raises(DataError) as e:
        panel.load_ts(str(f))
    assert str(e.value) == f"panel: {str(f)!r}: reading .ts files needs sktime or aeon: {install_command('panel')}"


@needs_sktime
def test_bundled_uea_paths_and_errors(monkeypatch):
    for name in ("BasicMotions", "ItalyPowerDemand", "GunPoint", "JapaneseVowels", "ArrowHead", "OSULeaf"):
        for split in ("train", "test"):
            path = panel.bundled_uea(name, split)
            assert os.path.isfile(path) and path.endswith(os.path.join(name, f"{name}_{split.upper()}.ts"))
    with pytest.raises(DataError, match=r"^name: 'Sunspots' is not a UEA/UCR dataset bundled with sktime; "
                                        r"expected one of .*BasicMotions, .*JapaneseVowels"):
        panel.bundled_uea("Sunspots", "train")
    with pytest.raises(DataError, match=r"^name: 'Covid3Month' is a regression set of sktime .*'@classLabel true'\); "
                                        r"expected a classification set: .*BasicMotions") as e:
        panel.bundled_uea("Covid3Month", "train")
    assert "Tecator" not in str(e.value) and "Covid3Month" not in str(e.value).split(": ", 2)[-1]
    with pytest.raises(ValueError, match=r"^split: expected 'train' or 'test', got 'TRAIN'$"):
        panel.bundled_uea("BasicMotions", "TRAIN")
    monkeypatch.setattr(panel.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataError, match="^name: the bundled UEA/UCR datasets come with sktime: "
                       + re.escape(install_command("panel")) + "$"):
        panel.bundled_uea("BasicMotions", "train")


# -- labels ----------------------------------------------------------------------------------
@pytest.mark.parametrize("y, classes", [
    (["walk", "run", "walk", "stand"], ("run", "stand", "walk")),
    (np.array(["b", "a", "b"]), ("a", "b")),
    ([3, -1, 3, 10], (-1, 3, 10)),
    (np.array([[2, 0, 2], [5, 5, 0]]), (0, 2, 5)),
    ([[True, False], [False, False]], (False, True)),
    ([2.5, 1.0, 2.5], (1.0, 2.5)),
])
def test_encode_decode_round_trip(y, classes):
    codes, got = panel.encode_labels(y)
    assert got == classes and codes.dtype == np.int64 and codes.shape == np.shape(y)
    assert panel.decode_labels(codes, got).tolist() == np.asarray(y).tolist()
    assert all(isinstance(c, type(classes[0])) for c in got)  # Python scalars, not NumPy's


def test_encode_matches_sklearn_label_encoder():
    sklearn = pytest.importorskip("sklearn.preprocessing")
    y = ["b", "c", "a", "c", "b", "b"]
    enc = sklearn.LabelEncoder().fit(y)
    codes, classes = panel.encode_labels(y)
    assert classes == tuple(enc.classes_) and codes.tolist() == enc.transform(y).tolist()


@pytest.mark.parametrize("y, error, message", [
    ([1, "a", 2], TypeError, "y: labels of mixed types (int, str) cannot be sorted; expected labels of one type"),
    ([], ValueError, "y: expected at least one label, got none"),
    (np.float64(3.0), ValueError, "y: labels of shape (); expected (N,) or (N, T)"),
    ([1.0, float("nan")], TypeError, "y: label nan is not a hashable, comparable value"),
    (np.array([1.0, np.inf]), ValueError, "y: label inf at flat index 1; expected finite labels"),
    ([[1, 2], [3]], TypeError, "y: label [1, 2] is not a hashable, comparable value"),
])
def test_encode_errors(y, error, message):
    with pytest.raises(error) as e:
        panel.encode_labels(y)
    assert str(e.value).startswith(message)


def test_decode_errors():
    with pytest.raises(ValueError, match=r"^codes: 3 is outside \[0, 3\) \(the 3 classes\)$"):
        panel.decode_labels(np.array([0, 3]), ("a", "b", "c"))
    with pytest.raises(ValueError, match=r"^codes: -1 is outside"):
        panel.decode_labels(np.array([[-1]]), ("a",))
    with pytest.raises(TypeError, match=r"^codes: expected integer class codes, got dtype float64$"):
        panel.decode_labels(np.array([0.0]), ("a",))
