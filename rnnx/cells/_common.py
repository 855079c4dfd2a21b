"""Small pieces the cell modules share: the standard parameter layout, the fused option,
and the one-product recurrent gradient."""

from __future__ import annotations

from typing import Any, Mapping

from rnnx._xp import outer_sum


def standard_shapes(gates: int, hidden_size: int, fan_in: int, bias: bool, *, rec_in: int | None = None
                    ) -> dict[str, tuple[int, ...]]:
    """PyTorch's per-direction layout: ``weight_ih`` (G*H, fan_in), ``weight_hh`` (G*H, R),
    ``bias_ih``, ``bias_hh`` (G*H,); R is H unless the recurrent input is smaller (proj)."""
    G = gates * hidden_size
    out = {"weight_ih": (G, fan_in), "weight_hh": (G, hidden_size if rec_in is None else rec_in)}
    if bias:
        out["bias_ih"], out["bias_hh"] = (G,), (G,)
    return out


def check_fused(name: str, v: Any, covered: bool, what: str) -> None:
    """``fused`` is None (the fused step where it covers the options), True (require it)
    or False (the reference step)."""
    if v is not None and not isinstance(v, bool):
        raise TypeError(f"{name}: expected None, True or False, got {v!r}")
    if v is True and not covered:
        raise ValueError(f"{name}: the fused step covers {what} only; expected fused=None or False for these "
                         "options")


def use_fused(opts: Mapping[str, Any], covered: bool) -> bool:
    return covered if opts["fused"] is None else opts["fused"]


def recurrent_grads(da_h: Any, h_prev: Any, *, xp: Any, bias: bool) -> dict[str, Any]:
    """``dW_hh = sum da_h^T h_prev`` and ``db_hh = sum da_h`` from one product (N rows)."""
    dw, db = outer_sum(da_h, h_prev, xp=xp)
    return {"weight_hh": dw, "bias_hh": db} if bias else {"weight_hh": dw}
