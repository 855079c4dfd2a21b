"""Recurrent layers: thin configuration objects with PyTorch's constructor arguments and
parameter layout, whose methods run the pure functions.  Every cell and option comes from
the registry (:data:`rnnx.cells.CELLS`) through one factory, :func:`layer`.

    layer = rnnx.layer("lstm", input_size, hidden_size, num_layers=1, proj_size=0)
    layer = rnnx.LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                      bidirectional=False, dropout=0.0, proj_size=0, activation="tanh", ...)
    params = layer.init_params(xp, seed=0, dtype=xp.float64)
    y, state = layer(params, x, state0, lengths=lengths)                  # inference
    y, state, cache = layer.forward(params, x, state0, lengths=lengths,
                                    train=True, seed=step)                 # dropout masks
    dparams, dx, dstate0 = layer.backward(params, cache, dy, dstate)
    same = rnnx.layer_from_config(layer.config())

Shapes (time-major; with ``batch_first=True`` x and y are (B, T, .)):
    x (T, B, I) or unbatched (T, I);  y (T, B, D*R);  lengths (B,) integers in [1, T];
    state (L*D, B, R) for RNN/GRU, a pair (h (L*D, B, R), c (L*D, B, H)) for LSTM;
    R = H, or an LSTM's proj_size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import array_api_compat as compat

from rnnx import checks
from rnnx.nn import stack
from rnnx.nn import params as P
from rnnx._xp import index_dtype, namespace, where, zeros_like_of
from rnnx.backends import capabilities, standard_refusal
from rnnx.cells import CELLS, CellSpec
from rnnx.cells import spec as cell_spec
from rnnx.cells.spec import Option, boolean, positive_int

__all__ = ["Recurrent", "RNN", "LSTM", "GRU", "Cache", "GradientFlow", "layer", "layer_from_config", "LAYER_OPTIONS",
           "named_state"]


@dataclass(frozen=True)
class Cache:
    """What :meth:`Recurrent.backward` needs from :meth:`Recurrent.forward`.

    ``data`` holds arrays only (a pytree); the layout flags are static, so a Cache passes
    in and out of ``jax.jit`` (registered through the backend's capability record on first
    use with a backend that has pytrees).
    """

    data: dict
    unbatched: bool
    y_shape: tuple[int, ...]
    checkpoint: Any = None

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays the cache holds (the caller's x not counted)."""
        return stack.cache_nbytes(self.data)


@dataclass(frozen=True)
class GradientFlow:
    """The gradient flow of one backward pass (``backward(..., collect=...)``): per layer l,
    direction d (0 forward, 1 reverse, both indexed in forward time) and step t.

    With ``collect="norms"``, Euclidean norms over the units, each (L, D, T, B):

    ``h[l, d, t, b] = ||dL/dh_t||``
        the TOTAL gradient of the loss with respect to h_t, through the output y_t and
        through every later step (the recurrence), for sequence b: what BPTT's loop carries
        into step t's cell (with ``dstate``, dL/d(final state), added at the last step).
    ``c[l, d, t, b] = ||dL/dc_t||`` (LSTM only; ``None`` for a cell without a cell state)
        the gradient the cell state carries into step t+1: dL/d(c_t + e) at e = 0 for a
        perturbation e of the state the next step reads, with h_t = o_t * phi(c_t) held
        fixed (that path is in ``h``).
    ``x[l, d, t, b] = ||dL/dx_t||``
        the gradient into layer l's input at step t through direction d, ``da_x W_ih``
        (layer 0: the model's x; above: the layer below's output after its dropout mask);
        the layer's whole input gradient is the sum over d of the ``"units"`` arrays.

    With ``collect="units"`` the gradients themselves: ``h`` (L, D, T, B, R), ``c``
    (L, D, T, B, H), and ``x`` a tuple of L arrays (D, T, B, I_l) (I_0 = I, else D*R).

    Padded steps (``lengths``: t >= L_b) hold 0: nothing enters the cell there (the state
    passes through).  Always time-major ([layer, direction, step, sequence], also with
    ``batch_first``); an unbatched x drops the B axis.  Extra memory: O(T*B) per layer and
    direction for norms (three (T, B) arrays at most), O(T*B*H) for units.  A pytree under
    ``jax.jit`` (``collect`` is static).
    """

    h: Any
    c: Any
    x: Any
    collect: str = "norms"


