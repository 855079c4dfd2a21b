"""The former name of :mod:`rnnx.cli.tasks.classification` (the same module object, for code written before)."""

import sys

from rnnx.cli.tasks import classification

sys.modules[__name__] = classification
