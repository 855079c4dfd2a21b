"""Array-namespace plumbing: resolve ``xp`` once at the public boundary, pass it down.

Two layers, as in array-api-extra: pure-standard code, plus a tiny delegation to a
backend's native function where its capability record (:func:`rnnx.backends.capabilities`)
has one (``torch.sigmoid``).  Nothing here imports an array library; every array is reached
through the namespace ``array_namespace`` returns.
"""

from __future__ import annotations

import array
import itertools
import math
from typing import Any

import array_api_compat as compat

from rnnx.backends import capabilities, standard_refusal, takes_scalars

__all__ = ["namespace", "operand", "where", "rows_product", "transposed", "matrix_t", "sigmoid", "sigmoid_of_negated", "native_sigmoid", "library_name", "is_traced",
           "zeros_before", "outer_sum", "index_dtype", "reshaper", "zeros_like_of", "take", "is_array", "has_dtype"]


def is_traced(a: Any) -> bool:
    """True for an abstract array being traced (``jax.jit``/``vjp``): no values to read.

    (``array_api_compat.is_lazy_array`` is True for every JAX array, concrete ones too.)"""
    return any(c.__name__ == "Tracer" for c in type(a).__mro__)


def library_name(a: Any) -> str:
    """Short name of the library an array belongs to (``numpy``, ``torch``, ``jax``...)."""
    name = compat.array_namespace(a).__name__.removeprefix("array_api_compat.")
    return name.split(".")[0]


def namespace(**arrays: Any) -> Any:
    """Return the one array namespace shared by the keyword-named arrays.

    ``None`` values are skipped.  Raises ``TypeError`` naming the arguments when an
    argument is not an array or the arrays come from different libraries, and
    ``ValueError`` when they live on different devices; ``TypeError`` too when the library
    claims a standard older than 2023.12 (:func:`rnnx.backends.standard_refusal`: it lacks
    the inspection API rnnx reads devices and default dtypes from).
    """
    # the kinds of the call: the set of (type, dtype's type) of its values (None's included),
    # formed in C (map, zip): a call of kinds seen before (every update after the first)
    # takes the namespace they had, with no loop over its arrays in Python (~2 us on NumPy)
    values = arrays.values()
    key = frozenset(zip(map(type, values), map(type, map(getattr, values, _DTYPE, _NONE))))
    xp, claimed = _NAMESPACES.get(key, (None, None))
    if xp is not None and getattr(xp, "__array_api_version__", None) == claimed:
        caps = capabilities(xp)
        if caps.one_device:
            return xp
        _check_devices({k: v for k, v in arrays.items() if v is not None})
        return xp
    named = {k: v for k, v in arrays.items() if v is not None}
    try:  # one call for all the arrays; the checks below only run to name the culprits
        # array_namespace skips Python scalars (not NumPy's, float subclasses that are arrays)
        if any(isinstance(a, _SCALARS) and not compat.is_array_api_obj(a) for a in named.values()):
            raise TypeError
        # array_namespace's answer depends on an array's type alone (and, for a NumPy array,
        # on its dtype's type: JAX's float0 gradients): one array of each pair asked, not all
        firsts = {(type(a), type(getattr(a, "dtype", None))): a for a in named.values()}
        # (asked again where a library changed the standard it claims: array-api-strict's flags)
        xp = compat.array_namespace(*firsts.values())
    except TypeError:
        for name, a in named.items():
            if not compat.is_array_api_obj(a):
                raise TypeError(f"{name}: expected an array, got {type(a).__name__}") from None
        _raise_if_mixed(named, library_name, TypeError, "from different libraries", "from one library")
        raise
    version = getattr(xp, "__array_api_version__", None)
    refusal = standard_refusal(xp)
    if refusal is not None:
        raise TypeError(f"{', '.join(named)}: {refusal}")
    if len(_NAMESPACES) >= 256:
        _NAMESPACES.clear()
    _NAMESPACES[key] = (xp, version)
    if capabilities(xp).one_device:  # every array of the library is on its one device (NumPy)
        return xp
    _check_devices(named)
    return xp


_DTYPE, _NONE = itertools.repeat("dtype"), itertools.repeat(None)


def _check_devices(named: dict[str, Any]) -> None:
    """``ValueError`` naming which arrays are on which device when they are on several."""
    devices = [compat.device(a) for a in named.values()]  # None for traced JAX arrays
    first = next((d for d in devices if d is not None), None)
    if any(d is not None and d != first for d in devices):
        on_device = {k: a for k, a in named.items() if compat.device(a) is not None}
        _raise_if_mixed(on_device, lambda a: str(compat.device(a)), ValueError, "on different devices", "on one device")


