r"""Host-side text for a character model: reading a text file, its vocabulary, the ids,
min-char-rnn's chunks, one-hot inputs and sampling from a trained model (:mod:`rnnx.text`
trains and scores one on these).

A text of characters :math:`c_0 \dots c_{n-1}` becomes ids :math:`k_j` = the index of
:math:`c_j` in the sorted vocabulary; the model reads one-hot :math:`x_t = e_{k_t}` and its
logits :math:`z_t` (V,) score the next character: :math:`p(c_{t+1} = v) =
\mathrm{softmax}(z_t / \tau)_v` at temperature :math:`\tau`.  File errors are one
:class:`~rnnx.data.DataError` line starting ``text:`` that names the file.  (NumPy is
imported inside functions; the one-hot and softmax go through the array namespace.)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from rnnx.data import DataChanged, DataError, check_sha256, decode, read_bytes

__all__ = ["MAX_TEXT_BYTES", "MAX_VOCABULARY", "Vocabulary", "bundled_text", "chunks", "host_ids", "ids_record",
           "one_hot", "read_text", "read_text_digest", "sample", "stream_chunks"]


#: The largest text file :func:`read_text` reads (bytes); a larger one is refused unread.
MAX_TEXT_BYTES = 64 * 2**20
#: The most distinct characters a text :func:`read_text` reads may hold: a character model
#: reads them one-hot and scores every one at every step (its input and output layers grow
#: with them), so a text of more (1.1 million: every Unicode character) is refused.
MAX_VOCABULARY = 2**16


def read_text(path: str) -> str:
    """The text of a UTF-8 file (a leading BOM skipped) of at most :data:`MAX_TEXT_BYTES`,
    read by :mod:`rnnx.data`'s file reader (the one the CSV files go through); a missing,
    empty, too big, UTF-16 or non-UTF-8 file (the byte, its offset and line named), one
    holding a NUL byte or more than :data:`MAX_VOCABULARY` distinct characters is one
    DataError ``text: '<path>' ...``."""
    return read_text_digest(path)[0]


def read_text_digest(path: str, *, sha256: str | None = None) -> tuple[str, str]:
    """:func:`read_text`'s text and the SHA-256 (hex) of the file's bytes, read once; with
    ``sha256`` given and different, :class:`rnnx.data.DataChanged` is raised before any
    byte is decoded (its message holds nothing of the file)."""
    import hashlib

    expected = check_sha256(sha256)
    raw = read_bytes(path, "text", limit=MAX_TEXT_BYTES, limit_name="MAX_TEXT_BYTES")
    digest = hashlib.sha256(raw).hexdigest()
    if expected is not None and digest != expected:
        raise DataChanged(f"text: {path!r} changed since the run began "
                          f"(sha256 {digest[:12]}... now, {expected[:12]}... recorded)")
    text = decode(path, raw, "text")
    if not text:
        raise DataError(f"text: {path!r} is empty; expected some text")
    distinct = len(set(text))
    if distinct > MAX_VOCABULARY:
        raise DataError(f"text: {path!r} has {distinct} distinct characters (the vocabulary of a character model, "
                        f"read one-hot and scored at every step); expected at most {MAX_VOCABULARY} (MAX_VOCABULARY)")
    return text, digest


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


def _positive_int(name: str, v: Any) -> None:
    """``name``: a positive int, else one ValueError line."""
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{name}: expected a positive int, got {v!r}")


def host_ids(ids: Any, vocab_size: int) -> Any:
    """``ids`` as a 1-D NumPy int64 array of values in [0, vocab_size)."""
    import numpy as np

    from rnnx.backends import to_numpy

    try:
        a = to_numpy(ids)
    except (TypeError, ValueError):
        a = np.asarray(ids)
    if a.ndim != 1 or a.dtype.kind not in "iu":
        raise TypeError(f"ids: expected a 1-D array of integer character ids, got shape {tuple(a.shape)} "
                        f"dtype {a.dtype}")
    if len(a) and (int(a.min()) < 0 or int(a.max()) >= vocab_size):
        bad = int(a.min()) if int(a.min()) < 0 else int(a.max())
        raise ValueError(f"ids: id {bad} is outside [0, {vocab_size}) (the model's input_size, its vocabulary)")
    return a.astype(np.int64)


def stream_chunks(ids: Any, *, seq_len: int, streams: int) -> tuple[Any, Any]:
    """The text cut into ``streams`` contiguous streams of S = len(ids) // streams ids
    (the last ``len(ids) % streams`` dropped), each cut by :func:`chunks`: ``inputs[n, :, b]``
    is chunk n of stream b, ``targets`` the next characters; both (N, seq_len, streams)
    NumPy int64, N = (S - 1) // seq_len.  Chunk n + 1 of a stream continues chunk n."""
    import numpy as np

    _positive_int("seq_len", seq_len)
    _positive_int("streams", streams)
    a = np.asarray(ids).reshape(-1)
    if streams == 1:
        x, y = chunks(a, seq_len)
        return x[..., None], y[..., None]
    s = len(a) // streams
    if s < seq_len + 1:
        raise DataError(f"text: {len(a)} characters make {streams} streams of {s}, expected at least "
                        f"seq_len + 1 = {seq_len + 1} characters per stream")
    parts = [chunks(a[b * s:(b + 1) * s], seq_len) for b in range(streams)]
    return np.stack([p[0] for p in parts], axis=-1), np.stack([p[1] for p in parts], axis=-1)


def ids_record(ids: Any, vocab_size: int) -> dict:
    """The ids' count and SHA-256 (of their little-endian int64 bytes): a resumed run's must be its own."""
    import hashlib

    a = host_ids(ids, vocab_size)
    return {"n": int(len(a)), "sha256": hashlib.sha256(a.astype("<i8").tobytes()).hexdigest()}
