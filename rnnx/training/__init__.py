"""Training: the engine (:mod:`~rnnx.training.engine`: :func:`rnnx.fit`), its data
(:mod:`~rnnx.training.sources`), its updates and how they run
(:mod:`~rnnx.training.strategies`), its state and file (:mod:`~rnnx.training.state`), its
callbacks (:mod:`~rnnx.training.callbacks`, re-exported here), the defaults the CLI and the
estimators share (:mod:`~rnnx.training.defaults`) and the series-scale scores of
``rnnx train --csv`` (:mod:`~rnnx.training.windows`)."""

from rnnx.training.callbacks import STOP_REASONS, Callback, EarlyStopping, LambdaCallback, ProgressBar, Run

__all__ = ["Callback", "Run", "EarlyStopping", "LambdaCallback", "ProgressBar", "STOP_REASONS"]