#: The namespace :func:`namespace` resolved for a set of (value type, dtype type), a
#: namespace whose standard rnnx takes, with the standard it claimed then (``array_namespace``
#: answers from those types alone; the claim is read again on every call).
_NAMESPACES: dict[frozenset, tuple[Any, Any]] = {}


def _raise_if_mixed(named: dict[str, Any], key: Any, error: type, mixed: str, one: str) -> None:
    """Raise ``error`` listing which arguments fall in which group of ``key`` (library or
    device), if there is more than one group."""
    groups: dict[str, list[str]] = {}
    for name, a in named.items():
        groups.setdefault(key(a), []).append(name)
    if len(groups) > 1:
        got = "; ".join(f"{g}: {', '.join(names)}" for g, names in groups.items())
        raise error(f"arrays {mixed} mixed in one call ({got}); expected every array {one}")


_SCALARS = (bool, int, float, complex)


def operand(value: Any, like: Any, /, *, xp: Any) -> Any:
    """``value`` as an argument of an element-wise function of ``xp`` (``where``,
    ``maximum``...) whose other operand is the array ``like``: an array or a Python scalar
    as it is where ``xp`` claims the 2024.12 standard or newer (whose functions take Python
    scalars, as weak scalars of the operand's dtype), else (2023.12) the scalar as a 0-D
    array of ``like``'s dtype on its device.  Nothing is created on the newer standards:
    a Python scalar stays a scalar where torch and JAX treat it best (no host-to-device copy
    per call on CUDA; under ``jax.jit`` a literal)."""
    if not isinstance(value, _SCALARS) or takes_scalars(xp):
        return value
    return xp.asarray(value, dtype=like.dtype, device=compat.device(like))


def where(condition: Any, x1: Any, x2: Any, /, *, xp: Any) -> Any:
    """``xp.where(condition, x1, x2)`` where one of ``x1``/``x2`` may be a Python scalar,
    on every standard rnnx supports: the scalar goes through :func:`operand` with the other
    as its ``like``."""
    if isinstance(x1, _SCALARS):
        x1 = operand(x1, x2, xp=xp)
    elif isinstance(x2, _SCALARS):
        x2 = operand(x2, x1, xp=xp)
    return xp.where(condition, x1, x2)


def is_array(a: Any, /) -> bool:
    """``array_api_compat.is_array_api_obj(a)``, answered from ``a``'s type once that type
    has been seen to be an array (a chain of library tests, ~0.3 us, otherwise asked per
    check: several per update)."""
    t = type(a)
    if t in _ARRAY_TYPES:
        return True
    if not compat.is_array_api_obj(a):
        return False
    if len(_ARRAY_TYPES) < 256:
        _ARRAY_TYPES.add(t)
    return True


#: The types :func:`is_array` has seen to be arrays.
_ARRAY_TYPES: set[type] = set()


def has_dtype(dtype: Any, kind: Any, /, *, xp: Any) -> bool:
    """``xp.isdtype(dtype, kind)``, remembered per (namespace, dtype, kind): the answer
    depends on nothing else, and NumPy's ``isdtype`` costs ~1 us (2 per update in the loss
    checks, 1 in the input check).  A dtype that cannot be a key is asked every time."""
    key = (id(xp), type(dtype), dtype, kind)  # the dtype's type first: no == between libraries' dtypes
    try:
        return _KINDS[key]
    except KeyError:
        pass
    except TypeError:  # unhashable
        return bool(xp.isdtype(dtype, kind))
    answer = _KINDS[key] = bool(xp.isdtype(dtype, kind))
    if len(_KINDS) > 1024:
        _KINDS.clear()
    return answer


_KINDS: dict[tuple, bool] = {}


def zeros_like_of(shape: tuple, like: Any, /, *, xp: Any) -> Any:
    """``xp.zeros(shape)`` in the dtype and on the device of the array ``like``: the
    backend's own ``zeros`` where its capability record has one (NumPy's ``numpy.zeros``,
    without array_api_compat's device check nor a read of ``like``'s device: 0.4 against
    2.2 us), else ``xp.zeros(shape, dtype=like.dtype, device=device(like))``."""
    caps = capabilities(xp)
    if caps.zeros is not None and caps.one_device:
        return caps.zeros(shape, like.dtype, None)
    return xp.zeros(shape, dtype=like.dtype, device=compat.device(like))


def take(a: Any, indices: Any, /, *, axis: int, xp: Any) -> Any:
    """``xp.take(a, indices, axis=axis)``: the backend's own where its capability record
    has one (NumPy's ``ndarray.take``: 0.5 against 2.5 us), else ``xp.take``."""
    own = capabilities(xp).take
    if own is not None:
        return own(a, indices, axis)
    return xp.take(a, indices, axis=axis)


