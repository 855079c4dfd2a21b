"""rnnx.RNNRegressor / RNNClassifier: scikit-learn's estimator protocol (clone,
get_params/set_params, GridSearchCV, cross_val_score), ragged input, labels of any kind,
standardisation, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import rnnx

sklearn = pytest.importorskip("sklearn", reason="scikit-learn is not installed: pip install -e '.[sklearn]'")
from sklearn.base import clone, is_classifier, is_regressor  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
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
    assert repr(clf) == "RNNClassifier(epochs=100, hidden_size=8, lr=0.01, random_state=0)"


def test_classifier_is_reproducible_for_a_random_state():
    X, y = _waves(30)
    a = rnnx.RNNClassifier(**{**FAST, "epochs": 3}).fit(X, y).predict_proba(X)
    b = rnnx.RNNClassifier(**{**FAST, "epochs": 3}).fit(X, y).predict_proba(X)
    assert np.array_equal(a, b)


def test_ragged_sequences_and_integer_labels():
    X, y = _waves(ragged=True)
    codes = np.searchsorted(["fast", "mid", "slow"], y) + 10  # any integers
    # about ragged input, not the defaults: every sequence trains (no validation part)
    clf = rnnx.RNNClassifier(**FAST, cell="lstm", validation_fraction=0.0).fit(X, codes)
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
    y = np.cumsum(X, axis=1)  # (N, T, 1): a running sum at every step
    reg = rnnx.RNNRegressor(cell="gru", hidden_size=16, epochs=80, lr=1e-2, random_state=0).fit(X, y)
    assert reg.per_step_ and reg.predict(X).shape == (40, 6, 1)
    assert reg.score(X, y) >= 0.9


def test_set_params_and_bad_input():
    clf = rnnx.RNNClassifier()
    assert clf.set_params(hidden_size=4) is clf and clf.hidden_size == 4
    with pytest.raises(ValueError, match=r"^hidden: not a parameter of RNNClassifier; expected one of "):
        clf.set_params(hidden=4)
    X, y = _waves(12)
    with pytest.raises(NotFittedError, match=r"This RNNClassifier instance is not fitted yet"):
        clf.predict(X)
    with pytest.raises(ValueError, match=r"^y: expected at least 2 classes, got 1"):
        rnnx.RNNClassifier(**FAST).fit(X, np.zeros(12))
    with pytest.raises(ValueError, match=r"^y: expected labels of shape \(12,\) \(one per sequence\)"):
        rnnx.RNNClassifier(**FAST).fit(X, y[:5])
    with pytest.raises(ValueError, match=r"Expected 2D array, got 1D array instead"):
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
    with pytest.raises(ValueError, match=r"Input X contains NaN"):
        rnnx.RNNRegressor(**FAST).fit(np.full((12, 10, 2), np.nan), np.zeros(12))


@pytest.mark.parametrize("backend", ["torch", "jax", "array_api_strict"])
def test_estimator_on_other_backends_equals_numpy(backend):
    pytest.importorskip(backend)
    X, y = _waves(18)
    kw = {**FAST, "epochs": 2}
    ref = rnnx.RNNClassifier(**kw).fit(X, y).predict_proba(X)
    got = rnnx.RNNClassifier(backend=backend, **kw).fit(X, y).predict_proba(X)
    assert np.max(np.abs(got - ref)) <= 1e-12


# -- issue 29 item 3: behave as scikit-learn's own ----------------------------------------------------

TINY = dict(hidden_size=4, epochs=3, lr=1e-2, random_state=0)


def test_model_and_fitted_estimators_pickle_and_joblib(tmp_path):
    import pickle

    joblib = pytest.importorskip("joblib")
    m = rnnx.Model("gru", 2, 3, 2, num_layers=2, reset_after=False)
    m2 = pickle.loads(pickle.dumps(m))
    assert m2.config() == m.config() and m2.layer.spec is m.layer.spec
    X, y = _waves(18)
    clf = rnnx.RNNClassifier(**TINY).fit(X, y)
    reg = rnnx.RNNRegressor(**TINY).fit(X, X[:, -1, :1] * 0.01)
    for est in (clf, reg):
        again = pickle.loads(pickle.dumps(est))
        np.testing.assert_array_equal(again.predict(X), est.predict(X))
        path = tmp_path / "est.joblib"
        joblib.dump(est, path)
        np.testing.assert_array_equal(joblib.load(path).predict(X), est.predict(X))


@pytest.mark.parametrize("bad,match", [(np.nan, "Input X contains NaN"), (np.inf, "Input X contains infinity"),
                                       (1j, "Complex data not supported")])
def test_predict_validates_X_as_fit_does(bad, match):
    X, y = _waves(12)
    for est, target in ((rnnx.RNNClassifier(**TINY), y), (rnnx.RNNRegressor(**TINY), np.arange(12.0))):
        est.fit(X, target)
        Xb = X.astype(complex if isinstance(bad, complex) else float)
        Xb[3, 2, 1] = bad
        for method in ("predict", "score") if isinstance(est, rnnx.RNNRegressor) else (
                "predict", "predict_proba", "decision_function", "score"):
            args = (Xb, target) if method == "score" else (Xb,)
            with pytest.raises(ValueError, match=match):
                getattr(est, method)(*args)
        with pytest.raises(ValueError, match=match):
            type(est)(**TINY).fit(Xb, target)


def test_labels_continuous_refused_and_nan_never_a_class():
    X, _ = _waves(12)
    with pytest.raises(ValueError, match=r"Unknown label type: continuous"):
        rnnx.RNNClassifier(**TINY).fit(X, np.linspace(0, 1, 12))
    y = np.array([0.0, 1.0] * 6)
    y[4] = np.nan
    with pytest.raises(ValueError, match=r"Input y contains NaN"):
        rnnx.RNNClassifier(**TINY).fit(X, y)
    yo = np.array(["a", "b"] * 6, dtype=object)
    yo[4] = np.nan
    with pytest.raises(ValueError, match=r"y: .*NaN"):
        rnnx.RNNClassifier(**TINY).fit(X, yo)
    with pytest.raises(ValueError, match=r"Input y contains NaN"):
        rnnx.RNNRegressor(**TINY).fit(X, y)


def test_regressor_init_takes_no_kwargs_and_2d_y_is_never_per_step():
    import inspect

    kinds = {p.kind for p in inspect.signature(rnnx.RNNRegressor.__init__).parameters.values()}
    assert inspect.Parameter.VAR_KEYWORD not in kinds
    assert "cell" in rnnx.RNNRegressor().get_params()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, 4, 1))
    y = rng.normal(size=(16, 4))  # (N, O) with O == T: four outputs per sequence
    reg = rnnx.RNNRegressor(**TINY).fit(X, y)
    assert not reg.per_step_ and reg.predict(X).shape == (16, 4)


def test_predict_log_proba_and_decision_function():
    X, y = _waves(18)
    clf = rnnx.RNNClassifier(**TINY).fit(X, y)
    p = clf.predict_proba(X)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(p), rtol=1e-12, atol=1e-12)
    d = clf.decision_function(X)
    assert d.shape == (18, 3) and (clf.classes_[d.argmax(1)] == clf.predict(X)).all()
    yb = np.where(y == "slow", "slow", "other")
    clf2 = rnnx.RNNClassifier(**TINY).fit(X, yb)
    d2 = clf2.decision_function(X)
    assert d2.shape == (18,) and (clf2.classes_[(d2 > 0).astype(int)] == clf2.predict(X)).all()


def test_warm_start_and_partial_fit():
    X, y = _waves(18)
    cold = rnnx.RNNClassifier(**TINY).fit(X, y)
    warm = rnnx.RNNClassifier(**TINY, warm_start=True).fit(X, y)
    first = {k: np.array(v) for k, v in warm.params_.items()}
    warm.fit(X, y)  # continues from the weights of the first fit
    assert warm.history_[0]["loss"] < cold.history_[0]["loss"]
    assert any(not np.array_equal(first[k], np.asarray(v)) for k, v in warm.params_.items())
    with pytest.raises(ValueError, match=r"^classes: expected the full list of classes on the first call"):
        rnnx.RNNClassifier(**TINY).partial_fit(X, y)
    inc = rnnx.RNNClassifier(**TINY)
    inc.partial_fit(X[:6], y[:6], classes=["fast", "mid", "slow"])
    assert list(inc.classes_) == ["fast", "mid", "slow"] and inc.n_epochs_ == 1
    inc.partial_fit(X[6:], y[6:])
    assert inc.n_epochs_ == 2 and inc.predict(X).shape == (18,)
    with pytest.raises(ValueError, match=r"^y: label 'other' is not in classes_"):
        inc.partial_fit(X[:2], np.array(["other", "slow"]))
    reg = rnnx.RNNRegressor(**TINY).partial_fit(X, np.arange(18.0))
    assert reg.n_epochs_ == 1 and reg.predict(X).shape == (18,)


def test_sample_weight_in_fit_and_score():
    """fit(sample_weight=) reaches rnnx.fit: weights of 1 are the unweighted fit, other
    weights change it, bad ones are one line; score takes them too."""
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.utils.validation import has_fit_parameter

    X, y = _waves(18)
    t = np.arange(18.0)
    for est in (rnnx.RNNClassifier(**TINY), rnnx.RNNRegressor(**TINY)):
        target = y if est._estimator_type == "classifier" else t
        assert has_fit_parameter(est, "sample_weight")
        plain = clone(est).fit(X, target).decision_function(X) if est._estimator_type == "classifier" else \
            clone(est).fit(X, target).predict(X)
        ones = clone(est).fit(X, target, sample_weight=np.ones(18))
        skew = clone(est).fit(X, target, sample_weight=np.linspace(0.1, 3, 18))
        out = (lambda e: e.decision_function(X)) if est._estimator_type == "classifier" else (lambda e: e.predict(X))
        assert np.allclose(out(ones), plain, rtol=1e-10, atol=1e-12)
        assert not np.allclose(out(skew), plain, rtol=1e-6, atol=1e-9)
        with pytest.raises(ValueError, match=r"^sample_weight: expected shape \(18,\) \(one weight per sample of X\), "
                                             r"got \(3,\)$"):
            clone(est).fit(X, target, sample_weight=np.ones(3))
    w = np.linspace(0.1, 2, 18)
    clf = rnnx.RNNClassifier(**TINY).fit(X, y)
    assert clf.score(X, y, sample_weight=w) == pytest.approx(accuracy_score(y, clf.predict(X), sample_weight=w))
    reg = rnnx.RNNRegressor(**TINY).fit(X, t)
    assert reg.score(X, t, sample_weight=w) == pytest.approx(r2_score(t, reg.predict(X), sample_weight=w))


def test_validation_split_chronological_for_regressor_stratified_for_classifier():
    reg = rnnx.RNNRegressor(validation_fraction=0.25)
    train, val = reg._split(20, seed=3, strata=None)
    assert val == list(range(15, 20)) and train == list(range(15))  # the last quarter: no future window leaks
    labels = [0] * 12 + [1] * 8
    train, val = rnnx.RNNClassifier(validation_fraction=0.25)._split(20, seed=3, strata=labels)
    assert sorted(labels[i] for i in val) == [0, 0, 0, 1, 1]
