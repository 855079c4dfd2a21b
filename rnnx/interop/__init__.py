"""Weights in and out of PyTorch, Keras 3 and Flax.

Each converter is a pure function on arrays; the foreign library is imported only when a
converter is called.  ``from_*`` returns ``(layer, params)``: an rnnx layer configured like
the foreign one and its parameters in rnnx's (PyTorch's) layout, on the namespace ``xp``.
"""

from rnnx.interop.flax import from_flax, to_flax
from rnnx.interop.keras import from_keras, to_keras
from rnnx.interop.torch import from_torch, to_torch

__all__ = ["from_torch", "to_torch", "from_keras", "to_keras", "from_flax", "to_flax"]
