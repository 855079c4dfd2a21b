"""The former name of :mod:`rnnx.cli.tasks.classification_resume` (the same module object, for code written before)."""

import sys

from rnnx.cli.tasks import classification_resume

sys.modules[__name__] = classification_resume
