"""The former name of :mod:`rnnx.cli.tasks.text` (the same module object, for code written before)."""

import sys

from rnnx.cli.tasks import text

sys.modules[__name__] = text