def _positive(name: str, v: Any, opts: Any, hidden_size: int) -> None:
    positive_int(name, v)


def _dropout(name: str, v: Any, opts: Any, hidden_size: int) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0.0 <= v < 1.0):
        raise ValueError(f"{name}: expected a probability in [0, 1), got {v!r}")
    if v > 0 and opts["num_layers"] == 1:
        raise ValueError(f"{name}: {v} acts between stacked layers and would do nothing with num_layers=1 "
                         "(torch only warns; rnnx refuses); expected dropout=0 or num_layers > 1")


#: The options every layer has, whatever its cell (PyTorch's constructor arguments).
LAYER_OPTIONS: tuple[Option, ...] = (
    Option("num_layers", 1, "stacked recurrent layers", _positive),
    Option("bias", True, "the biases bias_ih and bias_hh", boolean, (True, False)),
    Option("batch_first", False, "x and y are (B, T, .) instead of (T, B, .)", boolean, (True, False)),
    Option("bidirectional", False, "a second direction running backwards in time", boolean, (True, False)),
    Option("dropout", 0.0, "p: in training (forward(train=True, seed=...)), each layer's input but the first "
           "is zeroed with probability p and scaled by 1/(1-p), as torch's dropout=", _dropout),
)
_LAYER_DEFAULTS = {o.name: o.default for o in LAYER_OPTIONS}
_CLASSES: dict[str, type] = {}


def layer(cell: str, input_size: int, hidden_size: int, **options: Any) -> Recurrent:
    """The one factory: a layer of the registry's ``cell`` (``"rnn"``, ``"lstm"``, ``"gru"``)
    with the layer options (:data:`LAYER_OPTIONS`) and the cell's own options; an option
    the cell does not have is a ``TypeError`` naming it."""
    spec = cell_spec(cell)
    cls = _CLASSES.get(spec.name)
    return cls(input_size, hidden_size, **options) if cls else Recurrent(spec, input_size, hidden_size, **options)


def layer_from_config(cfg: dict) -> Recurrent:
    """Inverse of :meth:`Recurrent.config`."""
    cfg = dict(cfg)
    if "cell" not in cfg:
        raise ValueError(f"config: expected a 'cell' key (one of {', '.join(CELLS)}), got keys {sorted(cfg)}")
    return layer(cfg.pop("cell"), **cfg)


