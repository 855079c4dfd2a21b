"""Invertible preprocessing of a forecast target, fitted on its training part; host-side NumPy
(imported inside functions).

Two steps, each exactly inverted on every output:

- :class:`Transform`, a variance-stabilising map of the levels ``v > 0`` (``none``: ``y = v``;
  ``log``: ``y = ln v``; ``boxcox``: ``y = (v**lam - 1) / lam``, ``ln v`` at ``lam = 0``, with
  ``lam`` chosen by maximum likelihood on the training values, :func:`boxcox_lambda`);
- :class:`Differencing`, ``d_t = (1 - B**l_1) ... (1 - B**l_k) y_t`` with ``B`` the backshift
  (``B y_t = y_{t-1}``) and lags ``()`` (none), ``(1,)`` (first), ``(m,)`` (seasonal, period m)
  or ``(1, m)`` (both); its inverse integrates a forecast of H differences back to levels from
  the last ``l_1 + ... + l_k`` values of the history.

Bad input is one :class:`rnnx.data.DataError` (a ValueError) whose message starts with the
argument, says what it got and what was expected.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rnnx.data import DataError

__all__ = ["TRANSFORMS", "BOXCOX_BOUNDS", "boxcox_llf", "boxcox_lambda", "Transform", "DIFFERENCING",
           "Differencing", "Preprocessing"]

#: The kinds of :class:`Transform`.
TRANSFORMS = ("none", "log", "boxcox")
#: The interval :func:`boxcox_lambda` searches for the Box-Cox ``lam`` by default.
BOXCOX_BOUNDS = (-5.0, 5.0)
_TINY = 1e-19  # a Box-Cox |lambda| below this is taken as 0 (ln v), as scipy.special.boxcox does
#: The kinds of :class:`Differencing` (:meth:`Differencing.of`).
DIFFERENCING = ("none", "first", "seasonal", "both")


def _where(i: int, rows: Sequence[Any] | None) -> str:
    """``row R`` (the caller's row label of position ``i``) or ``position i`` (0-based)."""
    return f"row {rows[i]}" if rows is not None else f"position {i}"


def _finite(arg: str, values: Any, rows: Sequence[Any] | None = None, *, empty_ok: bool = False) -> Any:
    """``values`` as a float64 NumPy array of at least one element (or none, ``empty_ok``), every one finite."""
    import numpy as np

    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{arg}: expected an array of numbers, got {type(values).__name__}") from None
    if a.size == 0 and not empty_ok:
        raise DataError(f"{arg}: expected at least one value, got none")
    bad = np.flatnonzero(~np.isfinite(a.ravel()))
    if bad.size:
        got = float(a.ravel()[bad[0]])
        raise DataError(f"{arg}: {_where(int(bad[0]), rows)} is {got!r}; expected finite numbers")
    return a


def _positive(arg: str, values: Any, kind: str, rows: Sequence[Any] | None = None) -> Any:
    """``values`` (finite float64), refused at the first value ``<= 0`` (the ``kind`` transform's domain)."""
    import numpy as np

    a = _finite(arg, values, rows)
    bad = np.flatnonzero(a.ravel() <= 0)
    if bad.size:
        raise DataError(f"{arg}: {_where(int(bad[0]), rows)} is {float(a.ravel()[bad[0]])!r}; expected values > 0 "
                        f"for the {kind} transform")
    return a


def boxcox_llf(lmbda: float, values: Any) -> float:
    """The Box-Cox profile log-likelihood of ``lam`` for positive ``values`` (n,), constants dropped:

    ``l(lam) = (lam - 1) * sum(ln v) - n/2 * ln(sigma2(lam))``, with ``sigma2(lam)`` the population
    variance of the transformed values ``y = (v**lam - 1) / lam`` (``ln v`` at ``|lam| < 1e-19``): the
    likelihood of ``y ~ N(mu, sigma2)`` maximised over ``mu`` and ``sigma2``, with the Jacobian
    ``prod(v**(lam - 1))``.  The variance is taken in log space, ``ln sigma2 = 2 a_max + ln var(expm1(a -
    a_max)) - 2 ln|lam|`` with ``a = lam ln v``, so no power overflows; ``-inf`` when every value is
    equal (zero variance)."""
    import numpy as np

    logv = np.log(_positive("values", values, "Box-Cox")).ravel()
    if abs(lmbda) < _TINY:
        var = float(np.var(logv))
        log_var = math.log(var) if var > 0 else -math.inf
    else:
        a = lmbda * logv
        a_max = float(np.max(a))
        var = float(np.var(np.expm1(a - a_max)))
        log_var = 2 * a_max + math.log(var) - 2 * math.log(abs(lmbda)) if var > 0 else -math.inf
    return (lmbda - 1) * float(np.sum(logv)) - logv.size / 2 * log_var if log_var > -math.inf else -math.inf


def boxcox_lambda(values: Any, bounds: tuple[float, float] = BOXCOX_BOUNDS) -> float:
    """The Box-Cox ``lam`` in ``bounds`` that maximises :func:`boxcox_llf` on ``values`` (n,), n >= 2
    positive values not all equal (the training part of a series).

    A grid of 201 equally spaced ``lam`` over ``bounds`` brackets the global maximum (a
    likelihood with several local maxima is not followed into the wrong one); a golden-section
    search on the two grid cells around the best point then narrows it to ``1e-12 * (1 + |lam|)``.
    A maximum beyond ``bounds`` returns the nearer bound."""
    import numpy as np

    v = _positive("values", values, "Box-Cox").ravel()
    if v.size < 2 or np.all(v == v[0]):
        raise DataError(f"values: expected at least 2 values that are not all equal to fit the Box-Cox lambda, "
                        f"got {v.size} value{'s' if v.size != 1 else ''} equal to {float(v[0])!r}")
    lo, hi = (float(b) for b in bounds)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise DataError(f"bounds: expected finite (low, high) with low < high, got {bounds!r}")
    grid = np.linspace(lo, hi, 201)
    llf = [boxcox_llf(float(g), v) for g in grid]
    best = int(np.argmax(llf))
    a, b = float(grid[max(best - 1, 0)]), float(grid[min(best + 1, grid.size - 1)])
    ratio = (math.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = boxcox_llf(c, v), boxcox_llf(d, v)
    while b - a > 1e-12 * (1 + abs(a) + abs(b)):
        if fc >= fd:  # the maximum is in [a, d]
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = boxcox_llf(c, v)
        else:  # in [c, b]
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = boxcox_llf(d, v)
    return (a + b) / 2


@dataclass(frozen=True)
class Transform:
    """A variance-stabilising transform of positive levels: ``kind`` is ``none`` (``y = v``),
    ``log`` (``y = ln v``) or ``boxcox`` (``y = (v**lmbda - 1) / lmbda``, ``ln v`` at ``|lmbda| < 1e-19``,
    computed as ``expm1(lmbda ln v) / lmbda``).  ``Transform("boxcox")`` has no ``lmbda`` until
    :meth:`fit` chooses it on the training values; a given ``lmbda`` is kept."""

    kind: str = "none"
    lmbda: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in TRANSFORMS:
            raise DataError(f"transform: expected one of {', '.join(TRANSFORMS)}, got {self.kind!r}")
        if self.kind != "boxcox" and self.lmbda is not None:
            raise DataError(f"lmbda: only the boxcox transform has a lambda, got {self.lmbda!r} for {self.kind}")
        lam = self.lmbda
        if lam is not None and (isinstance(lam, bool) or not isinstance(lam, (int, float)) or not math.isfinite(lam)):
            raise DataError(f"lmbda: expected a finite number, got {self.lmbda!r}")

    def fit(self, train: Any, rows: Sequence[Any] | None = None) -> Transform:
        """This transform with its parameters chosen on the training values ``train`` (n,): checks
        that ``log`` and ``boxcox`` get positive values (the first value ``<= 0`` is named by its
        position, or by ``rows[i]`` when the caller's row labels are given), and sets the Box-Cox
        ``lmbda`` by :func:`boxcox_lambda` unless it was given."""
        if self.kind == "none":
            _finite("train", train, rows)
            return self
        v = _positive("train", train, "log" if self.kind == "log" else "Box-Cox", rows)
        if self.kind == "boxcox" and self.lmbda is None:
            return Transform("boxcox", boxcox_lambda(v))
        return self

    def _ready(self) -> float:
        """The lambda the maths uses: 0 for log and for a Box-Cox ``|lmbda| < 1e-19`` (as SciPy does)."""
        if self.kind == "boxcox" and self.lmbda is None:
            raise DataError("transform: the Box-Cox lambda is not fitted; call fit(train) first")
        lam = float(self.lmbda or 0.0)
        return 0.0 if abs(lam) < _TINY else lam

    def forward(self, values: Any, rows: Sequence[Any] | None = None) -> Any:
        """``y = f(v)`` elementwise, any shape; ``log``/``boxcox`` refuse a value ``<= 0``."""
        import numpy as np

        if self.kind == "none":
            return _finite("values", values, rows).copy()
        lam = self._ready()
        logv = np.log(_positive("values", values, "log" if self.kind == "log" else "Box-Cox", rows))
        return logv if lam == 0.0 else np.expm1(lam * logv) / lam

    def inverse(self, values: Any) -> Any:
        """``v = f^-1(y)`` elementwise, any shape: ``exp(y)`` (log, Box-Cox at 0) or
        ``exp(ln(1 + lmbda y) / lmbda)``.  A Box-Cox value with ``1 + lmbda y <= 0`` has no level (it is
        beyond the transform's range, ``y > -1/lmbda`` for ``lmbda > 0``, ``y < -1/lmbda`` for
        ``lmbda < 0``), and a level beyond float64 cannot be given: each refused, naming the first
        such position.  ``inverse(forward(v))`` is ``v`` up to a relative error of about
        ``1e-16 * (1 + v**-lmbda)``: exact to rounding unless ``v**lmbda`` is small (``lmbda < 0`` on
        values far above 1, ``lmbda > 0`` far below 1), where ``1 + lmbda y = v**lmbda`` cancels."""
        import numpy as np

        y = _finite("values", values)
        if self.kind == "none":
            return y.copy()
        lam = self._ready()
        if lam != 0.0:
            bad = np.flatnonzero((1 + lam * y).ravel() <= 0)
            if bad.size:
                side = ">" if lam > 0 else "<"
                got = float(y.ravel()[bad[0]])
                raise DataError(f"values: position {int(bad[0])} is {got!r}, beyond the Box-Cox range of lambda"
                                f" {lam:.6g}; expected values {side} {-1 / lam:.6g}")
        with np.errstate(over="ignore"):
            v = np.exp(y) if lam == 0.0 else np.exp(np.log1p(lam * y) / lam)
        big = np.flatnonzero(~np.isfinite(v).ravel())
        if big.size:
            got = float(y.ravel()[big[0]])
            raise DataError(f"values: position {int(big[0])} is {got!r}, whose level is beyond float64; "
                            f"expected values the {self.kind} inverse can take")
        return v

    def to_json(self) -> dict[str, Any]:
        """``{"kind": ..., "lambda": ...}`` (lambda None but for a fitted Box-Cox) for a checkpoint."""
        return {"kind": self.kind, "lambda": self.lmbda}

    @classmethod
    def from_json(cls, state: Any) -> Transform:
        """The transform :meth:`to_json` wrote; anything else is a DataError."""
        if not (isinstance(state, dict) and set(state) == {"kind", "lambda"}):
            raise DataError(f'state: expected {{"kind": ..., "lambda": ...}}, got {str(state)[:80]}')
        return cls(state["kind"], state["lambda"])


def _lag(arg: str, n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise DataError(f"{arg}: expected a positive whole number of steps, got {n!r}")
    return n


@dataclass(frozen=True)
class Differencing:
    """``d_t = (1 - B**l_1) ... (1 - B**l_k) y_t`` along the last axis, with ``lags = (l_1, ..., l_k)``
    applied in order; :attr:`order` ``K = l_1 + ... + l_k`` values of history are used up (a series
    of n values gives n - K differences).  Build it with :meth:`of`."""

    lags: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.lags, tuple):
            raise DataError(f"lags: expected a tuple of positive lags, got {self.lags!r}")
        for lag in self.lags:
            _lag("lags", lag)

    @classmethod
    def of(cls, kind: str, period: int | None = None) -> Differencing:
        """``none`` (lags ``()``), ``first`` (``(1,)``), ``seasonal`` (``(period,)``) or ``both``
        (``(1, period)``: ``d_t = y_t - y_{t-1} - y_{t-m} + y_{t-m-1}``); ``period`` (m >= 1) is
        needed by the last two and refused by the first two."""
        if kind not in DIFFERENCING:
            raise DataError(f"difference: expected one of {', '.join(DIFFERENCING)}, got {kind!r}")
        if kind in ("none", "first"):
            if period is not None:
                raise DataError(f"period: only seasonal differencing has a period, got {period!r} for {kind}")
            return cls(() if kind == "none" else (1,))
        if period is None:
            raise DataError(f"period: {kind} differencing needs the seasonal period, got None")
        m = _lag("period", period)
        return cls((m,) if kind == "seasonal" else (1, m))

    @property
    def order(self) -> int:
        """``K``: the number of history values the differences use up (and the inverse needs)."""
        return sum(self.lags)

    def forward(self, values: Any) -> Any:
        """The differences of ``values`` (..., n) along the last axis: (..., n - K), n > K."""
        a = _finite("values", values)
        if a.ndim == 0 or a.shape[-1] <= self.order:
            raise DataError(f"values: differencing with lags {self.lags} needs more than {self.order} values "
                            f"along the last axis, got shape {tuple(a.shape)}")
        for lag in self.lags:
            a = a[..., lag:] - a[..., :-lag]
        return a.copy() if a is values else a

    def inverse(self, diffs: Any, history: Any) -> Any:
        """The levels ``y_{n}, ..., y_{n+H-1}`` whose differences are ``diffs`` (..., H), following the
        history ``history`` (..., >= K) (its last K values are used; leading axes broadcast).

        The lags are undone last first: with ``w_j`` the series after the first j lags (``w_0 = y``),
        ``w_{j-1}[t] = w_j[t] + w_{j-1}[t - l_j]``, seeded with the last ``l_j`` values of
        ``w_{j-1}`` computed from the history's tail.  For float64 a round trip
        ``inverse(forward(y)[..., n-K-H:], y[..., :n-H])`` returns ``y[..., n-H:]`` up to rounding
        (about ``H * 1e-16 * max|y|``)."""
        import numpy as np

        d = _finite("diffs", diffs)
        h = _finite("history", history, empty_ok=self.order == 0)
        k = self.order
        if d.ndim == 0 or h.ndim == 0 or h.shape[-1] < k:
            raise DataError(f"history: expected at least {k} values along the last axis (lags {self.lags}) "
                            f"for diffs of shape {tuple(d.shape)}, got shape {tuple(h.shape)}")
        try:
            lead = np.broadcast_shapes(d.shape[:-1], h.shape[:-1])
        except ValueError:
            raise DataError(f"history: leading shape {tuple(h.shape[:-1])} does not broadcast with the diffs' "
                            f"{tuple(d.shape[:-1])}") from None
        tails = [np.broadcast_to(h[..., h.shape[-1] - k:], (*lead, k))]  # w_0's last K values
        for lag in self.lags[:-1]:
            tails.append(tails[-1][..., lag:] - tails[-1][..., :-lag])  # w_j's last K - (l_1+...+l_j) values
        out = np.broadcast_to(d, (*lead, d.shape[-1]))
        for lag, tail in zip(reversed(self.lags), reversed(tails)):
            w = np.concatenate([tail[..., tail.shape[-1] - lag:], out], axis=-1)
            for t in range(out.shape[-1]):
                w[..., lag + t] += w[..., t]
            out = w[..., lag:]
        return np.array(out, dtype=np.float64)


@dataclass(frozen=True)
class Preprocessing:
    """The whole chain from levels to what a model learns, fitted on the training part:
    ``z = (D(T(v)) - mean) / std`` with ``T`` a :class:`Transform`, ``D`` a :class:`Differencing`
    and ``mean``, ``std`` the :meth:`rnnx.data.Normaliser.fit` statistics of the training part's
    differences (0 and 1 unscaled).  :meth:`inverse` undoes the three in reverse order."""

    transform: Transform = Transform()
    differencing: Differencing = Differencing()
    mean: float = 0.0
    std: float = 1.0

    @classmethod
    def fit(cls, train: Any, transform: str = "none", difference: str = "none", period: int | None = None,
            *, scale: bool = True, rows: Sequence[Any] | None = None) -> Preprocessing:
        """The chain fitted on the training levels ``train`` (n,): the ``transform`` (``none``, ``log``,
        ``boxcox``; :meth:`Transform.fit`), the ``difference`` (``none``, ``first``, ``seasonal``,
        ``both``, with the seasonal ``period``; :meth:`Differencing.of`) and, with ``scale``, the
        standardisation of the transformed differences; n must exceed the differencing's order."""
        from rnnx.data import Normaliser

        t = Transform(transform).fit(train, rows)
        d = Differencing.of(difference, period)
        if not scale:
            return cls(t, d)
        norm = Normaliser.fit(d.forward(t.forward(train, rows)).ravel().tolist())
        return cls(t, d, norm.mean, norm.std)

    def forward(self, values: Any, rows: Sequence[Any] | None = None) -> Any:
        """``z`` of the levels ``values`` (..., n): (..., n - K), ``K = differencing.order``."""
        return (self.differencing.forward(self.transform.forward(values, rows)) - self.mean) / self.std

    def inverse(self, z: Any, history: Any) -> Any:
        """The levels (..., H) of ``z`` (..., H) (a model's output: the next H scaled differences)
        following the levels ``history`` (..., >= K): ``T^-1(D^-1(z std + mean, T(history)))``."""
        import numpy as np

        d = np.asarray(z, dtype=np.float64) * self.std + self.mean
        return self.transform.inverse(self.differencing.inverse(d, self.transform.forward(history)))

    def to_json(self) -> dict[str, Any]:
        """``{"transform": ..., "lags": [...], "mean": ..., "std": ...}`` for a checkpoint."""
        return {"transform": self.transform.to_json(), "lags": list(self.differencing.lags), "mean": self.mean,
                "std": self.std}

    @classmethod
    def from_json(cls, state: Any) -> Preprocessing:
        """The chain :meth:`to_json` wrote; anything else is a DataError."""
        ok = (isinstance(state, dict) and set(state) == {"transform", "lags", "mean", "std"}
              and isinstance(state["lags"], list)
              and all(isinstance(state[k], (int, float)) and not isinstance(state[k], bool)
                      and math.isfinite(state[k]) for k in ("mean", "std")) and state["std"] > 0)
        if not ok:
            raise DataError('state: expected {"transform": ..., "lags": [...], "mean": ..., "std": ...} with a '
                            f"finite mean and std > 0, got {str(state)[:80]}")
        return cls(Transform.from_json(state["transform"]), Differencing(tuple(state["lags"])),
                   float(state["mean"]), float(state["std"]))
