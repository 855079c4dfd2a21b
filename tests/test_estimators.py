"""rnnx.RNNRegressor / RNNClassifier: scikit-learn's estimator protocol (clone,
get_params/set_params, GridSearchCV, cross_val_score), ragged input, labels of any kind,
standardisation, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import rnnx

sklearn = pytest.importorskip("sklearn", reason="scikit-learn is not installed: pip install 'rnnx[sklearn]'")
from sklearn.base import clone, is_classifier, is_regressor  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score  # noqa: E402

FAST = dict(hidden_size=8, epochs=100, lr=1e-2, random_state=0)


def _waves(n=60, t=10, seed=0, ragged=False):
    """Three classes of sine by frequency, labels as strings; offset and scale far from 0/1
    (standardisation matters)."""
    rng = np.random.default_rng(seed)
    labels = np.array(["slow", "mid", "fast"])[np.arange(n) % 3]
    freq = {"slow": 0.4, "mid": 0.9, "fast": 1.6}
    seqs = []
    for i, lab in enumerate(labels):
        ti = int(rng.integers(5, t + 1)) if ragged else t
        s = np.sin(freq[lab] * np.arange(ti) + rng.uniform(0, 6))
        seqs.append(np.stack([100 + 50 * s, rng.normal(size=ti)], axis=-1))
    return (seqs if ragged else np.stack(seqs)), labels


def test_classifier_protocol_and_string_labels():
    X, y = _waves()
    clf = rnnx.RNNClassifier(cell="gru", **FAST)
    assert is_classifier(clf) and not is_regressor(clf)
    assert clf.get_params()["hidden_size"] == 8
    twin = clone(clf)
    assert twin.get_params() == clf.get_params() and twin is not clf
    assert clf.fit(X, y) is clf
    assert list(clf.classes_) == ["fast", "mid", "slow"]
    proba = clf.predict_proba(X)
    assert proba.shape == (60, 3) and np.allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    pred = clf.predict(X)
    assert set(pred) <= set(y)
    assert np.array_equal(pred, clf.classes_[proba.argmax(axis=1)])
    assert clf.score(X, y) >= 0.9
    assert clf.n_features_in_ == 2 and len(clf.history_) == clf.n_epochs_
    assert repr(clf) == "RNNClassifier(cell='gru', epochs=100, hidden_size=8, lr=0.01, random_state=0)"


def test_classifier_is_reproducible_for_a_random_state():
    X, y = _waves(30)
    a = rnnx.RNNClassifier(**{**FAST, "epochs": 3}).fit(X, y).predict_proba(X)
    b = rnnx.RNNClassifier(**{**FAST, "epochs": 3}).fit(X, y).predict_proba(X)
    assert np.array_equal(a, b)


def test_ragged_sequences_and_integer_labels():
    X, y = _waves(ragged=True)
    codes = np.searchsorted(["fast", "mid", "slow"], y) + 10  # any integers
    clf = rnnx.RNNClassifier(**FAST).fit(X, codes)
    assert list(clf.classes_) == [10, 11, 12]
    assert clf.score(X, codes) >= 0.85
    # the padding is never read: the same sequences padded further predict the same
    longer = [np.concatenate([s, np.full((3, 2), 1e6)])[: len(s)] for s in X]
    assert np.array_equal(clf.predict_proba(longer), clf.predict_proba(X))


def test_grid_search_and_cross_val_score():
    X, y = _waves(36)
    base = rnnx.RNNClassifier(**{**FAST, "epochs": 5})
    scores = cross_val_score(base, X, y, cv=3)
    assert scores.shape == (3,) and np.all((0 <= scores) & (scores <= 1))
    grid = GridSearchCV(base, {"hidden_size": [4, 8], "cell": ["gru", "rnn"]}, cv=2).fit(X, y)
    assert set(grid.best_params_) == {"hidden_size", "cell"}
    assert grid.best_estimator_.hidden_size in (4, 8)


def test_regressor_many_to_one_and_r2():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 8, 2)) * 10 + 5
    y = X[:, -3:, 0].mean(axis=1) * 2 - X[:, 0, 1]  # a function of the sequence
    reg = rnnx.RNNRegressor(cell="lstm", hidden_size=16, epochs=150, lr=1e-2, random_state=0)
    assert is_regressor(reg)
    reg.fit(X, y)
    pred = reg.predict(X)
    assert pred.shape == (80,)
    r2 = reg.score(X, y)
    assert r2 >= 0.9, r2
    want = 1 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    assert abs(r2 - want) < 1e-12
    s = cross_val_score(rnnx.RNNRegressor(hidden_size=4, epochs=3, random_state=0), X, y,
                        cv=KFold(2, shuffle=True, random_state=0))
    assert s.shape == (2,)


def test_regressor_per_step_targets():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 6, 1))
    y = np.cumsum(X[..., 0], axis=1)  # (N, T): a running sum at every step
    reg = rnnx.RNNRegressor(cell="gru", hidden_size=16, epochs=80, lr=1e-2, random_state=0).fit(X, y)
    assert reg.predict(X).shape == (40, 6)
    assert reg.score(X, y) >= 0.9


def test_set_params_and_bad_input():
    clf = rnnx.RNNClassifier()
    assert clf.set_params(hidden_size=4) is clf and clf.hidden_size == 4
    with pytest.raises(ValueError, match=r"^hidden: not a parameter of RNNClassifier; expected one of "):
        clf.set_params(hidden=4)
    X, y = _waves(12)
    with pytest.raises(ValueError, match=r"^RNNClassifier: not fitted yet; call fit\(X, y\) first$"):
        clf.predict(X)
    with pytest.raises(ValueError, match=r"^y: expected at least 2 classes, got 1"):
        rnnx.RNNClassifier(**FAST).fit(X, np.zeros(12))
    with pytest.raises(ValueError, match=r"^y: expected labels of shape \(12,\) \(one per sequence\)"):
        rnnx.RNNClassifier(**FAST).fit(X, y[:5])
    with pytest.raises(ValueError, match=r"^X: expected an array \(N, T, I\) or \(N, T\), got shape \(12,\)"):
        rnnx.RNNClassifier(**FAST).fit(np.zeros(12), y)
    with pytest.raises(ValueError, match=r"^X: sequence 1 has 3 features, expected 2"):
        rnnx.RNNClassifier(**FAST).fit([np.zeros((4, 2)), np.zeros((5, 3))], y[:2])
    clf = rnnx.RNNClassifier(**{**FAST, "epochs": 1}).fit(X, y)
    with pytest.raises(ValueError, match=r"^X: has 3 features per step, expected 2 \(as in fit\)"):
        clf.predict(np.zeros((2, 10, 3)))
    with pytest.raises(ValueError, match=r"^loss: expected one of mse, mae, huber, got 'cross-entropy'"):
        rnnx.RNNRegressor(loss="cross-entropy").fit(X, np.zeros(12))
    with pytest.raises(ValueError, match=r"^backend: "):
        rnnx.RNNRegressor(backend="tensorflow").fit(X, np.zeros(12))
    with pytest.raises(ValueError, match=r"^validation_fraction: expected a fraction in \[0, 1\), got 2"):
        rnnx.RNNRegressor(validation_fraction=2).fit(X, np.zeros(12))
    with pytest.raises(ValueError, match=r"^X: expected finite numbers"):
        rnnx.RNNRegressor(**FAST).fit(np.full((12, 10, 2), np.nan), np.zeros(12))


@pytest.mark.parametrize("backend", ["torch", "jax", "array_api_strict"])
def test_estimator_on_other_backends_equals_numpy(backend):
    pytest.importorskip(backend)
    X, y = _waves(18)
    kw = {**FAST, "epochs": 2}
    ref = rnnx.RNNClassifier(**kw).fit(X, y).predict_proba(X)
    got = rnnx.RNNClassifier(backend=backend, **kw).fit(X, y).predict_proba(X)
    assert np.max(np.abs(got - ref)) <= 1e-12