class Recurrent:
    """Recurrent layer(s) of one cell: ``Recurrent(cell, input_size, hidden_size, **options)``.

    ``cell`` is a registry name or a :class:`~rnnx.cells.spec.CellSpec`; ``options`` are the
    layer options (num_layers, bias, batch_first, bidirectional, dropout) and the cell's
    (``spec.options``), each validated; their values are attributes (``layer.proj_size``).
    """

    def __init__(self, cell: str | CellSpec, input_size: int, hidden_size: int, **options: Any) -> None:
        self.spec: CellSpec = cell if isinstance(cell, CellSpec) else cell_spec(cell)
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size)):
            positive_int(name, v)
        layer_opts = {**_LAYER_DEFAULTS, **{k: options.pop(k) for k in list(options) if k in _LAYER_DEFAULTS}}
        for o in LAYER_OPTIONS:
            o.check(o.name, layer_opts[o.name], layer_opts, hidden_size)
        self.input_size, self.hidden_size = input_size, hidden_size
        self.num_layers, self.bias = layer_opts["num_layers"], layer_opts["bias"]
        self.batch_first, self.bidirectional = layer_opts["batch_first"], layer_opts["bidirectional"]
        self.dropout = float(layer_opts["dropout"])
        try:
            self.options = self.spec.resolve(hidden_size, options)
        except TypeError as e:
            raise TypeError(f"{e}; layer options: {', '.join(_LAYER_DEFAULTS)}") from None
        self.kernel = self.spec.kernel(self.options, hidden_size)
        self.output_size = self.spec.output_size(self.options, hidden_size)
        self.state_sizes = self.spec.state_sizes(self.options, hidden_size)
        self._shapes, self._keys = P.layout(
            lambda fan_in: self.spec.param_shapes(self.options, hidden_size, fan_in, self.bias),
            input_size=input_size, output_size=self.output_size, num_layers=self.num_layers,
            num_directions=self.num_directions)

    def __getattr__(self, name: str) -> Any:  # the cell's options as attributes
        opts = self.__dict__.get("options", {})
        if name in opts:
            return opts[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    # -- configuration ----------------------------------------------------------------
    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def config(self) -> dict:
        """Every argument (layer and cell options, defaults included), JSON-able;
        :func:`layer_from_config` inverts it."""
        return {"cell": self.spec.name, "input_size": self.input_size, "hidden_size": self.hidden_size,
                "num_layers": self.num_layers, "bias": self.bias, "batch_first": self.batch_first,
                "bidirectional": self.bidirectional, "dropout": self.dropout, **self.options}

    @classmethod
    def from_config(cls, cfg: dict) -> Recurrent:
        return layer_from_config(cfg)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Recurrent) and self.config() == other.config()

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.config().items())))

    def __repr__(self) -> str:
        defaults = {**_LAYER_DEFAULTS, **self.spec.defaults()}
        cfg = self.config()
        extra = "".join(f", {k}={v!r}" for k, v in cfg.items()
                        if k in defaults and v != defaults[k])
        return f"{self.spec.title}({self.input_size}, {self.hidden_size}{extra})"

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Parameter keys and shapes, as in the matching ``torch.nn`` module's state_dict."""
        return dict(self._shapes)

    def init_params(self, xp: Any, *, seed: int = 0, dtype: Any = None, device: Any = None) -> dict[str, Any]:
        """Parameters drawn from U(-1/sqrt(H), 1/sqrt(H)) like PyTorch, reproducible from
        ``seed`` bit for bit on every backend.  ``dtype`` defaults to the namespace's
        default floating dtype; ``xp`` may be a library or its array-api-compat wrapper."""
        xp = compat.array_namespace(xp.asarray(0.0, device=device))
        refusal = standard_refusal(xp)  # 2022.12 and older: no inspection API for the default dtype
        if refusal is not None:
            raise TypeError(f"xp: {refusal}")
        if dtype is None:
            dtype = xp.__array_namespace_info__().default_dtypes(device=device)["real floating"]
        if not xp.isdtype(dtype, "real floating"):
            raise TypeError(f"dtype: expected a real floating dtype, got {dtype}")
        return P.init(xp, self.param_shapes(), hidden_size=self.hidden_size, seed=seed, dtype=dtype, device=device)

    # -- forward / backward -------------------------------------------------------------
    def __call__(self, params, x, state0=None, *, lengths=None, check_finite=False):
        """``y, state = layer(params, x, state0, lengths=...)``: inference (no dropout, no
        cache); see :meth:`forward` (``check_finite`` too)."""
        y, state, _ = self._forward(params, x, state0, lengths=lengths, checkpoint=None, keep=False, seed=None,
                                    check_finite=check_finite)
        return y, state

    def _state_shapes(self, batch: int | None) -> tuple[tuple[int, ...], ...]:
        lead = self.num_layers * self.num_directions
        return tuple((lead, n) if batch is None else (lead, batch, n) for n in self.state_sizes)

    def _state_labels(self) -> tuple[str, ...]:
        return tuple("hidden_size" if n == self.hidden_size else "proj_size" for n in self.state_sizes)

    def _pack(self, state: tuple[Any, ...]) -> Any:
        return state if len(self.spec.state) > 1 else state[0]

    def forward(self, params, x, state0=None, *, lengths=None, checkpoint=None, train=False, seed=None,
                check_finite=False):
        """Run the network over ``x``; returns ``(y, state, cache)``.

        params: dict in torch's state_dict layout (see :meth:`param_shapes`).
        x: (T, B, I), or (B, T, I) with batch_first, or unbatched (T, I).
        state0: initial state (L*D, B, R) (a pair (h0, c0) for LSTM); None means zeros.
        lengths: (B,) integers in [1, T] for variable-length sequences: outputs past a
            sequence's end are zero, its final state is that of its last valid step, and
            the reverse direction starts there, exactly like a packed sequence in torch
            (steps past the end are never read: NaN padding stays out of every result).
        checkpoint: memory-bounded BPTT.  ``k`` (or ``"sqrt"`` for ceil(sqrt(T))) keeps only
            every k-th state; :meth:`backward` recomputes one k-step segment at a time.  The
            cache holds O(T/k) states instead of O(T); the gradients are the same.
        train, seed: training mode.  With ``dropout`` > 0 a layer's input (but the first
            layer's) is multiplied by a mask drawn from ``seed`` (an int or an integer array
            of shape ()): the same seed gives the same mask on every backend.  Training with
            dropout needs a seed; a seed is refused where no mask is drawn.
        check_finite: False (default) inspects no value.  True raises
            :class:`~rnnx.checks.NonFiniteError` for the first NaN/Inf in ``x`` (its valid
            steps only, with ``lengths``), ``state0``, ``params`` (in :meth:`param_shapes`
            order) before computing, then in ``y`` and ``state``; under ``jax.jit`` it is a
            ``ValueError`` (values of traced arrays cannot be read).
        """
        self.check_seed(train, seed)
        return self._forward(params, x, state0, lengths=lengths, checkpoint=checkpoint, keep=True, seed=seed,
                             check_finite=check_finite)

    def check_seed(self, train: bool, seed: Any) -> None:
        """:meth:`forward`'s rules for ``seed`` (dropout masks): an error naming it where a
        seed is given without dropout in training, or missing, or not an int / 0-d array."""
        if seed is not None and not (train and self.dropout > 0):
            raise ValueError(f"seed: draws dropout masks only with train=True and dropout > 0; got train={train!r}, "
                             f"dropout={self.dropout}")
        if train and self.dropout > 0:
            if seed is None:
                raise ValueError(f"seed: training with dropout={self.dropout} needs a seed for its masks (an int, "
                                 "or an integer array of shape ()); vary it between updates")
            if not isinstance(seed, int) or isinstance(seed, bool):
                if not compat.is_array_api_obj(seed) or seed.ndim != 0:
                    raise TypeError(f"seed: expected an int or an integer array of shape (), got {type(seed).__name__}")

    @staticmethod
    def lengths_array(lengths: Any, x: Any) -> Any:
        """``lengths`` as :meth:`forward` takes it: a list or tuple becomes an array of
        ``x``'s library on its device; anything else is returned as it is."""
        if isinstance(lengths, (list, tuple)):
            return compat.array_namespace(x).asarray(lengths, device=compat.device(x))
        return lengths

    @staticmethod
    def call_arrays(params: Any, x: Any, state0: Any, lengths: Any, seed: Any) -> dict[str, Any]:
        """The arrays of a forward call by name (x, lengths, state0, an array seed, every
        parameter): what :func:`rnnx._xp.namespace` resolves their one namespace from."""
        arrays = {"seed": seed} if seed is not None and compat.is_array_api_obj(seed) else {}
        return {"x": x, "lengths": lengths, **named_state("state0", state0), **arrays,
                **{_param_name(k): v for k, v in (params.items() if hasattr(params, "items") else ())}}

    def forward_in(self, xp, params, x, state0=None, *, lengths=None, train=False, seed=None):
        """:meth:`forward` (no checkpoint, no finite check) in the namespace ``xp`` the caller
        resolved with :func:`rnnx._xp.namespace` from :meth:`call_arrays` of this call (and
        its own arrays): the layer does not resolve it again (a fixed cost of every update,
        ~12 us on NumPy).  Every other check of :meth:`forward` is made."""
        self.check_seed(train, seed)
        return self._forward(params, x, state0, lengths=lengths, checkpoint=None, keep=True, seed=seed,
                             check_finite=False, xp=xp)

    def backward_in(self, xp, params, cache, dy, dstate=None, *, collect=None, input_grad=True):
        """:meth:`backward` (no finite check) for a caller that resolved ``xp`` as for
        :meth:`forward_in` and whose forward checked these very ``params`` (the cache's):
        neither is done again.  ``input_grad=False`` (without ``collect``): dx is not
        formed, None in its place (one product fewer per direction)."""
        if collect is not None:
            check_collect(collect)
        return self._backward(params, cache, dy, dstate, check_finite=False, collect=collect, xp=xp,
                              input_grad=input_grad)

    def _forward(self, params, x, state0, *, lengths, checkpoint, keep, seed, check_finite, xp=None):
        """:meth:`forward`; ``keep=False`` (``__call__``, inference) keeps no cache: the loop
        stacks only the outputs, not every state and gate activation.  ``xp``: the namespace
        the caller resolved from every array of this call (:meth:`call_arrays` and its own,
        e.g. :meth:`rnnx.nn.model.Model.loss_and_grad`), so it is not resolved again; None
        resolves it here."""
        lengths = self.lengths_array(lengths, x)
        arrays = {"seed": seed} if seed is not None and compat.is_array_api_obj(seed) else {}
        if xp is None:
            xp = namespace(**self.call_arrays(params, x, state0, lengths, seed))
        _register_for(xp)
        unbatched = checks.x_input(x, input_size=self.input_size, batch_first=self.batch_first, xp=xp)
        checks.params(params, self._shapes, dtype=x.dtype, layer=self)
        x_user = x
        if arrays and not xp.isdtype(seed.dtype, "integral"):
            raise TypeError(f"seed: expected an integer array, got dtype {seed.dtype}")
        if unbatched:
            x = xp.expand_dims(x, axis=1)
        elif self.batch_first:
            x = xp.permute_dims(x, (1, 0, 2))
        T, B, _ = x.shape
        if state0 is None:
            s0 = tuple(zeros_like_of(s, x, xp=xp) for s in self._state_shapes(B))
        else:
            s0 = checks.state("state0", state0, components=self.spec.state, cell=self.spec.title,
                              expected=self._state_shapes(None if unbatched else B), dtype=x.dtype,
                              sizes=self._state_labels())
            if unbatched:
                s0 = tuple(xp.expand_dims(s, axis=1) for s in s0)
        mask = None
        if lengths is not None:
            dev = compat.device(x)
            it = index_dtype(xp, dev)  # compare in the default integer dtype: a uint8 length never wraps
            lengths = checks.lengths(lengths, batch=None if unbatched else B, steps=T, xp=xp, dtype=it)
            t = xp.arange(T, dtype=it, device=dev)
            mask = xp.expand_dims(xp.expand_dims(t, axis=1) < xp.expand_dims(lengths, axis=0), axis=2)
            x = where(mask, x, 0.0, xp=xp)  # padding is never read: 0 * NaN there must not reach a gradient
        if check_finite:  # x as the caller laid it out (its padding zeroed), so indices are theirs
            x_seen = x_user if mask is None else self._user_layout(x, xp=xp)
            checks.all_finite({"x": x_seen, **named_state("state0", state0), **self._named_params(params)},
                              xp=xp)
        k = stack.segment_length(checkpoint, T)
        y, state, data = stack.forward(self.kernel, params, self._keys, x, s0, mask, num_layers=self.num_layers,
                                       num_directions=self.num_directions, bias=self.bias, xp=xp, checkpoint=k,
                                       keep=keep, dropout=self.dropout, seed=seed)
        y, state = self._unlayout(y, state, unbatched, xp=xp)
        if check_finite:
            checks.all_finite({"y": y, **named_state("state", self._pack(state))}, xp=xp)
        return y, self._pack(state), (Cache(data, unbatched, tuple(y.shape), k) if keep else None)

    def _unlayout(self, y, state, unbatched, *, xp):
        if unbatched:
            return y[:, 0, :], tuple(s[:, 0, :] for s in state)
        return self._user_layout(y, xp=xp), state

    def _user_layout(self, a, *, xp):
        """A batched time-major (T, B, .) array in the caller's layout ((B, T, .) with batch_first)."""
        return xp.permute_dims(a, (1, 0, 2)) if self.batch_first else a

    def _named_params(self, params, prefix="params"):
        """``params`` (or gradients) keyed ``params['<key>']``, in :meth:`param_shapes` order."""
        return {f"{prefix}[{k!r}]": params[k] for k in self._shapes}

    def backward(self, params, cache, dy, dstate=None, *, check_finite=False, collect=None):
        """Explicit, hand-derived BPTT through :meth:`forward` (through its dropout masks).

        cache: the third result of :meth:`forward`; dy: dL/dy, the shape of ``y``;
        dstate: dL/d(final state), the shape of ``state`` (None means zero).
        Returns ``(dparams, dx, dstate0)``: dparams keyed like ``params``, dx the shape of
        ``x``, dstate0 the shape of the initial state (a pair for LSTM).
        check_finite: True raises :class:`~rnnx.checks.NonFiniteError` for the first NaN/Inf
        in ``dy`` (its valid steps only, with ``lengths``), ``dstate``, ``params`` before
        computing, then in ``grads['<key>']``, ``dx``, ``dstate0``; see :meth:`forward`.
        collect: None (default: nothing more is formed, the results bit for bit those
            without it), ``"norms"`` or ``"units"``: a fourth result, the
            :class:`GradientFlow` (per layer, direction and step, dL/dh_t, dL/dc_t for the
            LSTM and dL/dx_t, read from the backward loop; extra memory O(T*B) per layer
            and direction for norms, O(T*B*H) for units).
        """
        if not isinstance(cache, Cache):
            raise TypeError(f"cache: expected the Cache returned by forward(), got {type(cache).__name__}")
        if collect is not None:
            check_collect(collect)
        return self._backward(params, cache, dy, dstate, check_finite=check_finite, collect=collect)

    def _backward(self, params, cache, dy, dstate, *, check_finite, collect, xp=None, input_grad=True):
        """:meth:`backward` after its checks of ``cache`` and ``collect``.  ``xp``: the
        namespace a caller resolved from every array of this call, and whose forward already
        checked these very ``params`` (:meth:`rnnx.nn.model.Model.loss_and_grad`): neither is
        done again; None does both here."""
        x0 = cache.data["layers"][0]["x"]
        if xp is None:
            xp = namespace(dy=dy, x=x0, **named_state("dstate", dstate),
                           **{f"params[{k!r}]": v for k, v in (params.items() if hasattr(params, "items") else ())})
            checks.params(params, self._shapes, dtype=x0.dtype, layer=self)
        checks.shape("dy", dy, cache.y_shape, " (the shape of y)")
        checks.same_dtype("dy", dy, x0.dtype)
        T, B, _ = x0.shape
        if dstate is None:
            ds = tuple(zeros_like_of(s, x0, xp=xp) for s in self._state_shapes(B))
        else:
            ds = checks.state("dstate", dstate, components=self.spec.state, cell=self.spec.title,
                              expected=self._state_shapes(None if cache.unbatched else B), dtype=x0.dtype,
                              sizes=self._state_labels())
            if cache.unbatched:
                ds = tuple(xp.expand_dims(s, axis=1) for s in ds)
        dy_user = dy
        if cache.unbatched:
            dy = xp.expand_dims(dy, axis=1)
        elif self.batch_first:
            dy = xp.permute_dims(dy, (1, 0, 2))
        mask = cache.data["mask"]
        if check_finite:  # past a sequence's end dy is never read (as x in forward)
            dy_seen = dy_user if mask is None else self._user_layout(where(mask, dy, 0.0, xp=xp), xp=xp)
            checks.all_finite({"dy": dy_seen, **named_state("dstate", dstate), **self._named_params(params)},
                              xp=xp)
        dparams, dx, ds0, *flows = stack.backward(self.kernel, params, self._keys, cache.data, dy, ds,
                                                  num_layers=self.num_layers, num_directions=self.num_directions,
                                                  bias=self.bias, xp=xp, checkpoint=cache.checkpoint,
                                                  collect=collect, input_grad=input_grad)
        if dx is None:
            _, ds0 = self._unlayout(dy, ds0, cache.unbatched, xp=xp)
        else:
            dx, ds0 = self._unlayout(dx, ds0, cache.unbatched, xp=xp)
        if check_finite:
            checks.all_finite({**self._named_params(dparams, "grads"), "dx": dx,
                               **named_state("dstate0", self._pack(ds0))}, xp=xp)
        if collect is None:
            return dparams, dx, self._pack(ds0)
        return dparams, dx, self._pack(ds0), self._flow(flows[0], collect, cache.unbatched, xp=xp)

    def _flow(self, raw: dict, collect: str, unbatched: bool, *, xp: Any) -> GradientFlow:
        """:class:`GradientFlow` from :func:`rnnx.nn.stack.backward`'s raw record (norms of x
        stacked over layers; an unbatched x's B axis dropped)."""
        drop = (lambda a: a[:, :, :, 0, ...]) if unbatched else (lambda a: a)  # noqa: E731
        state = tuple(drop(a) for a in raw["state"])
        xs = tuple(a[:, :, 0, ...] if unbatched else a for a in raw["x"])
        x = xp.stack(xs, axis=0) if collect == "norms" else xs
        c = state[self.spec.state.index("c")] if "c" in self.spec.state else None
        return GradientFlow(h=state[0], c=c, x=x, collect=collect)


