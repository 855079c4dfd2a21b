"""The cell registry: every cell rnnx has, by name, as a :class:`~rnnx.cells.spec.CellSpec`.

A cell module (``rnn``, ``lstm``, ``gru``) holds the maths next to its spec ``SPEC``: its
options, parameters, counterparts and kernels (a fused fast step and a textbook reference
step).  Adding a cell is one module and one line here; adding a variant of a cell (an option)
touches that cell's module only.  See docs/architecture.md.
"""

from __future__ import annotations

from rnnx.cells import gru, lstm, rnn
from rnnx.cells.spec import CellSpec, Kernel, Option

__all__ = ["CELLS", "CellSpec", "Kernel", "Option", "spec"]

#: Every cell, by registry name, in report order.
CELLS: dict[str, CellSpec] = {s.name: s for s in (rnn.SPEC, lstm.SPEC, gru.SPEC)}


def spec(name: str) -> CellSpec:
    """The spec called ``name`` (``ValueError`` naming the known cells otherwise)."""
    if name not in CELLS:
        raise ValueError(f"cell: expected one of {', '.join(map(repr, CELLS))}, got {name!r}")
    return CELLS[name]
