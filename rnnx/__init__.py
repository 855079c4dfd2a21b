"""rnnx: recurrent networks (RNN, LSTM, GRU) with hand-derived BPTT, written once against
the Python array API standard.  See :mod:`rnnx.layers` for the API."""

from rnnx.layers import GRU, LSTM, RNN, Cache

__all__ = ["RNN", "LSTM", "GRU", "Cache"]
__version__ = "0.1.0"
