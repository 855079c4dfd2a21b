"""``rnnx.RNN``, ``rnnx.LSTM``, ``rnnx.GRU``: thin configuration objects with PyTorch's
constructor arguments and parameter layout, whose methods run the pure functions.

    layer = rnnx.LSTM(input_size, hidden_size, num_layers=1, bias=True,
                      batch_first=False, bidirectional=False)
    params = layer.init_params(xp, seed=0, dtype=xp.float64)
    y, state = layer(params, x, state0, lengths=lengths)
    y, state, cache = layer.forward(params, x, state0, lengths=lengths)
    dparams, dx, dstate0 = layer.backward(params, cache, dy, dstate)

Shapes (time-major; with ``batch_first=True`` x and y are (B, T, .)):
    x (T, B, I) or unbatched (T, I);  y (T, B, D*H);  lengths (B,) integers in [1, T];
    state (L*D, B, H) for RNN/GRU, a pair (h, c) of those for LSTM.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import array_api_compat as compat

from rnnx import checks
from rnnx import params as P
from rnnx import stack
from rnnx._xp import namespace
from rnnx.cells import CELLS, Cell

__all__ = ["RNN", "LSTM", "GRU", "Cache"]


@dataclass(frozen=True)
class Cache:
    """What :meth:`backward` needs from :meth:`forward`.

    ``data`` holds arrays only (a pytree); the layout flags are static, so a Cache passes
    in and out of ``jax.jit`` (it is registered as a JAX pytree on first use with JAX).
    """

    data: dict
    unbatched: bool
    y_shape: tuple[int, ...]
    checkpoint: Any = None

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays the cache holds (the caller's x not counted)."""
        return stack.cache_nbytes(self.data)


def _register_for(xp: Any) -> None:
    if compat.is_jax_namespace(xp):
        from rnnx.backends.jax import register_pytree

        register_pytree(Cache, data_fields=("data",), meta_fields=("unbatched", "y_shape", "checkpoint"))


