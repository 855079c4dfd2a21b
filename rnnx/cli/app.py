"""The former name of :mod:`rnnx.cli.tasks.regression` (the same module object, for code written before)."""

import sys

from rnnx.cli.tasks import regression

sys.modules[__name__] = regression
