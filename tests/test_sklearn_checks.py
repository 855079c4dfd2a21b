"""scikit-learn's own estimator checks (``sklearn.utils.estimator_checks``) on rnnx.RNNRegressor
and rnnx.RNNClassifier, one test id per check: every check passes but one, declared an
expected failure with its reason (:data:`EXPECTED`): integer sample weights are not the same
as repeated samples for minibatch training (scikit-learn's own SGD estimators are exempt from
that check for the same reason).  The instances are small (8 units, 30 epochs: the training checks ask for R^2 >
0.5 and accuracy > 0.83 on their data) so the whole set stays a few CPU seconds."""

from __future__ import annotations

import warnings

import pytest

import rnnx

pytest.importorskip("sklearn", reason="scikit-learn is not installed: pip install -e '.[sklearn]'")
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

SMALL = dict(hidden_size=8, epochs=30, lr=0.03, random_state=0)
#: check -> why it cannot pass (measured: it fails, it is not skipped for convenience).
EXPECTED = {"check_sample_weight_equivalence_on_dense_data":
            "minibatch training: a sample of weight k is one row of its batch, k repeated rows fill k rows of "
            "possibly several batches of another shuffle, and the validation part differs; rnnx.fit's weighted "
            "mean equals repetition within one batch (tests/test_sample_weight_fit.py)"}


with warnings.catch_warnings():  # the estimators keep scikit-learn optional: they do not inherit BaseEstimator
    warnings.filterwarnings("ignore", message=r"Estimator RNN\w+ does not inherit from `sklearn.base.BaseEstimator`")
    checks = parametrize_with_checks([rnnx.RNNRegressor(**SMALL), rnnx.RNNClassifier(**SMALL)],
                                     expected_failed_checks=lambda est: EXPECTED)


@checks
def test_sklearn_estimator_check(estimator, check):
    check(estimator)
