"""rnnx.text: reading text, the vocabulary, min-char-rnn chunks, one-hot inputs, sampling."""

from __future__ import annotations

import re

import numpy as np
import pytest

import rnnx
from rnnx import text as T
from rnnx.data import DataError

TEXT = "hello world, hello rnnx\n"


# -- read_text / bundled_text ----------------------------------------------------------------
def test_read_text_utf8_and_bom(tmp_path):
    f = tmp_path / "a.txt"
    f.write_bytes("naïve café\n".encode())
    assert T.read_text(str(f)) == "naïve café\n"
    f.write_bytes(b"\xef\xbb\xbf" + "ok ß".encode())
    assert T.read_text(str(f)) == "ok ß"


@pytest.mark.parametrize("raw, message", [
    ("line one\ncafé".encode("latin-1"), "is not UTF-8 text (byte 0xe9 at offset 12, line 2); re-save it as UTF-8"),
    (b"", "is empty; expected some text"),
    (b"\xef\xbb\xbf", "is empty; expected some text"),
    ("hi".encode("utf-16"), "is UTF-16 text (it starts with a UTF-16 byte-order mark), not UTF-8; re-save it as "
     "UTF-8"),
    (b"ab\ncd\x00", "has a NUL byte at offset 5 (line 2); expected a text file (is it UTF-16 or binary? re-save it "
     "as UTF-8 text)"),
])
def test_read_text_errors(tmp_path, raw, message):
    f = tmp_path / "t.txt"
    f.write_bytes(raw)
    with pytest.raises(DataError) as e:
        T.read_text(str(f))
    assert str(e.value) == f"text: {str(f)!r} {message}"


def test_read_text_file_errors(tmp_path, monkeypatch):
    missing = str(tmp_path / "none.txt")
    with pytest.raises(DataError, match=re.escape(f"text: file {missing!r} does not exist")):
        T.read_text(missing)
    with pytest.raises(DataError, match=re.escape(f"text: {str(tmp_path)!r} is a directory, expected a text file")):
        T.read_text(str(tmp_path))
    f = tmp_path / "big.txt"
    f.write_text("x" * 2000)
    from rnnx.data import text as host  # where read_text and its limit live (rnnx.text re-exports them)

    monkeypatch.setattr(host, "MAX_TEXT_BYTES", 1024)
    with pytest.raises(DataError, match=re.escape(f"text: {str(f)!r} is 2.0 KiB; expected at most 1.0 KiB "
                                                  "(MAX_TEXT_BYTES)")):
        T.read_text(str(f))


def test_bundled_text():
    name, text = T.bundled_text()
    assert name == "pydoc_data.topics" and len(text) > 200_000
    assert "assignment" in text and T.Vocabulary.from_text(text).size > 60
    assert T.bundled_text()[1] == text  # same order every time


# -- Vocabulary ------------------------------------------------------------------------------
def test_vocabulary_round_trip():
    v = T.Vocabulary.from_text(TEXT)
    assert v.chars == tuple(sorted(set(TEXT))) and v.size == len(set(TEXT))
    ids = v.encode(TEXT)
    assert ids.dtype == np.int64 and ids.shape == (len(TEXT),)
    assert [v.chars[k] for k in ids] == list(TEXT)
    assert v.decode(ids) == TEXT and v.decode(ids.reshape(4, 6)) == TEXT
    assert T.Vocabulary.from_json(v.to_json()) == v


def test_vocabulary_errors():
    v = T.Vocabulary.from_text("abc")
    with pytest.raises(ValueError) as e:
        v.encode("abx", name="prime")
    assert str(e.value) == "prime: character 'x' is not in the model's vocabulary of 3 characters"
    with pytest.raises(ValueError, match=r"^text: character 'z' is not"):
        v.encode("z")
    with pytest.raises(ValueError, match=r"^ids: 3 is outside \[0, 3\) \(the vocabulary\)$"):
        v.decode(np.array([0, 3]))
    with pytest.raises(TypeError, match=r"^ids: expected integer ids, got dtype float64$"):
        v.decode(np.array([0.0]))
    with pytest.raises(ValueError, match=r"^text: expected a non-empty str"):
        T.Vocabulary.from_text("")
    with pytest.raises(ValueError, match=r"^chars: expected distinct characters in sorted order$"):
        T.Vocabulary(("b", "a"))
    with pytest.raises(ValueError, match=r"^vocabulary: not JSON"):
        T.Vocabulary.from_json("{")
    with pytest.raises(ValueError, match=r'^vocabulary: expected \{"chars": "<characters>"\}'):
        T.Vocabulary.from_json('{"chars": ["a"]}')
    with pytest.raises(ValueError, match=r"^vocabulary: chars: expected distinct characters"):
        T.Vocabulary.from_json('{"chars": "aa"}')


# -- chunks / one_hot ------------------------------------------------------------------------
@pytest.mark.parametrize("n, seq_len", [(26, 25), (100, 7), (101, 10), (51, 50), (1000, 25)])
def test_chunks_are_min_char_rnn_batches(n, seq_len):
    ids = np.arange(n, dtype=np.int64) * 3 % 17
    inputs, targets = T.chunks(ids, seq_len)
    want_in, want_tg, p = [], [], 0
    while p + seq_len + 1 <= n:  # min-char-rnn: p advances by seq_len while a target follows
        want_in.append(ids[p:p + seq_len].tolist())
        want_tg.append(ids[p + 1:p + seq_len + 1].tolist())
        p += seq_len
    assert inputs.tolist() == want_in and targets.tolist() == want_tg
    assert inputs.shape == (len(want_in), seq_len)