def zeros_before(a: Any, n: int, /, *, xp: Any) -> Any:
    """``a`` (T, ...) with ``n`` zero steps prepended along axis 0: (n + T, ...)."""
    zeros = xp.zeros((n, *a.shape[1:]), dtype=a.dtype, device=compat.device(a))
    return xp.concat([zeros, a], axis=0)


def reshaper(xp: Any) -> Any:
    """``reshape(a, shape)``: the backend's own where its capability record has one (NumPy's
    ``ndarray.reshape``, without ``numpy.reshape``'s dispatch), else ``xp.reshape``; the
    same array either way.  Look it up once for several reshapes."""
    return capabilities(xp).reshape or xp.reshape


def rows_product(a: Any, w: Any, *, xp: Any) -> Any:
    """``a @ w`` for a (..., K) and w (K, N) -> (..., N): one 2-D product of the flattened
    rows, or the product over the leading axes as they are where the capability record says so
    (:attr:`~rnnx.backends.Capabilities.leading_axes`: JAX with several devices, outside
    ``shard_map``): under XLA's SPMD partitioner a reshape that merges a batch-sharded axis
    into another forces an all-gather of the whole array, while contracting both axes leaves
    the partial sums local and one all-reduce of the (small) result.  On one device the
    reshaped 2-D product is faster (XLA CPU, LSTM (16, 1000, 32, 128) forward + backward: 82 ms
    against 91 with ``tensordot``)."""
    if a.ndim == 2:
        return a @ w
    caps = capabilities(xp)
    if caps.leading_axes(a):
        return a @ w
    reshape = caps.reshape or xp.reshape
    return reshape(reshape(a, (-1, a.shape[-1])) @ w, (*a.shape[:-1], w.shape[-1]))


def outer_sum(da: Any, v: Any, *, xp: Any, bias: bool = True) -> tuple[Any, Any | None]:
    """``dW = sum_n da_n^T v_n`` (G, K) and ``db = sum_n da_n`` (G,) over every leading
    position n (time and batch: da (..., G), v (..., K)) from one product:
    ``[v, 1]^T da`` (K+1, G) (da (N, G), v (N, K) flattened, N = T*B; with
    :attr:`~rnnx.backends.Capabilities.leading_axes`, ``tensordot`` over the leading axes as they are).

    The ones column turns the bias sums into the product's last row, and makes XLA CPU hand
    the product to its GEMM with the narrow operand ``v`` transposed: measured here (jax 0.10.2,
    2 cores, float32, (T, B, G, H)), against ``tensordot(da, v)`` over (T, B) plus ``sum(da)``:
    (25, 175, 300, 100) 1.27 -> 0.95 ms, (1000, 16, 512, 128) 10.6 -> 8.4 ms, (100, 64, 512, 128)
    4.0 -> 3.2 ms, (100, 64, 2048, 512) 35.0 -> 34.1 ms (``da^T v`` in 2-D: 0.97, 14.1, 6.0,
    45.5 ms; XLA rewrites ``(v^T da)^T`` into it).  NumPy and torch: the same within noise.
    ``bias=False``: ``(dW, None)`` from ``v^T da`` alone (no ones column: nothing computed
    that is not a gradient)."""
    K = v.shape[-1]
    caps = capabilities(xp)
    v1 = v if not bias else xp.concat([v, _ones_column(v, caps, xp)], axis=-1)
    if v.ndim > 2 and caps.leading_axes(v):
        lead = tuple(range(v.ndim - 1))
        m = xp.tensordot(v1, da, axes=(lead, lead))
    else:  # 2-D operands: the attribute ``.T`` (no wrapper call), the same view as matrix_transpose
        reshape = caps.reshape or xp.reshape
        v2 = v1 if v1.ndim == 2 else reshape(v1, (-1, v1.shape[-1]))
        m = v2.T @ (da if da.ndim == 2 else reshape(da, (-1, da.shape[-1])))
    return m[:K, :].T, (m[K, :] if bias else None)


def _ones_column(v: Any, caps: Any, xp: Any) -> Any:
    """The ones column of :func:`outer_sum`: ``ones_like(v[..., :1])`` (dtype and device of
    ``v`` in one call).  On a one-device library that stages nothing (NumPy) a small one is
    formed once per (shape, dtype) and kept: it is only ever read (``concat`` copies it),
    3 ``ones_like`` calls an update fewer (~3 us each through array_api_compat's wrapper)."""
    if not caps.one_device or caps.jit is not None or math.prod(v.shape[:-1]) > _ONES_MAX:
        return xp.ones_like(v[..., :1])
    key = (v.shape[:-1], type(v.dtype), v.dtype)
    ones = _ONES.get(key)
    if ones is None:
        if len(_ONES) >= 64:
            _ONES.clear()
        ones = _ONES[key] = xp.ones_like(v[..., :1])
    return ones