_PARAM_NAMES: dict[Any, str] = {}


def _param_name(key: Any) -> str:
    """``params['<key>']``, formed once per key (every update names every parameter)."""
    try:
        return _PARAM_NAMES[key]
    except (KeyError, TypeError):  # TypeError: an unhashable key, named afresh
        name = f"params[{key!r}]"
        if isinstance(key, str) and len(_PARAM_NAMES) < 4096:
            _PARAM_NAMES[key] = name
        return name


def check_collect(collect: Any) -> None:
    """``collect``: None, ``"norms"`` or ``"units"`` (``ValueError`` naming it otherwise)."""
    if collect is not None and collect not in stack.COLLECT:
        raise ValueError(f"collect: expected None, {' or '.join(map(repr, stack.COLLECT))}, got {collect!r}")


def _register_for(xp: Any) -> None:
    register = capabilities(xp).register_pytree
    if register is not None:
        register(Cache, data_fields=("data",), meta_fields=("unbatched", "y_shape", "checkpoint"))
        register(GradientFlow, data_fields=("h", "c", "x"), meta_fields=("collect",))


def named_state(name: str, s: Any) -> dict[str, Any]:
    """A state argument by name: ``{name: h}``, ``{name[0]: h, name[1]: c}``, or ``{}`` for None."""
    if s is None:
        return {}
    if isinstance(s, (tuple, list)):
        return {f"{name}[{i}]": a for i, a in enumerate(s)}
    return {name: s}