class _Layer:
    """Shared machinery of the three layer types (not public)."""

    cell_name: str = ""
    _type: str = ""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        bidirectional: bool = False,
    ) -> None:
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: expected a positive int, got {v!r}")
        for name, v in (("bias", bias), ("batch_first", batch_first), ("bidirectional", bidirectional)):
            if not isinstance(v, bool):
                raise TypeError(f"{name}: expected a bool, got {v!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional

    # -- configuration ----------------------------------------------------------------
    @property
    def cell(self) -> Cell:
        return CELLS[self.cell_name]

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _config(self) -> tuple:
        return (self.cell_name, self.input_size, self.hidden_size, self.num_layers,
                self.bias, self.batch_first, self.bidirectional)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self._config() == other._config()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._config())

    def __repr__(self) -> str:
        extra = "".join(
            f", {k}={getattr(self, k)!r}"
            for k, default in (("num_layers", 1), ("nonlinearity", "tanh"), ("bias", True),
                               ("batch_first", False), ("bidirectional", False), ("reset_after", True))
            if hasattr(self, k) and getattr(self, k) != default
        )
        return f"{self._type}({self.input_size}, {self.hidden_size}{extra})"

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Parameter keys and shapes, as in the matching ``torch.nn`` module's state_dict."""
        return P.shapes(gates=self.cell.gates, input_size=self.input_size, hidden_size=self.hidden_size,
                        num_layers=self.num_layers, num_directions=self.num_directions, bias=self.bias)

    def init_params(self, xp: Any, *, seed: int = 0, dtype: Any = None, device: Any = None) -> dict[str, Any]:
        """Parameters drawn from U(-1/sqrt(H), 1/sqrt(H)) like PyTorch, reproducible from
        ``seed`` bit for bit on every backend.  ``dtype`` defaults to the namespace's
        default floating dtype; ``xp`` may be a library or its array-api-compat wrapper."""
        xp = compat.array_namespace(xp.asarray(0.0, device=device))
        if dtype is None:
            dtype = xp.__array_namespace_info__().default_dtypes(device=device)["real floating"]
        if not xp.isdtype(dtype, "real floating"):
            raise TypeError(f"dtype: expected a real floating dtype, got {dtype}")
        return P.init(xp, self.param_shapes(), hidden_size=self.hidden_size, seed=seed, dtype=dtype, device=device)

    # -- forward / backward -------------------------------------------------------------
    def __call__(self, params, x, state0=None, *, lengths=None):
        """``y, state = layer(params, x, state0, lengths=...)``; see :meth:`forward`."""
        y, state, _ = self._forward(params, x, state0, lengths=lengths, checkpoint=None, keep=False)
        return y, state

    def _state_shape(self, batch: int | None) -> tuple[int, ...]:
        lead = self.num_layers * self.num_directions
        return (lead, self.hidden_size) if batch is None else (lead, batch, self.hidden_size)

    def _pack(self, state: tuple[Any, ...]) -> Any:
        return state if self.cell.state_size == 2 else state[0]

    def forward(self, params, x, state0=None, *, lengths=None, checkpoint=None):
        """Run the network over ``x``; returns ``(y, state, cache)``.

        params: dict in torch's state_dict layout (see :meth:`param_shapes`).
        x: (T, B, I), or (B, T, I) with batch_first, or unbatched (T, I).
        state0: initial state (L*D, B, H) (a pair (h0, c0) for LSTM); None means zeros.
        lengths: (B,) integers in [1, T] for variable-length sequences: outputs past a
            sequence's end are zero, its final state is that of its last valid step, and
            the reverse direction starts there, exactly like a packed sequence in torch.
        checkpoint: memory-bounded BPTT.  ``k`` (or ``"sqrt"`` for ceil(sqrt(T))) keeps only
            every k-th state; :meth:`backward` recomputes one k-step segment at a time.  The
            cache holds O(T/k) states instead of O(T); the gradients are the same.
        """
        return self._forward(params, x, state0, lengths=lengths, checkpoint=checkpoint, keep=True)

    def _forward(self, params, x, state0, *, lengths, checkpoint, keep):
        """:meth:`forward`; ``keep=False`` (``__call__``, inference) keeps no cache: the loop
        stacks only the outputs, not every state and gate activation."""
        if isinstance(lengths, (list, tuple)):
            lengths = compat.array_namespace(x).asarray(lengths, device=compat.device(x))
        xp = namespace(x=x, lengths=lengths, **_named_state("state0", state0),
                       **{f"params[{k!r}]": v for k, v in (params.items() if hasattr(params, "items") else ())})
        _register_for(xp)
        unbatched = checks.x_input(x, input_size=self.input_size, batch_first=self.batch_first, xp=xp)
        checks.params(params, self.param_shapes(), dtype=x.dtype, layer=repr(self))
        if unbatched:
            x = xp.expand_dims(x, axis=1)
        elif self.batch_first:
            x = xp.permute_dims(x, (1, 0, 2))
        T, B, _ = x.shape
        dev = compat.device(x)
        if state0 is None:
            zeros = xp.zeros(self._state_shape(B), dtype=x.dtype, device=dev)
            s0 = (zeros,) * self.cell.state_size
        else:
            s0 = checks.state("state0", state0, size=self.cell.state_size, cell=self._type,
                              expected=self._state_shape(None if unbatched else B), dtype=x.dtype)
            if unbatched:
                s0 = tuple(xp.expand_dims(s, axis=1) for s in s0)
        mask = None
        if lengths is not None:
            checks.lengths(lengths, batch=None if unbatched else B, steps=T, xp=xp)
            t = xp.arange(T, dtype=lengths.dtype, device=dev)
            mask = xp.expand_dims(xp.expand_dims(t, axis=1) < xp.expand_dims(lengths, axis=0), axis=2)
        k = stack.segment_length(checkpoint, T)
        y, state, data = stack.forward(self.cell, params, x, s0, mask, num_layers=self.num_layers,
                                       num_directions=self.num_directions, bias=self.bias, xp=xp, checkpoint=k,
                                       keep=keep)
        y, state = self._unlayout(y, state, unbatched, xp=xp)
        return y, self._pack(state), (Cache(data, unbatched, tuple(y.shape), k) if keep else None)

    def _unlayout(self, y, state, unbatched, *, xp):
        if unbatched:
            return y[:, 0, :], tuple(s[:, 0, :] for s in state)
        if self.batch_first:
            y = xp.permute_dims(y, (1, 0, 2))
        return y, state

    def backward(self, params, cache, dy, dstate=None):
        """Explicit, hand-derived BPTT through :meth:`forward`.

        cache: the third result of :meth:`forward`; dy: dL/dy, the shape of ``y``;
        dstate: dL/d(final state), the shape of ``state`` (None means zero).
        Returns ``(dparams, dx, dstate0)``: dparams keyed like ``params``, dx the shape of
        ``x``, dstate0 the shape of the initial state (a pair for LSTM).
        """
        if not isinstance(cache, Cache):
            raise TypeError(f"cache: expected the Cache returned by forward(), got {type(cache).__name__}")
        x0 = cache.data["layers"][0]["x"]
        xp = namespace(dy=dy, x=x0, **_named_state("dstate", dstate),
                       **{f"params[{k!r}]": v for k, v in (params.items() if hasattr(params, "items") else ())})
        checks.params(params, self.param_shapes(), dtype=x0.dtype, layer=repr(self))
        checks.shape("dy", dy, cache.y_shape, " (the shape of y)")
        checks.same_dtype("dy", dy, x0.dtype)
        T, B, _ = x0.shape
        if dstate is None:
            zeros = xp.zeros(self._state_shape(B), dtype=x0.dtype, device=compat.device(x0))
            ds = (zeros,) * self.cell.state_size
        else:
            ds = checks.state("dstate", dstate, size=self.cell.state_size, cell=self._type,
                              expected=self._state_shape(None if cache.unbatched else B), dtype=x0.dtype)
            if cache.unbatched:
                ds = tuple(xp.expand_dims(s, axis=1) for s in ds)
        if cache.unbatched:
            dy = xp.expand_dims(dy, axis=1)
        elif self.batch_first:
            dy = xp.permute_dims(dy, (1, 0, 2))
        dparams, dx, ds0 = stack.backward(self.cell, params, cache.data, dy, ds, num_layers=self.num_layers,
                                          num_directions=self.num_directions, bias=self.bias, xp=xp,
                                          checkpoint=cache.checkpoint)
        dx, ds0 = self._unlayout(dx, ds0, cache.unbatched, xp=xp)
        return dparams, dx, self._pack(ds0)


