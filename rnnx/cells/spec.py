"""The cell spec: one record per cell, the single source of truth the whole library asks.

A :class:`CellSpec` declares a cell's name, its options (with validation), its gate blocks
and state components, its parameters per layer and direction (PyTorch's names and shapes),
its torch / Keras / Flax counterparts, the option sets the tests run, and how to build the
:class:`Kernel` (the step functions) for a given set of option values.  Layers, ``Model``,
save/load, the converters, the CLI, ``rnnx parity``, ``rnnx bench`` and the tests get every
cell and option from :data:`rnnx.cells.CELLS`.

A :class:`Kernel` is the maths with the options fixed, the contract of the generic loop
(:mod:`rnnx.nn.loop`) and of the layer stack (:mod:`rnnx.nn.stack`).  For one layer and
direction, ``p`` is its parameter dict keyed by base name (``weight_ih``, ``weight_hh``,
``bias_ih``, ``bias_hh``, and e.g. ``weight_hr``); the stack owns the input side
(``a_x = x W_ih^T + b_x`` hoisted before the loop, ``dW_ih``, ``db_ih`` and ``dx`` as one
product each after it), the kernel owns the recurrence:

``prepare(p, *, xp, bias) -> (b_x, rec, scale)``
    ``b_x`` (G*H,) or None: the bias added to the hoisted projection; ``rec``: what
    ``step`` needs (e.g. ``W_hh`` transposed once); ``scale`` (G*H,) or None: exact factors
    on the projection's columns (the fused LSTM's powers of two).
``prepare_back(p, *, xp) -> recb``: what ``step_back`` needs (e.g. ``W_hh``).
``step(a_x, state, rec, *, xp, save) -> (new_state, saved)``
    one step; ``a_x`` (B, G*H) is this step's projection; ``saved`` is what the backward
    step needs besides the states (``()`` allowed with ``save=False``, inference).
``step_back(dstate, prev, new, saved, recb, *, xp) -> (dprev, da_x, extra)``
    one step backward from dL/d(new state): dL/d(previous state), dL/d(a_x), and a tuple of
    further per-step arrays ``weight_grads`` reads (stacked over time by the loop).
``weight_grads(da_x, extra, prev, saved, *, xp, bias) -> {base: gradient}``
    every recurrent parameter's gradient after the loop, from the per-step arrays stacked
    over time, (T, B, .) (index the last axis with ``...``; :func:`rnnx._xp.outer_sum`
    contracts the leading ones): ``weight_hh``, ``bias_hh`` (with bias),
    and any parameter the cell adds.
``kept``: how many state components (from h) the cache keeps per step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

__all__ = ["Option", "CellSpec", "Kernel", "positive_int", "one_of", "boolean"]


@dataclass(frozen=True)
class Option:
    """One option of a cell: its name, default, help and validation.

    ``check(name, value, options, hidden_size)`` raises ``ValueError``/``TypeError`` whose message
    starts with the option's name, says what it got and what is allowed; ``options`` holds
    the other options' values (defaults filled in).  ``allowed`` lists a finite set of
    values (for help texts and CLI choices), or is None.
    """

    name: str
    default: Any
    help: str
    check: Callable[[str, Any, Mapping[str, Any], int], None]
    allowed: tuple | None = None


def one_of(*values: Any) -> Callable[[str, Any, Mapping[str, Any], int], None]:
    """A check: the value is one of ``values``."""

    def check(name: str, v: Any, opts: Mapping[str, Any], hidden_size: int) -> None:
        if not isinstance(v, str) or v not in values:
            raise ValueError(f"{name}: expected one of {', '.join(repr(a) for a in values)}, got {v!r}")

    return check


def registered(name: str) -> CellSpec:
    """The spec registered as ``name`` (:data:`rnnx.cells.CELLS`): how a pickled spec loads."""
    from rnnx import cells

    return cells.spec(name)


def boolean(name: str, v: Any, opts: Mapping[str, Any], hidden_size: int) -> None:
    """A check: the value is True or False."""
    if not isinstance(v, bool):
        raise TypeError(f"{name}: expected a bool, got {v!r}")


def positive_int(name: str, v: Any, *, allow_zero: bool = False) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < (0 if allow_zero else 1):
        raise ValueError(f"{name}: expected {'an int >= 0' if allow_zero else 'a positive int'}, got {v!r}")


@dataclass(frozen=True)
class Kernel:
    """The step functions of one cell with its options fixed (contract: module docstring)."""

    name: str
    gates: int
    prepare: Callable[..., tuple[Any, Any, Any]]
    prepare_back: Callable[..., Any]
    step: Callable[..., tuple[tuple[Any, ...], tuple[Any, ...]]]
    step_back: Callable[..., tuple[tuple[Any, ...], Any, tuple[Any, ...]]]
    weight_grads: Callable[..., dict[str, Any]]
    kept: int


@dataclass(frozen=True)
class CellSpec:
    """Everything about one cell (see the module docstring).

    name: registry key (``"lstm"``); title: the layer class and torch/Keras-style name
    (``"LSTM"``); gates: the row blocks of ``weight_ih`` in PyTorch's order; state: the
    state components (``("h", "c")``); options: :class:`Option` records; param_shapes(opts,
    hidden_size, fan_in, bias) -> {base name: shape} in torch's ``state_dict`` order;
    output_size(opts, hidden_size) -> the size of h (the layer output per direction);
    state_sizes(opts, hidden_size) -> one size per state component; kernel(opts,
    hidden_size) -> :class:`Kernel`; torch: the ``torch.nn`` class name or None;
    torch_kwargs(opts) -> its extra keyword arguments, or None where torch cannot compute
    these options; keras: the Keras layer name; flax: the Flax cell names; variants: the
    option sets every test and ``rnnx parity`` run, by id.
    """

    name: str
    title: str
    gates: tuple[str, ...]
    state: tuple[str, ...]
    options: tuple[Option, ...]
    param_shapes: Callable[[Mapping[str, Any], int, int, bool], dict[str, tuple[int, ...]]]
    output_size: Callable[[Mapping[str, Any], int], int]
    state_sizes: Callable[[Mapping[str, Any], int], tuple[int, ...]]
    kernel: Callable[[Mapping[str, Any], int], Kernel]
    torch: str | None
    torch_kwargs: Callable[[Mapping[str, Any]], dict | None]
    keras: str | None
    flax: tuple[str, ...]
    variants: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        """Pickled by its registry name (its functions are the cell module's, not data): a
        :class:`rnnx.Model` or layer pickles and joblib-dumps; a spec not in
        :data:`rnnx.cells.CELLS` under its name cannot be pickled (``PicklingError`` naming it)."""
        from rnnx import cells

        if cells.CELLS.get(self.name) is not self:
            import pickle

            raise pickle.PicklingError(f"cell: {self.name!r} is not the spec registered in rnnx.cells.CELLS under "
                                       "that name; only registered cells pickle")
        return registered, (self.name,)

    @property
    def option_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.options)

    def defaults(self) -> dict[str, Any]:
        return {o.name: o.default for o in self.options}

    def resolve(self, hidden_size: int, given: Mapping[str, Any]) -> dict[str, Any]:
        """Every option's value: ``given`` over the defaults, each validated.  An option
        this cell does not have is an error that names it and lists the cell's options."""
        unknown = [k for k in given if k not in self.option_names]
        if unknown:
            have = ", ".join(self.option_names) or "none"
            raise TypeError(f"{unknown[0]}: not an option of {self.title} (its options: {have})")
        opts = {**self.defaults(), **given}
        for o in self.options:
            o.check(o.name, opts[o.name], opts, hidden_size)
        return opts