def _fixed_cell(spec_name: str, doc: str) -> type:
    """The layer class of one registry cell: ``LSTM(input_size, hidden_size, num_layers=1,
    **options)``."""
    spec = CELLS[spec_name]

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, **options: Any) -> None:
        Recurrent.__init__(self, spec, input_size, hidden_size, num_layers=num_layers, **options)

    opts = ", ".join(f"{o.name}={o.default!r}" for o in (*LAYER_OPTIONS[1:], *spec.options))
    cls = type(spec.title, (Recurrent,), {
        "__init__": __init__, "__module__": __name__,
        "__doc__": f"{doc}\n\n    ``{spec.title}(input_size, hidden_size, num_layers=1, {opts})``; options: "
                   + "; ".join(f"``{o.name}``: {o.help}" for o in spec.options) + "."})
    _CLASSES[spec_name] = cls
    return cls


RNN = _fixed_cell("rnn", "Elman RNN, ``h' = phi(W_ih x + b_ih + W_hh h + b_hh)``, as ``torch.nn.RNN``.")
LSTM = _fixed_cell("lstm", "LSTM, gates i, f, g, o; ``c' = f*c + i*g``, ``h' = o*phi(c')`` (times W_hr^T with "
                   "proj_size); state ``(h, c)``; as ``torch.nn.LSTM``.")
GRU = _fixed_cell("gru", "GRU, gates r, z, n; ``n = phi(W_in x + b_in + r*(W_hn h + b_hn))``, "
                  "``h' = (1-z)*n + z*h``; as ``torch.nn.GRU`` (``reset_after=False``: Keras's other form).")
