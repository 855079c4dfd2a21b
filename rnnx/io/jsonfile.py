"""Strict JSON files: NaN and Inf become null (``json`` would write ``NaN``, which no
strict reader accepts), and the file is written whole or not at all (:mod:`rnnx.io.atomic`)."""

from __future__ import annotations

import json
import math
from typing import Any

from rnnx.io import atomic

__all__ = ["finite_or_null", "write_json"]


def finite_or_null(obj: Any) -> Any:
    """``obj`` with every non-finite float (in nested dicts, lists and tuples) replaced by None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_null(v) for v in obj]
    return obj


def write_json(path: str, doc: Any) -> None:
    """``doc`` as indented strict JSON at ``path``, atomically."""
    atomic.write_text(path, json.dumps(finite_or_null(doc), indent=2, allow_nan=False) + "\n")
