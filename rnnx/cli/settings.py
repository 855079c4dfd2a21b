"""The settings of ``rnnx train``: a frozen dataclass whose field defaults are the defaults
table, and :func:`resolve`: defaults, then a preset's values, then what the command line
gave explicitly (a value of ``None`` is "not given").

A run stores its settings (``TrainSettings.to_json()``, the :func:`dataclasses.asdict` of
it) in ``checkpoint.npz``, ``model.npz`` and ``metrics.json``; :meth:`TrainSettings.from_json`
reads them back, also those of runs written before ``model_options`` existed (they held
``nonlinearity`` at the top level, for every cell).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from rnnx.cells import CELLS, Option
from rnnx.cells import spec as cell_spec
from rnnx.cli.errors import AppError, flag_for
from rnnx.dataset import PRESETS
from rnnx.layers import LAYER_OPTIONS

#: Layer and cell options that are not model options of a run: they have a setting of
#: their own (``--layers``, ``--bidirectional``), mean nothing to it (a Model is time-major),
#: or choose how rather than what is computed (``fused``: the library picks the kernel).
_NOT_SETTINGS = ("num_layers", "bidirectional", "batch_first", "fused")


def options_of(cell: str) -> tuple[Option, ...]:
    """The model options a run of ``cell`` carries (``TrainSettings.model_options``): the
    layer's (``dropout``, ``bias``) and the cell's own (:data:`rnnx.cells.CELLS`)."""
    spec = cell_spec(cell)  # ValueError naming the cells
    return tuple(o for o in (*LAYER_OPTIONS, *spec.options) if o.name not in _NOT_SETTINGS)


def all_options() -> dict[str, Option]:
    """Every model option of any cell, by name, in the order the layer and the cells declare
    them (the first declaration of a name)."""
    out: dict[str, Option] = {}
    for cell in CELLS:
        for o in options_of(cell):
            out.setdefault(o.name, o)
    return out


def cells_with(option: str) -> tuple[str, ...]:
    return tuple(c for c in CELLS if any(o.name == option for o in options_of(c)))


def defaults_of(cell: str) -> dict[str, Any]:
    return {o.name: o.default for o in options_of(cell)}


@dataclass(frozen=True)
class TrainSettings:
    """Everything that fixes a run of ``rnnx train`` (the defaults table is the field
    defaults).  ``model_options`` holds every option of the layer and of the chosen cell
    (:func:`options_of`: ``dropout``, ``nonlinearity`` of the RNN, ``proj_size`` of the
    LSTM, ...), given or default, as :class:`rnnx.Model` takes them.  The dataclass does not
    check values: the library does when the run builds its model, data and trainer."""

    # the data
    preset: str | None = None
    csv: str | None = None
    column: str | None = None
    window: int = 20
    horizon: int = 1
    split: tuple[float, float, float] = (0.7, 0.15, 0.15)
    # where it runs
    backend: str = "numpy"
    device: str | None = None
    dtype: str = "float64"
    # the model
    cell: str = "lstm"
    hidden: int = 32
    layers: int = 1
    bidirectional: bool = False
    model_options: dict[str, Any] = field(default_factory=dict)
    output_activation: str = "none"
    objective: str = "many-to-one"
    # the training
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.0
    nesterov: bool = False
    batch_size: int = 32
    epochs: int = 100
    clip_value: float | None = None
    clip_norm: float | None = None
    tbptt: tuple[int, int] | None = None
    seed: int = 0
    early_stopping: int | None = None
    checkpoint_every: int = 10
    # set by presets only
    loss: str = "mse"
    init: str = "torch"
    final_target_every_step: bool = False
    freeze: tuple[str, ...] = ()
    normalise: bool = True

    def __post_init__(self) -> None:  # JSON gives lists: the sequence fields are tuples
        for name in ("split", "tbptt", "freeze"):
            v = getattr(self, name)
            if isinstance(v, list):
                object.__setattr__(self, name, tuple(v))
        object.__setattr__(self, "model_options", dict(self.model_options))

    @property
    def name(self) -> str:
        """The preset's name or the CSV file's."""
        return self.preset or str(self.csv)

    def to_json(self) -> dict[str, Any]:
        """The settings as a JSON-able dict (tuples as lists)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> TrainSettings:
        """Settings a run stored.  A cell option at the top level (the layout before
        ``model_options``) moves into it; an option that does not apply to the run's cell
        never had an effect and is dropped; missing ones take their defaults."""
        d = dict(d)
        names = {f.name for f in fields(cls)}
        opts = dict(d.pop("model_options", None) or {})
        for k in [k for k in d if k not in names and k in all_options()]:
            opts.setdefault(k, d.pop(k))
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"settings: unknown key(s) {unknown}; expected some of {sorted(names)}")
        cell = d.get("cell", cls.cell)
        applies = defaults_of(cell)
        return cls(**{**d, "model_options": {**applies, **{k: v for k, v in opts.items() if k in applies}}})


#: The fields a command line or a preset may set (all but model_options: its options go by name).
FIELDS: tuple[str, ...] = tuple(f.name for f in fields(TrainSettings) if f.name != "model_options")


def resolve(given: Mapping[str, Any]) -> TrainSettings:
    """Defaults, then the preset's values, then what ``given`` sets (``None``: not given).
    ``given`` holds field names and model option names (``nonlinearity=...``); an option
    given that the chosen cell does not have is an error naming it."""
    known = set(FIELDS) | set(all_options())
    extra = sorted(set(given) - known)
    if extra:
        raise TypeError(f"resolve: unknown setting(s) {extra}")
    explicit = {k: v for k, v in given.items() if v is not None}
    preset = explicit.get("preset")
    from_preset: dict[str, Any] = {}
    if preset is not None:
        if preset not in PRESETS:
            raise AppError(f"--preset: unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
        from_preset = {k: v for k, v in PRESETS[preset].items() if k != "series"}
    s = {**from_preset, **explicit}
    if preset is None and s.get("csv") is None:
        raise AppError("train: give --preset NAME or --csv FILE --column NAME")
    if s.get("csv") is not None and s.get("column") is None:
        raise AppError("--column: required with --csv (the name of the column to model)")
    cell = s.get("cell", TrainSettings.cell)
    applies = defaults_of(cell)
    for k in all_options():
        if k in explicit and k not in applies:
            only = ", ".join(cells_with(k))
            raise AppError(f"{flag_for(k)}: applies to --cell {only} only, got --cell {cell}")
    opts = {k: s.get(k, default) for k, default in applies.items()}  # a preset's other cell's: dropped
    return TrainSettings(**{k: v for k, v in s.items() if k in FIELDS}, model_options=opts)