#: :func:`_ones_column`'s kept columns per (leading shape, dtype); only up to this many rows.
_ONES: dict[tuple, Any] = {}
_ONES_MAX = 4096


def index_dtype(xp: Any, device: Any) -> Any:
    """The namespace's default integer dtype on ``device`` (int64; int32 in JAX without
    x64): what time indices and lengths are compared in, whatever dtype ``lengths`` has."""
    return xp.__array_namespace_info__().default_dtypes(device=device)["integral"]


def host_ints(a: Any, /) -> list[int]:
    """A 1-D integer array's values as Python ints: one read to the host (``tolist``, which
    NumPy, torch, JAX and CuPy arrays have; element by element otherwise)."""
    tolist = getattr(a, "tolist", None)
    if callable(tolist):
        return [int(v) for v in tolist()]
    return [int(a[i]) for i in range(a.shape[0])]


def index_array(values: list[int], /, *, xp: Any, dtype: Any, device: Any) -> Any:
    """A 1-D integer array of ``values`` (Python ints) in ``dtype`` (a 32- or 64-bit integer
    dtype) on ``device``, handed over as one buffer (``array.array``: the standard's
    ``asarray`` takes the buffer protocol) instead of element by element: 1013 indices into
    ``jax.numpy`` 0.45 -> 0.06 ms."""
    code = "q" if xp.iinfo(dtype).bits == 64 else "i"
    if array.array(code).itemsize * 8 != xp.iinfo(dtype).bits:  # a platform whose C int is not 32 bits
        return xp.asarray(values, dtype=dtype, device=device)
    return xp.asarray(array.array(code, values), dtype=dtype, device=device)


def matrix_t(w: Any, /, *, xp: Any) -> Any:
    """``xp.matrix_transpose(w)``; for a 2-D ``w`` the standard attribute ``w.T``, the same
    view without array_api_compat's wrapper call (~1 us on NumPy, several per update)."""
    return w.T if w.ndim == 2 else xp.matrix_transpose(w)


def transposed(w: Any, /, *, xp: Any) -> Any:
    """``w`` (..., M, N) transposed to (..., N, M) as an array of its own in row-major
    order (a reshape through 1-D forces the copy), so a product ``h @ w^T`` repeated every
    step reads contiguous rows: 5-25% faster per step on NumPy/OpenBLAS than the strided view."""
    wt = matrix_t(w, xp=xp)
    reshape = reshaper(xp)
    return reshape(reshape(wt, (-1,)), wt.shape)


def _exp_bound(dtype: Any, xp: Any) -> float:
    """The largest whole z with finite exp(z) in ``dtype`` (88 in float32, 709 in float64);
    cached per dtype: every sigmoid of every step asks, and ``finfo`` costs ~1.2 us on NumPy."""
    key = (type(dtype), str(dtype))  # never == between libraries' dtypes (array-api-strict warns)
    bound = _EXP_BOUND.get(key)
    if bound is None:
        bound = _EXP_BOUND[key] = float(math.floor(math.log(xp.finfo(dtype).max)))
    return bound


_EXP_BOUND: dict[tuple, float] = {}


def sigmoid_of_negated(z: Any, /, *, xp: Any) -> Any:
    """``sigmoid(-z) = 1 / (1 + exp(z))``, standard-only and accurate in both tails: for
    z -> +inf the result is ``exp(-z)`` to a few ulp (the tanh form ``(tanh(-z/2) + 1) / 2``
    cancels to 0 there: 0 for every z > 16.6 in float32), for z -> -inf it rounds to 1.
    Past the dtype's bound (z > 88 in float32, where the result is below the smallest normal
    number) ``exp`` takes +inf, so the result is 0 as torch's and JAX's kernels give, and
    ``exp`` never overflows (nor warns)."""
    return 1.0 / (1.0 + xp.exp(where(z > _exp_bound(z.dtype, xp), math.inf, z, xp=xp)))


def native_sigmoid(xp: Any) -> Any:
    """The backend's own logistic kernel (torch, JAX, CuPy), or None: a field of its
    capability record, a property of the namespace, so safe inside ``jax.jit``."""
    return capabilities(xp).sigmoid


def sigmoid(x: Any, /, *, xp: Any) -> Any:
    """Logistic function ``1 / (1 + exp(-x))``, accurate in both tails.

    The backend's native kernel where its capability record has one, otherwise
    :func:`sigmoid_of_negated` of ``-x``.
    """
    native = native_sigmoid(xp)
    return native(x) if native is not None else sigmoid_of_negated(-x, xp=xp)
