"""rnnx: recurrent networks (RNN, LSTM, GRU) with hand-derived BPTT, written once against
the Python array API standard.  See :mod:`rnnx.nn.layers` for the API and
:data:`rnnx.cells.CELLS` for the cells and their options.

The names below are imported on first use (PEP 562), so that ``import rnnx.cli`` (the
``rnnx`` command) starts in milliseconds and a Ctrl-C during its start-up reaches the
command's own handler."""

from __future__ import annotations

from importlib import import_module
from typing import Any

#: public name -> the module that defines it
_LAZY = {
    "NonFiniteError": "rnnx.checks",
    "load": "rnnx.io.files", "save": "rnnx.io.files",
    "GRU": "rnnx.nn.layers", "LSTM": "rnnx.nn.layers", "RNN": "rnnx.nn.layers", "Cache": "rnnx.nn.layers",
    "Recurrent": "rnnx.nn.layers", "layer": "rnnx.nn.layers", "layer_from_config": "rnnx.nn.layers",
    "Model": "rnnx.nn.model",
    "fit": "rnnx.training.engine", "evaluate": "rnnx.training.engine", "predict": "rnnx.training.engine",
    "FitResult": "rnnx.training.state",
    "RNNRegressor": "rnnx.interop.sklearn", "RNNClassifier": "rnnx.interop.sklearn",
    "Forecaster": "rnnx.interop.forecaster",
}

__all__ = ["RNN", "LSTM", "GRU", "Recurrent", "Cache", "Model", "layer", "layer_from_config", "save", "load",
           "NonFiniteError", "fit", "evaluate", "predict", "FitResult", "RNNRegressor", "RNNClassifier", "Forecaster"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rnnx' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
