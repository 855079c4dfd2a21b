"""rnnx: recurrent networks (RNN, LSTM, GRU) with hand-derived BPTT, written once against
the Python array API standard.  See :mod:`rnnx.layers` for the API."""

from rnnx.io.files import load, save
from rnnx.layers import GRU, LSTM, RNN, Cache
from rnnx.model import Model

__all__ = ["RNN", "LSTM", "GRU", "Cache", "Model", "save", "load"]
__version__ = "0.1.0"
