r"""Text for a character-level model: reading a text file, its vocabulary, min-char-rnn's
chunks, one-hot inputs and sampling from a trained :class:`rnnx.Model`.

A text of characters :math:`c_0 \dots c_{n-1}` becomes ids :math:`k_j` = the index of
:math:`c_j` in the sorted vocabulary; the model reads one-hot :math:`x_t = e_{k_t}` and its
logits :math:`z_t` (V,) score the next character: :math:`p(c_{t+1} = v) =
\mathrm{softmax}(z_t / \tau)_v` at temperature :math:`\tau`.  File errors are one
:class:`~rnnx.data.DataError` line starting ``text:`` that names the file.  (An I/O module:
NumPy is imported inside functions; the one-hot and softmax go through the array namespace.)
"""

from __future__ import annotations

import json
import math
import os
import stat
from dataclasses import dataclass
from typing import Any

from rnnx.data import _BOM, DataError, _line, _size

__all__ = ["MAX_TEXT_BYTES", "Vocabulary", "bundled_text", "chunks", "one_hot", "read_text", "sample"]

#: The largest text file :func:`read_text` reads (bytes); a larger one is refused unread.
MAX_TEXT_BYTES = 64 * 2**20


def _read_raw(path: str) -> bytes:
    """The bytes of the file at ``path``: it exists, is a file, at most :data:`MAX_TEXT_BYTES`."""
    too_big = f"expected at most {_size(MAX_TEXT_BYTES)} (MAX_TEXT_BYTES)"
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise DataError(f"text: {path!r} is a directory, expected a text file")
        if st.st_size > MAX_TEXT_BYTES:
            raise DataError(f"text: {path!r} is {_size(st.st_size)}; {too_big}")
        with open(path, "rb") as f:
            raw = f.read(MAX_TEXT_BYTES + 1)  # bounded even if the file grew after the stat
    except FileNotFoundError:
        raise DataError(f"text: file {path!r} does not exist") from None
    except OSError as e:
        raise DataError(f"text: cannot read {path!r} ({e.strerror or e})") from None
    if len(raw) > MAX_TEXT_BYTES:
        raise DataError(f"text: {path!r} is more than {_size(MAX_TEXT_BYTES)}; {too_big}")
    return raw


def read_text(path: str) -> str:
    """The text of a UTF-8 file (a leading BOM skipped) of at most :data:`MAX_TEXT_BYTES`;
    a missing, empty, too big, UTF-16 or non-UTF-8 file (the byte, its offset and line
    named) or one holding a NUL byte is one DataError naming the file."""
    raw = _read_raw(path)
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise DataError(f"text: {path!r} is UTF-16 text (it starts with a UTF-16 byte-order mark); "
                        "re-save it as UTF-8")
    skip = len(_BOM) if raw.startswith(_BOM) else 0
    try:
        text = raw[skip:].decode("utf-8")
    except UnicodeDecodeError as e:
        at = skip + e.start
        raise DataError(f"text: {path!r} is not UTF-8 (byte 0x{raw[at]:02x} at offset {at}, line "
                        f"{_line(raw, at)}); re-save it as UTF-8") from None
    if not text:
        raise DataError(f"text: {path!r} is empty; expected some text")
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise DataError(f"text: {path!r} has a NUL byte at offset {nul} (line {_line(raw, nul)}); "
                        "expected a text file, not a binary one")
    return text


def bundled_text() -> tuple[str, str]:
    """``(name, text)`` of a text every CPython ships: the pydoc topics (the language
    reference's sections, ``pydoc_data.topics.topics``) joined in sorted key order: about
    465,000 characters (103 distinct) of English prose and code on CPython 3.11."""
    from pydoc_data.topics import topics

    return "pydoc_data.topics", "".join(topics[k] for k in sorted(topics))


@dataclass(frozen=True)
class Vocabulary:
    """The characters of a text, sorted: id ``k`` is ``chars[k]``."""

    chars: tuple[str, ...]

    def __post_init__(self) -> None:
        c = self.chars
        if not isinstance(c, tuple) or not c or any(not isinstance(s, str) or len(s) != 1 for s in c):
            raise ValueError(f"chars: expected a non-empty tuple of single characters, got {c!r:.80}")
        if list(c) != sorted(set(c)):
            raise ValueError("chars: expected distinct characters in sorted order")

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        """The sorted distinct characters of ``text`` (non-empty)."""
        if not isinstance(text, str) or not text:
            raise ValueError(f"text: expected a non-empty str, got {text!r:.40}")
        return cls(tuple(sorted(set(text))))

    @property
    def size(self) -> int:
        return len(self.chars)

    def encode(self, text: str, name: str = "text") -> Any:
        """The ids of ``text`` (len(text),) int64; a character outside the vocabulary is a
        ValueError starting with ``name`` (the caller's argument)."""
        import numpy as np

        index = {c: k for k, c in enumerate(self.chars)}
        missing = next((c for c in text if c not in index), None)
        if missing is not None:
            raise ValueError(f"{name}: character {missing!r} is not in the model's vocabulary of "
                             f"{self.size} characters")
        return np.array([index[c] for c in text], dtype=np.int64)

    def decode(self, ids: Any) -> str:
        """The characters of integer ``ids`` (any backend, any shape, read row-major)."""
        from rnnx.backends import to_numpy

        a = to_numpy(ids).reshape(-1)
        if a.dtype.kind not in "iu":
            raise TypeError(f"ids: expected integer ids, got dtype {a.dtype}")
        bad = (a < 0) | (a >= self.size)
        if bad.any():
            raise ValueError(f"ids: {int(a[bad][0])} is outside [0, {self.size}) (the vocabulary)")
        return "".join(self.chars[k] for k in a.tolist())

    def to_json(self) -> str:
        """``{"chars": "<the characters in order>"}`` as JSON."""
        return json.dumps({"chars": "".join(self.chars)})

    @classmethod
    def from_json(cls, text: str) -> Vocabulary:
        """The vocabulary :meth:`to_json` wrote; anything else is a ValueError naming ``vocabulary``."""
        try:
            d = json.loads(text)
        except (TypeError, ValueError) as e:
            raise ValueError(f"vocabulary: not JSON ({e})") from None
        if not isinstance(d, dict) or set(d) != {"chars"} or not isinstance(d["chars"], str):
            raise ValueError('vocabulary: expected {"chars": "<characters>"}, got ' + f"{text!r:.80}")
        try:
            return cls(tuple(d["chars"]))
        except ValueError as e:
            raise ValueError(f"vocabulary: {e}") from None


