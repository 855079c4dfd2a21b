"""The case harness moved to :mod:`rnnx.testing.harness` (shared with ``rnnx parity``); this name
stays for test files that still import it."""

from rnnx.testing.harness import *  # noqa: F401,F403
from rnnx.testing.harness import __all__  # noqa: F401
