"""Small pieces the cell modules share: the standard parameter layout, the fused option,
and the one-product recurrent gradient."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from rnnx._xp import outer_sum
from rnnx.cells.spec import Option


def standard_shapes(gates: int, hidden_size: int, fan_in: int, bias: bool, *, rec_in: int | None = None
                    ) -> dict[str, tuple[int, ...]]:
    """PyTorch's per-direction layout: ``weight_ih`` (G*H, fan_in), ``weight_hh`` (G*H, R),
    ``bias_ih``, ``bias_hh`` (G*H,); R is H unless the recurrent input is smaller (proj)."""
    G = gates * hidden_size
    out = {"weight_ih": (G, fan_in), "weight_hh": (G, hidden_size if rec_in is None else rec_in)}
    if bias:
        out["bias_ih"], out["bias_hh"] = (G,), (G,)
    return out


def fused_option(covered: Callable[[Mapping[str, Any]], bool], what: str) -> Option:
    """Every cell's ``fused`` option: None (the fused step where it covers the options, the
    reference step elsewhere), True (require the fused step) or False (the reference step);
    ``covered(opts)`` says whether the fused step computes these options, ``what`` which."""

    def check(name: str, v: Any, opts: Mapping[str, Any], hidden_size: int) -> None:
        if v is not None and not isinstance(v, bool):
            raise TypeError(f"{name}: expected None, True or False, got {v!r}")
        if v is True and not covered(opts):
            raise ValueError(f"{name}: the fused step covers {what} only; expected fused=None or False for these "
                             "options")

    return Option("fused", None, f"None: the fused step for {what}, the reference step otherwise; True: require "
                  "the fused one; False: the reference step", check, (None, True, False))


def use_fused(opts: Mapping[str, Any], covered: bool) -> bool:
    return covered if opts["fused"] is None else opts["fused"]


def recurrent_grads(da_h: Any, h_prev: Any, *, xp: Any, bias: bool) -> dict[str, Any]:
    """``dW_hh = sum da_h^T h_prev`` and ``db_hh = sum da_h`` from one product (N rows)."""
    dw, db = outer_sum(da_h, h_prev, xp=xp, bias=bias)
    return {"weight_hh": dw, "bias_hh": db} if bias else {"weight_hh": dw}