def chunks(ids: Any, seq_len: int) -> tuple[Any, Any]:
    """min-char-rnn's chunks: ``inputs[n] = ids[p : p+L]``, ``targets[n] = ids[p+1 : p+L+1]``
    for ``p = n L``, n = 0 .. N-1, N = (len(ids) - 1) // L: consecutive, non-overlapping, so
    the state at the end of chunk n is the state to start chunk n+1 from.  Both (N, L)."""
    from rnnx.backends import to_numpy

    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
        raise ValueError(f"seq_len: expected a positive int, got {seq_len!r}")
    a = to_numpy(ids).reshape(-1)
    if len(a) < seq_len + 1:
        raise DataError(f"text: {len(a)} characters, expected at least seq_len + 1 = {seq_len + 1}")
    n = (len(a) - 1) // seq_len
    return a[: n * seq_len].reshape(n, seq_len), a[1 : n * seq_len + 1].reshape(n, seq_len)


def one_hot(ids: Any, size: int, *, xp: Any, dtype: Any, device: Any = None) -> Any:
    """``e[..., v] = 1 if ids[...] == v else 0``: ids (...) -> (..., size) in ``xp``, by
    comparing ``ids[..., None]`` with ``xp.arange(size)``."""
    k = xp.asarray(ids, device=device)
    r = xp.arange(size, dtype=k.dtype, device=device)
    return xp.astype(xp.expand_dims(k, axis=-1) == r, dtype)


def _check_sampling(prime: Any, length: Any, temperature: Any, seed: Any) -> None:
    """One-line errors for :func:`sample`'s arguments."""
    if not isinstance(prime, str) or not prime:
        raise ValueError(f"prime: expected at least one character, got {prime!r:.40}")
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise ValueError(f"length: expected an int >= 0, got {length!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
            or not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature: expected a finite number > 0, got {temperature!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: expected an int >= 0, got {seed!r}")


def _check_model(model: Any, vocab: Vocabulary) -> None:
    """The model reads and scores the vocabulary's characters at every step."""
    sizes = (model.layer.input_size, model.output_size)
    if sizes != (vocab.size, vocab.size) or model.objective != "many-to-many":
        raise ValueError(f"model: input_size {sizes[0]}, output_size {sizes[1]}, {model.objective}; expected "
                         f"input and output sizes {vocab.size} (the vocabulary) and many-to-many")


def _probabilities(logits: Any, temperature: float, *, xp: Any) -> Any:
    """``softmax(z / tau)`` of logits (V,), computed as ``exp((z - max z) / tau)`` normalised:
    no overflow for any tau > 0 (at tau -> 0+ every non-maximal logit gets probability 0)."""
    e = xp.exp((logits - xp.max(logits)) / temperature)
    return e / xp.sum(e)


def sample(model: Any, params: dict, vocab: Vocabulary, *, prime: str, length: int, temperature: float,
           seed: int) -> str:
    """``length`` characters drawn from ``model`` after reading ``prime``: the prime's
    one-hot (T, 1, V) sets the state, then each step draws the next character from
    ``softmax(logits / temperature)`` (a NumPy ``default_rng(seed)`` on the host: inverse
    CDF of one uniform), feeds it back one-hot and carries the state.  The same arguments
    give the same text; ``temperature`` -> 0+ picks the most likely character.  Arrays are
    made in the namespace, dtype and device of ``params['weight_hy']``."""
    import array_api_compat as compat
    import numpy as np

    from rnnx.backends import to_numpy

    _check_sampling(prime, length, temperature, seed)
    _check_model(model, vocab)
    ids = vocab.encode(prime, name="prime")
    w = params.get("weight_hy") if hasattr(params, "get") else None
    if w is None:
        raise ValueError(f"params: expected the model's parameters (a dict with 'weight_hy'), got {type(params).__name__}")
    xp, device = compat.array_namespace(w), compat.device(w)
    rng = np.random.default_rng(seed)

    def step(k: Any, state: Any) -> tuple[int, Any]:
        x = one_hot(xp.asarray([[int(v)] for v in k], device=device), vocab.size, xp=xp, dtype=w.dtype,
                    device=device)  # (T, 1, V)
        pred, state = model.predict(params, x, state)
        cdf = np.cumsum(to_numpy(_probabilities(pred[-1, 0, :], temperature, xp=xp)).astype(np.float64))
        return min(int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")), vocab.size - 1), state

    out: list[int] = []
    feed, state = ids, None
    while len(out) < length:
        k, state = step(feed, state)
        out.append(k)
        feed = [k]
    return "".join(vocab.chars[k] for k in out)