def test_chunks_errors():
    with pytest.raises(DataError) as e:
        T.chunks(np.arange(20), 25)
    assert str(e.value) == "text: 20 characters, expected at least seq_len + 1 = 26"
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match=r"^seq_len: expected a positive int"):
            T.chunks(np.arange(20), bad)


def test_one_hot():
    ids = np.array([[0, 2], [1, 1]])
    e = T.one_hot(ids, 3, xp=np, dtype=np.float32)
    assert e.dtype == np.float32 and e.shape == (2, 2, 3)
    np.testing.assert_array_equal(e, np.eye(3, dtype=np.float32)[ids])


# -- sample ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny():
    vocab = T.Vocabulary.from_text(TEXT)
    model = rnnx.Model("gru", vocab.size, 8, vocab.size, objective="many-to-many")
    params = model.init_params(np, seed=4, dtype=np.float64)
    params = {k: v * 3.0 for k, v in params.items()}  # sharper logits: varied greedy choices
    return model, params, vocab


def test_sample_is_deterministic_for_a_seed(tiny):
    model, params, vocab = tiny
    a = T.sample(model, params, vocab, prime="he", length=40, temperature=1.0, seed=7)
    assert len(a) == 40 and set(a) <= set(vocab.chars)
    assert T.sample(model, params, vocab, prime="he", length=40, temperature=1.0, seed=7) == a
    assert T.sample(model, params, vocab, prime="he", length=40, temperature=1.0, seed=8) != a
    assert T.sample(model, params, vocab, prime="he", length=0, temperature=1.0, seed=7) == ""


def test_low_temperature_is_the_greedy_decode(tiny):
    model, params, vocab = tiny
    seq = list(vocab.encode("hel"))
    for _ in range(12):  # argmax of the last step, re-reading the whole text from a zero state
        x = np.eye(vocab.size)[np.array(seq)][:, None, :]
        pred, _ = model.predict(params, x)
        seq.append(int(np.argmax(pred[-1, 0])))
    greedy = vocab.decode(np.array(seq[3:]))
    for seed in (0, 1):
        assert T.sample(model, params, vocab, prime="hel", length=12, temperature=1e-6, seed=seed) == greedy
    assert len(set(greedy)) > 1


@pytest.mark.parametrize("kwargs, message", [
    ({"prime": ""}, "prime: expected at least one character, got ''"),
    ({"prime": "hq"}, "prime: character 'q' is not in the model's vocabulary of 12 characters"),
    ({"length": -1}, "length: expected an int >= 0, got -1"),
    ({"length": 2.0}, "length: expected an int >= 0, got 2.0"),
    ({"temperature": 0.0}, "temperature: expected a finite number > 0, got 0.0"),
    ({"temperature": float("nan")}, "temperature: expected a finite number > 0, got nan"),
    ({"temperature": float("inf")}, "temperature: expected a finite number > 0, got inf"),
    ({"temperature": -1}, "temperature: expected a finite number > 0, got -1"),
    ({"seed": -2}, "seed: expected an int >= 0, got -2"),
])
def test_sample_errors(tiny, kwargs, message):
    model, params, vocab = tiny
    args = {"prime": "he", "length": 5, "temperature": 1.0, "seed": 0} | kwargs
    with pytest.raises(ValueError) as e:
        T.sample(model, params, vocab, **args)
    assert str(e.value) == message


def test_sample_refuses_a_model_of_another_vocabulary(tiny):
    _, _, vocab = tiny
    other = rnnx.Model("lstm", vocab.size + 1, 4, vocab.size + 1, objective="many-to-many")
    with pytest.raises(ValueError) as e:
        T.sample(other, other.init_params(np), vocab, prime="h", length=3, temperature=1.0, seed=0)
    assert str(e.value) == ("model: input_size 13, output_size 13, many-to-many; expected input and output "
                            "sizes 12 (the vocabulary) and many-to-many")


def test_sample_on_another_namespace_draws_the_same_text(tiny):
    xs = pytest.importorskip("array_api_strict")
    model, params, vocab = tiny
    strict = {k: xs.asarray(v) for k, v in params.items()}
    e = T.one_hot(xs.asarray([2, 0]), 3, xp=xs, dtype=xs.float64)
    assert e.dtype == xs.float64 and xs.all(e == xs.asarray(np.eye(3)[[2, 0]]))
    args = {"prime": "hel", "length": 20, "temperature": 0.8, "seed": 3}
    assert T.sample(model, strict, vocab, **args) == T.sample(model, params, vocab, **args)


def test_sample_refuses_params_that_are_not_a_models(tiny):
    model, _, vocab = tiny
    with pytest.raises(ValueError, match=r"^params: expected the model's parameters \(a dict with 'weight_hy'\), "
                                         r"got list$"):
        T.sample(model, [], vocab, prime="h", length=3, temperature=1.0, seed=0)


def test_the_training_module_imports_no_array_library():
    """rnnx/text.py (fit_text, evaluate_text) goes through the array namespace only; the host-side
    readers that use NumPy (file, vocabulary, ids, chunks, sampling) are rnnx/data/text.py's."""
    import ast
    import pathlib

    tree = ast.parse(pathlib.Path(T.__file__).read_text())
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    assert not [m for m in names if m.split(".")[0] in {"numpy", "jax", "torch", "cupy", "array_api_strict"}]
    from rnnx.data import text as host

    assert T.Vocabulary is host.Vocabulary and T.read_text is host.read_text and T.sample is host.sample
