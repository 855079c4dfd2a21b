"""rnnx: recurrent networks (RNN, LSTM, GRU) with hand-derived BPTT, written once against
the Python array API standard.  See :mod:`rnnx.layers` for the API and
:data:`rnnx.cells.CELLS` for the cells and their options."""

from rnnx.checks import NonFiniteError
from rnnx.io.files import load, save
from rnnx.layers import GRU, LSTM, RNN, Cache, Recurrent, layer, layer_from_config
from rnnx.model import Model

__all__ = ["RNN", "LSTM", "GRU", "Recurrent", "Cache", "Model", "layer", "layer_from_config", "save", "load",
           "NonFiniteError"]
__version__ = "0.1.0"
