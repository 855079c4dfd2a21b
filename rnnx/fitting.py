r"""Training a :class:`~rnnx.model.Model` on arrays: ``fit``, ``evaluate``, ``predict`` (this
module names the engine's public API; the code is in :mod:`rnnx.training`).

    result = rnnx.fit(model, x, y, epochs=10, batch_size=32, ...)
    result.params, result.history        # the trained parameters, one dict per epoch
    rnnx.evaluate(model, result.params, x_test, y_test)   # {"loss": ..., "rmse": ...}
    rnnx.predict(model, result.params, x_new)             # (B, O) or (B, T, O)

- :mod:`rnnx.training.engine`: :func:`fit` (the one loop, its callbacks and checkpoints),
  :func:`evaluate`, :func:`predict`;
- :mod:`rnnx.training.sources`: :class:`Batches`, :func:`prepare`, the validation split and
  the per-batch length cut (:func:`cut_length`, :func:`batch_cuts`);
- :mod:`rnnx.training.strategies`: the update (:func:`make_apply`, :func:`make_update`) and how
  it runs (:func:`make_step`, :func:`make_steps`: compiled, scanned, data parallel, Dask,
  truncated BPTT);
- :mod:`rnnx.training.state`: :class:`FitState`, :class:`FitResult`, the ``fit-state`` file
  (:func:`save_state`, :func:`load_state`), :class:`NonFiniteLoss`, :class:`Stopped`.
"""

from __future__ import annotations

from rnnx.training.engine import evaluate, fit, predict
from rnnx.training.sources import CUT_RATIO, Batches, batch_cuts, cut_length, prepare
from rnnx.training.state import FitResult, FitState, NonFiniteLoss, Stopped, load_state, save_state
from rnnx.training.strategies import AUTO_STEPS_PER_EXECUTION, make_apply, make_step, make_steps, make_update

__all__ = ["fit", "evaluate", "predict", "FitResult", "FitState", "Batches", "Stopped", "NonFiniteLoss", "prepare",
           "cut_length", "batch_cuts", "CUT_RATIO", "make_apply", "make_update", "make_step", "make_steps",
           "AUTO_STEPS_PER_EXECUTION", "save_state", "load_state"]
