"""The case harness moved to :mod:`rnnx.cli.testing` (shared with ``rnnx parity``); this name
stays for test files that still import it."""

from rnnx.cli.testing import *  # noqa: F401,F403
from rnnx.cli.testing import __all__  # noqa: F401
