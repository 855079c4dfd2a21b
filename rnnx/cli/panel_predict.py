"""The former name of :mod:`rnnx.cli.tasks.classification_predict` (the same module object, for code written before)."""

import sys

from rnnx.cli.tasks import classification_predict

sys.modules[__name__] = classification_predict