def _named_state(name: str, s: Any) -> dict[str, Any]:
    if isinstance(s, (tuple, list)):
        return {f"{name}[{i}]": a for i, a in enumerate(s)}
    return {name: s}


class RNN(_Layer):
    """Elman RNN, ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``, act = tanh or relu.

    ``RNN(input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
    batch_first=False, bidirectional=False)``, as ``torch.nn.RNN``.
    """

    _type = "RNN"

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, bidirectional=False):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self.cell_name = f"rnn_{nonlinearity}"
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, bidirectional)


class LSTM(_Layer):
    """LSTM, gates i, f, g, o; ``c' = f*c + i*g``, ``h' = o*tanh(c')``; state ``(h, c)``.

    ``LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
    bidirectional=False)``, as ``torch.nn.LSTM``.
    """

    _type = "LSTM"
    cell_name = "lstm"


class GRU(_Layer):
    """GRU, gates r, z, n; ``n = tanh(W_in x + b_in + r*(W_hn h + b_hn))``,
    ``h' = (1-z)*n + z*h``.

    ``GRU(input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
    bidirectional=False, reset_after=True)``, as ``torch.nn.GRU``.  ``reset_after=False``
    is the other form (Keras ``reset_after=False``, Cho et al. 2014):
    ``n = tanh(W_in x + b_in + W_hn (r*h) + b_hn)``, same parameter layout.
    """

    _type = "GRU"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 bidirectional=False, reset_after=True):
        if not isinstance(reset_after, bool):
            raise TypeError(f"reset_after: expected a bool, got {reset_after!r}")
        self.reset_after = reset_after
        self.cell_name = "gru" if reset_after else "gru_reset_before"
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, bidirectional)
