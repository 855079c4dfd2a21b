"""scikit-learn-style estimators over :func:`rnnx.fit`: ``RNNRegressor``, ``RNNClassifier``.

    clf = rnnx.RNNClassifier(cell="gru", hidden_size=64, random_state=0).fit(X, y)
    clf.predict(X_test); clf.predict_proba(X_test); clf.score(X_test, y_test)
    sklearn.model_selection.GridSearchCV(clf, {"hidden_size": [32, 64]}).fit(X, y)

X is an array (N, T, I), a 2-D table (N, T) of one feature per step (predicting on as many
columns as it was fitted on: give (N, T, 1) for other lengths), or a list of N arrays
(T_i, I) of different lengths (padded internally, the lengths kept: many-to-one reads each
sequence's last valid step).  y: regression targets (N,) / (N, O) (a 2-D y is always
outputs per sequence), or (N, T, O) for values at every step; class labels (N,) of any
hashable, sortable kind (``classes_``, sorted as scikit-learn's ``LabelEncoder``), or
(N, T) / a list of (T_i,) per-step labels (sequence labelling).

They follow scikit-learn's conventions (``__init__`` stores its arguments as given and
checks nothing; ``fit`` checks and sets the ``*_`` attributes; ``get_params`` /
``set_params`` / ``clone``; ``random_state``), so ``GridSearchCV`` and ``cross_val_score``
work, ``pickle``/``joblib`` round-trip them, and they pass scikit-learn's ``check_estimator``
(tests/test_sklearn_checks.py).  X and y are checked by scikit-learn's own validators
(``check_array``, ``check_classification_targets``, ``check_is_fitted``) in ``fit``,
``partial_fit`` and every prediction alike, so scikit-learn is needed (imported when they run).  Features are standardised on the training data (each feature's mean and
std over the valid steps of every sequence; ``standardize=False`` turns it off);
regression targets too (``standardize_target``), predictions back in the target's units.
The defaults are ``rnnx train``'s, from one table (:mod:`rnnx.training.defaults`):
``RNNClassifier`` as ``rnnx train --uea/--ts/--npz`` (a GRU of 64 units, Adam at lr 3e-3,
clipping at norm 1, at most 300 epochs, a stratified 20% validation part, stopping when
its loss has not improved for 30 epochs, the best epoch's weights restored),
``RNNRegressor`` as ``rnnx train --csv`` (an LSTM of 32 units, Adam at lr 1e-3, 100
epochs, no clipping, the last 15% of the samples validating, no early stopping: the best
validation epoch's weights are kept).  ``validation_fraction`` is the share held out
(stratified for a classifier; the last samples in their order for a regressor, so windows
of a series never validate on their past; 0: none, and ``early_stopping`` then watches
the training loss); ``early_stopping=None`` trains every epoch and, with a validation
part, keeps its best epoch's weights.  ``warm_start`` and ``partial_fit`` continue from the
fitted weights (the optimizer's state starts afresh each call).  ``fit`` and
``partial_fit`` take ``sample_weight``, passed (the training part's) to :func:`rnnx.fit`.
(Not core maths: NumPy is imported inside the functions.)
"""

from __future__ import annotations

import inspect
import random
from typing import Any

from rnnx import backends
from rnnx.interop._common import usable_target
from rnnx.training.defaults import CLASSIFICATION, REGRESSION

__all__ = ["RNNRegressor", "RNNClassifier"]


class _Base:
    """Configuration, ``get_params``/``set_params``, and the shared fit/predict path."""

    _estimator_type: str = ""
    _loss_names: tuple[str, ...] = ()

    def __init__(self, *, cell: str, hidden_size: int, num_layers: int, bidirectional: bool, dropout: float,
                 epochs: int, batch_size: int, optimizer: str, lr: float, clip_norm: float | None,
                 early_stopping: int | None, min_epochs: int, validation_fraction: float, shuffle: bool,
                 standardize: bool, backend: str, device: str | None, dtype: str, random_state: Any, verbose: int,
                 warm_start: bool) -> None:
        self.warm_start, self.min_epochs = warm_start, min_epochs
        self.cell, self.hidden_size, self.num_layers = cell, hidden_size, num_layers
        self.bidirectional, self.dropout, self.epochs, self.batch_size = bidirectional, dropout, epochs, batch_size
        self.optimizer, self.lr, self.clip_norm, self.early_stopping = optimizer, lr, clip_norm, early_stopping
        self.validation_fraction, self.shuffle, self.standardize = validation_fraction, shuffle, standardize
        self.backend, self.device, self.dtype = backend, device, dtype
        self.random_state, self.verbose = random_state, verbose

    # -- scikit-learn's estimator protocol ---------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        names = []
        for klass in reversed(cls.__mro__):
            init = klass.__dict__.get("__init__")
            if init is None:
                continue
            for p in inspect.signature(init).parameters.values():
                if p.kind is p.KEYWORD_ONLY and p.name not in names:
                    names.append(p.name)
        return sorted(names)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments, as given (scikit-learn's protocol)."""
        return {k: getattr(self, k) for k in self._param_names()}

    def set_params(self, **params: Any):
        """Set constructor arguments by name; an unknown name is a ValueError naming the valid ones."""
        valid = self._param_names()
        for k, v in params.items():
            if k not in valid:
                raise ValueError(f"{k}: not a parameter of {type(self).__name__}; expected one of {', '.join(valid)}")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        changed = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if defaults.get(k, object()) != v)
        return f"{type(self).__name__}({changed})"

    def __sklearn_tags__(self):
        from sklearn.utils import ClassifierTags, InputTags, RegressorTags, Tags, TargetTags

        regressor = self._estimator_type == "regressor"
        tags = Tags(estimator_type=self._estimator_type,
                    target_tags=TargetTags(required=True, multi_output=regressor, single_output=True),
                    input_tags=InputTags(two_d_array=True, three_d_array=True, allow_nan=False, sparse=False))
        if regressor:
            tags.regressor_tags = RegressorTags()
        else:
            tags.classifier_tags = ClassifierTags(multi_class=True, multi_label=False)
        return tags

    # -- the shared path ----------------------------------------------------------------------------
    def _seed(self) -> int:
        rs = self.random_state
        if rs is None:
            return random.SystemRandom().randrange(2**31)
        if isinstance(rs, bool) or not (isinstance(rs, int) or hasattr(rs, "randint")):
            raise ValueError(f"random_state: expected None, an int or a numpy RandomState, got {rs!r}")
        return int(rs) if isinstance(rs, int) else int(rs.randint(2**31))

    def _target(self):
        return usable_target(self.backend, self.device)

    def _panel(self, X: Any, name: str = "X") -> tuple[Any, Any, bool, Any]:
        """X as (x (N, T, I) float64 host array, lengths (N,) or None, ragged, the number of
        columns of a 2-D X (a table: one feature per step) or None), checked as
        scikit-learn checks (``check_array``: numbers, real, finite, dense, at least one
        sample and one step): the same in ``fit``, ``partial_fit`` and every prediction."""
        import numpy as np
        from sklearn.utils.validation import check_array

        if isinstance(X, (list, tuple)) and len(X) and not np.isscalar(X[0]) and np.ndim(X[0]) in (1, 2) and (
                len({np.shape(s)[0] for s in X}) > 1):
            seqs = [check_array(s, ensure_2d=False, dtype=np.float64, input_name=name) for s in X]
            seqs = [s[:, None] if s.ndim == 1 else s for s in seqs]
            feats = seqs[0].shape[1]
            for i, s in enumerate(seqs):
                if s.ndim != 2 or s.shape[0] < 1:
                    raise ValueError(f"{name}: sequence {i} has shape {s.shape}, expected (T_i, I) with T_i >= 1")
                if s.shape[1] != feats:
                    raise ValueError(f"{name}: sequence {i} has {s.shape[1]} features, expected {feats} "
                                     "(those of sequence 0)")
            lengths = np.asarray([s.shape[0] for s in seqs], dtype=np.int64)
            x = np.zeros((len(seqs), int(lengths.max()), feats))
            for i, s in enumerate(seqs):
                x[i, : s.shape[0]] = s
            return x, lengths, True, None
        if not isinstance(X, np.ndarray) and hasattr(X, "__array_namespace__"):
            X = backends.to_numpy(X)
        x = check_array(X, allow_nd=True, dtype=np.float64, input_name=name)
        cols = x.shape[1] if x.ndim == 2 else None
        if x.ndim == 2:
            x = x[:, :, None]
        if x.ndim != 3 or 0 in x.shape:
            raise ValueError(f"{name}: expected an array (N, T, I) or (N, T), got shape {x.shape}")
        return x, None, False, cols

    def _check_width(self, x: Any, cols: Any) -> None:
        """X against the fitted one: as many features per step; a 2-D X (a table) as many
        columns as a 2-D X in fit (scikit-learn's check of ``n_features_in_``)."""
        if x.shape[2] != self._step_features:
            raise ValueError(f"X: has {x.shape[2]} features per step, expected {self._step_features} (as in fit)")
        if cols is not None and self._columns is not None and cols != self._columns:
            raise ValueError(f"X has {cols} features, but {type(self).__name__} is expecting {self._columns} features "
                             "as input (a 2-D X is a table (n_samples, n_timesteps): give it the columns of fit, or "
                             "sequences of another length as (n_samples, T, 1))")

    def _set_width(self, x: Any, cols: Any) -> None:
        self._step_features, self._columns = x.shape[2], cols
        self.n_features_in_ = x.shape[2] if cols is None else cols

    def _valid(self, x: Any, lengths: Any) -> Any:
        import numpy as np

        if lengths is None:
            return np.ones(x.shape[:2], dtype=bool)
        return np.arange(x.shape[1])[None, :] < lengths[:, None]

    def _fit_scaler(self, x: Any, lengths: Any) -> None:
        import numpy as np

        I = x.shape[2]
        if not self.standardize:
            self.feature_mean_, self.feature_scale_ = np.zeros(I), np.ones(I)
            return
        v = x[self._valid(x, lengths)]  # (valid steps, I)
        mean, std = v.mean(axis=0), v.std(axis=0)
        self.feature_mean_, self.feature_scale_ = mean, np.where(std > 0, std, 1.0)

    def _scaled(self, x: Any, lengths: Any) -> Any:
        import numpy as np

        z = (x - self.feature_mean_) / self.feature_scale_
        return np.where(self._valid(x, lengths)[..., None], z, 0.0)

    def _fitted(self) -> bool:
        return hasattr(self, "params_")

    def _check_X(self, X: Any) -> tuple[Any, Any, bool]:
        """Checked as ``fit`` checks X (scikit-learn's ``NotFittedError`` before a fit)."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "params_")
        x, lengths, ragged, cols = self._panel(X)
        self._check_width(x, cols)
        return x, lengths, ragged

    def _split(self, n: int, seed: int, strata: Any = None) -> tuple[list[int], list[int]]:
        """Training and validation sample indices: none validating with
        ``validation_fraction=0``; else for a regressor the last fraction of the samples in
        their order (chronological: windows of one series never validate on their past), for
        a classifier a seeded shuffle of each class of which that fraction validates (stratified)."""
        f = self.validation_fraction
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0.0 <= f < 1.0:
            raise ValueError(f"validation_fraction: expected a fraction in [0, 1), got {f!r}")
        if f == 0:
            return list(range(n)), []
        if strata is None:
            k = int(round(n * f))
            train, val = list(range(n - k)), list(range(n - k, n))
        else:
            rng = random.Random(f"{seed}:split")
            groups: dict[Any, list[int]] = {}
            for i in range(n):
                groups.setdefault(strata[i], []).append(i)
            train, val = [], []
            for members in groups.values():
                rng.shuffle(members)
                k = int(round(len(members) * f))
                val += members[:k]
                train += members[k:]
        if not val or not train:
            raise ValueError(f"validation_fraction: {f} of {n} samples leaves {len(train)} to train on and {len(val)} "
                             "to validate; expected at least 1 of each (or validation_fraction=0)")
        return sorted(train), sorted(val)

    @staticmethod
    def _weights(sample_weight: Any, n: int) -> Any:
        """``sample_weight`` as float64 (n,), or None: finite, >= 0, at least one not 0 (ValueError naming it)."""
        import numpy as np

        if sample_weight is None:
            return None
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.ndim == 0:
            w = np.full(n, float(w))
        if w.shape != (n,):
            raise ValueError(f"sample_weight: expected shape ({n},) (one weight per sample of X), got {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or not np.any(w > 0):
            raise ValueError("sample_weight: expected finite weights >= 0, at least one weight not zero")
        return w

    def _train(self, x: Any, y: Any, lengths: Any, *, objective: str, output_size: int, loss: str, strata: Any,
               incremental: bool = False, sample_weight: Any = None):
        """Build the model and run :func:`rnnx.fit` on the chosen backend: from fresh weights,
        or (``warm_start`` refitting, ``partial_fit`` after the first call) from ``params_``
        for one more run (``partial_fit``: one epoch over the data given, no validation part,
        no early stopping); the optimizer's state starts afresh each call."""
        import numpy as np

        from rnnx.training import engine
        from rnnx.nn.model import Model
        from rnnx.training import EarlyStopping

        seed = self._seed()
        target = self._target()
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype: expected 'float32' or 'float64', got {self.dtype!r}")
        opts = {"num_layers": self.num_layers, "bidirectional": self.bidirectional, "dropout": self.dropout}
        model = Model(self.cell, x.shape[2], self.hidden_size, output_size, objective=objective, **opts)
        fdt = np.dtype(self.dtype)
        start = None
        if self._fitted() and (incremental or self.warm_start):
            if model.config() != self.model_.config():
                what = "partial_fit" if incremental else "warm_start"
                raise ValueError(f"{what}: the fitted model is {self.model_.config()}, these settings and data build "
                                 f"{model.config()}; expected the same (or a fresh fit with warm_start=False)")
            old = self._target_
            start = {k: target.from_numpy(np.ascontiguousarray(old.to_numpy(v), dtype=fdt))
                     for k, v in self.params_.items()}
        tr, va = (list(range(x.shape[0])), []) if incremental else self._split(x.shape[0], seed, strata)

        def arrays(idx):
            xs = target.from_numpy(np.ascontiguousarray(x[idx], dtype=fdt))
            ys = target.from_numpy(np.ascontiguousarray(y[idx], dtype=y.dtype if y.dtype.kind in "iu" else fdt))
            ls = None if lengths is None else target.from_numpy(np.ascontiguousarray(lengths[idx]))
            return xs, ys, ls

        with target.scope():
            xt, yt, lt = arrays(tr)
            val = arrays(va) if va else None
            epochs = 1 if incremental else self.epochs
            patience = None if incremental else self.early_stopping
            for name, v, low in (("early_stopping", self.early_stopping, 1), ("min_epochs", self.min_epochs, 0)):
                if (v is not None or name == "min_epochs") and (isinstance(v, bool) or not isinstance(v, int)
                                                                 or v < low):
                    raise ValueError(f"{name}: expected an int >= {low}{' or None' if low else ''}, got {v!r}")
            stopper = []
            if patience is not None:  # never before min_epochs (as rnnx train --min-epochs)
                stopper = [EarlyStopping(patience, start_from_epoch=self.min_epochs)]
            elif val is not None:  # no early stopping: keep the best validation epoch, as rnnx train
                stopper = [EarlyStopping(max(1, epochs), restore_best_weights=True)]
            wt = None if sample_weight is None else target.from_numpy(np.ascontiguousarray(sample_weight[tr], dtype=fdt))
            result = engine.fit(model, xt, yt, lengths=lt, validation_data=val, epochs=epochs, sample_weight=wt,
                                 batch_size=self.batch_size, shuffle=self.shuffle, optimizer=self.optimizer,
                                 lr=self.lr, loss=loss, clip_norm=self.clip_norm, verbose=self.verbose, seed=seed,
                                 params=start, callbacks=stopper)
        earlier = list(self.history_) if (incremental and self._fitted()) else []
        self.model_, self.params_, self.history_ = model, result.params, earlier + list(result.history)
        self.best_epoch_, self.n_epochs_ = result.best_epoch, len(self.history_)
        self._target_ = target
        return self

    def _raw_predict(self, x: Any, lengths: Any) -> Any:
        """The model's output on host: (N, O) or (N, T, O)."""
        import numpy as np

        from rnnx.training import engine

        t = self._target_
        fdt = np.dtype(self.dtype)
        with t.scope():
            xs = t.from_numpy(np.ascontiguousarray(self._scaled(x, lengths), dtype=fdt))
            ls = None if lengths is None else t.from_numpy(np.ascontiguousarray(lengths))
            out = engine.predict(self.model_, self.params_, xs, lengths=ls, batch_size=256)
            return np.asarray(t.to_numpy(out), dtype=np.float64)

    @staticmethod
    def _ragged(a: Any, lengths: Any) -> list:
        return [a[i, : int(n)] for i, n in enumerate(lengths)]

    def _score_weights(self, sample_weight: Any, x: Any, lengths: Any, per_step: bool) -> Any:
        """``sample_weight`` (N,) checked, repeated over each sequence's valid steps for per-step targets."""
        import numpy as np
        from sklearn.utils.validation import check_array

        if sample_weight is None:
            return None
        w = check_array(sample_weight, ensure_2d=False, dtype=np.float64, input_name="sample_weight")
        if w.shape != (x.shape[0],):
            raise ValueError(f"sample_weight: expected shape ({x.shape[0]},) (one weight per sequence), got {w.shape}")
        if per_step:
            w = np.broadcast_to(w[:, None], x.shape[:2])[self._valid(x, lengths)]
        return w


class RNNRegressor(_Base):
    """A recurrent network regressor: y (N,) or (N, O) from each sequence (many-to-one; a 2-D
    y is always O outputs per sequence, even where O equals T), or per step (many-to-many)
    as (N, T, O) / a list of (T_i[, O]) arrays.  ``loss``: "mse", "mae" or "huber";
    ``standardize_target``: fit on standardised targets, predict in their units.  ``score``:
    the coefficient of determination R^2 (scikit-learn's ``r2_score``, outputs averaged
    uniformly, ``sample_weight`` one per sequence), over valid steps for per-step targets.
    ``validation_fraction`` holds out the *last* fraction of the samples (chronological)."""

    _estimator_type = "regressor"

    def __init__(self, *, loss: str = "mse", standardize_target: bool = True, cell: str = REGRESSION.cell,
                 hidden_size: int = REGRESSION.hidden, num_layers: int = REGRESSION.layers, bidirectional: bool = False,
                 dropout: float = 0.0, epochs: int = REGRESSION.epochs, batch_size: int = REGRESSION.batch_size,
                 optimizer: str = REGRESSION.optimizer, lr: float = REGRESSION.lr,  # type: ignore[assignment]
                 clip_norm: float | None = REGRESSION.clip_norm, early_stopping: int | None = REGRESSION.patience,
                 min_epochs: int = REGRESSION.min_epochs, validation_fraction: float = REGRESSION.validation,
                 shuffle: bool = True, standardize: bool = True, backend: str = "numpy", device: str | None = None,
                 dtype: str = "float64", random_state: Any = None, verbose: int = 0, warm_start: bool = False) -> None:
        super().__init__(cell=cell, hidden_size=hidden_size, num_layers=num_layers, bidirectional=bidirectional,
                         dropout=dropout, epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr,
                         clip_norm=clip_norm, early_stopping=early_stopping, min_epochs=min_epochs,
                         validation_fraction=validation_fraction, shuffle=shuffle, standardize=standardize,
                         backend=backend, device=device, dtype=dtype,
                         random_state=random_state, verbose=verbose, warm_start=warm_start)
        self.loss, self.standardize_target = loss, standardize_target

    def fit(self, X: Any, y: Any, sample_weight: Any = None):
        """Train from fresh weights (from the fitted ones with ``warm_start=True``);
        ``sample_weight`` (n_samples,): each sequence's weight in the training loss
        (:func:`rnnx.fit`'s)."""
        return self._fit(X, y, incremental=False, sample_weight=sample_weight)

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None):
        """One epoch over (X, y) from the current weights (fresh ones on the first call,
        which also fixes the feature and target scaling)."""
        return self._fit(X, y, incremental=True, sample_weight=sample_weight)

    def _fit(self, X: Any, y: Any, *, incremental: bool, sample_weight: Any = None):
        import numpy as np

        if self.loss not in ("mse", "mae", "huber"):
            raise ValueError(f"loss: expected one of mse, mae, huber, got {self.loss!r}")
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        x, lengths, ragged, cols = self._panel(X)
        yv, per_step, y_1d = self._targets(y, x, lengths, ragged)
        keep = self._fitted() and (incremental or self.warm_start)
        if keep:
            self._check_width(x, cols)
        if keep and (per_step != self.per_step_ or yv.shape[-1] != self.n_outputs_):
            raise ValueError(f"y: has {yv.shape[-1]} outputs{' per step' if per_step else ''}, expected "
                             f"{self.n_outputs_}{' per step' if self.per_step_ else ''} (as in the fit continued)")
        mask = self._valid(x, lengths) if per_step else np.ones(x.shape[0], dtype=bool)
        if not keep:
            self._fit_scaler(x, lengths)
            vals = yv[mask] if per_step else yv
            mean, std = vals.mean(axis=0), vals.std(axis=0)
            self.target_mean_ = mean if self.standardize_target else np.zeros_like(mean)
            self.target_scale_ = np.where(std > 0, std, 1.0) if self.standardize_target else np.ones_like(std)
        z = (yv - self.target_mean_) / self.target_scale_
        if per_step:
            z = np.where(mask[..., None], z, 0.0)
        self._train(self._scaled(x, lengths), z, lengths, objective="many-to-many" if per_step else "many-to-one",
                    output_size=yv.shape[-1], loss=self.loss, strata=None, incremental=incremental,
                    sample_weight=self._weights(sample_weight, x.shape[0]))
        self._set_width(x, cols)
        self.n_outputs_, self.per_step_, self._y_1d = yv.shape[-1], per_step, y_1d
        return self

    def _targets(self, y: Any, x: Any, lengths: Any, ragged: bool) -> tuple[Any, bool, bool]:
        """y as (N, O) or (N, T, O) float64 (checked finite), whether it is per step, and
        whether it came one value per sequence or step (predictions then drop the O axis)."""
        import numpy as np
        from sklearn.utils.validation import check_array

        N, T = x.shape[0], x.shape[1]
        if ragged and isinstance(y, (list, tuple)) and len(y) == N and np.ndim(y[0]) >= 1 and (
                np.shape(y[0])[0] == lengths[0] and (np.ndim(y[0]) == 2 or len({np.shape(s)[0] for s in y}) > 1)):
            seqs = [check_array(s, ensure_2d=False, dtype=np.float64, input_name="y") for s in y]
            seqs = [s[:, None] if s.ndim == 1 else s for s in seqs]
            out = np.zeros((N, T, seqs[0].shape[1]))
            for i, s in enumerate(seqs):
                if s.shape[0] != lengths[i]:
                    raise ValueError(f"y: sequence {i} has {s.shape[0]} targets, expected {lengths[i]} (its length in X)")
                out[i, : s.shape[0]] = s
            return out, True, seqs[0].shape[1] == 1 and np.ndim(y[0]) == 1
        yv = check_array(y, ensure_2d=False, allow_nd=True, dtype=np.float64, input_name="y")
        if yv.shape[:1] != (N,):
            raise ValueError(f"y: expected {N} rows (one per sequence of X), got shape {yv.shape}")
        if yv.ndim == 1:
            return yv[:, None], False, True
        if yv.ndim == 2:
            return yv, False, False
        if yv.ndim == 3 and yv.shape[1] == T:
            return yv, True, False
        raise ValueError(f"y: expected shape (N,), (N, O) or per step (N, T, O) with N={N}, T={T}, got {yv.shape}")

    def predict(self, X: Any) -> Any:
        """Predictions in the target's units: (N,) / (N, O), or per step (N, T, O) (a list
        of (T_i[, O]) for a list X)."""
        x, lengths, ragged = self._check_X(X)
        out = self._raw_predict(x, lengths) * self.target_scale_ + self.target_mean_
        if self._y_1d:
            out = out[..., 0]
        if self.per_step_ and lengths is not None:
            return self._ragged(out, lengths) if ragged else out
        return out

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """R^2 of the predictions (scikit-learn's ``r2_score``, uniform average over outputs)."""
        from sklearn.metrics import r2_score

        x, lengths, ragged = self._check_X(X)
        yv, per_step, _ = self._targets(y, x, lengths, ragged)
        pred = self._raw_predict(x, lengths) * self.target_scale_ + self.target_mean_
        w = self._score_weights(sample_weight, x, lengths, per_step)
        if per_step:
            m = self._valid(x, lengths)
            yv, pred = yv[m], pred[m]
        return float(r2_score(yv, pred, sample_weight=w))


class RNNClassifier(_Base):
    """A recurrent network classifier: one label per sequence (y (N,); a column (N, 1) is
    taken as (N,) with scikit-learn's ``DataConversionWarning``), or one per step (y (N, T)
    with T > 1, or a list of (T_i,) arrays: sequence labelling).  Labels are checked as
    scikit-learn does (``check_classification_targets``: continuous values are refused; NaN
    is never a class).  Softmax cross-entropy over ``classes_`` (the sorted distinct labels);
    ``predict_proba`` / ``predict_log_proba`` give (N, n_classes) (or per step),
    ``decision_function`` the logits (N, n_classes), or for two classes the logit of
    ``classes_[1]`` over ``classes_[0]`` (N,); ``score`` is the accuracy (over valid steps
    for per-step labels; ``sample_weight`` one per sequence).  ``validation_fraction``
    holds out that fraction of each class (stratified)."""

    _estimator_type = "classifier"

    def __init__(self, *, cell: str = CLASSIFICATION.cell, hidden_size: int = CLASSIFICATION.hidden,
                 num_layers: int = CLASSIFICATION.layers, bidirectional: bool = False, dropout: float = 0.0,
                 epochs: int = CLASSIFICATION.epochs, batch_size: int = CLASSIFICATION.batch_size,
                 optimizer: str = CLASSIFICATION.optimizer, lr: float = CLASSIFICATION.lr,  # type: ignore[assignment]
                 clip_norm: float | None = CLASSIFICATION.clip_norm,
                 early_stopping: int | None = CLASSIFICATION.patience, min_epochs: int = CLASSIFICATION.min_epochs,
                 validation_fraction: float = CLASSIFICATION.validation, shuffle: bool = True, standardize: bool = True,
                 backend: str = "numpy", device: str | None = None, dtype: str = "float64", random_state: Any = None,
                 verbose: int = 0, warm_start: bool = False) -> None:
        super().__init__(cell=cell, hidden_size=hidden_size, num_layers=num_layers, bidirectional=bidirectional,
                         dropout=dropout, epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr,
                         clip_norm=clip_norm, early_stopping=early_stopping, min_epochs=min_epochs,
                         validation_fraction=validation_fraction, shuffle=shuffle, standardize=standardize,
                         backend=backend, device=device, dtype=dtype,
                         random_state=random_state, verbose=verbose, warm_start=warm_start)

    def fit(self, X: Any, y: Any, sample_weight: Any = None):
        """Train from fresh weights (from the fitted ones with ``warm_start=True``; the
        labels must then be among ``classes_``); ``sample_weight`` (n_samples,): each
        sequence's weight in the training loss (:func:`rnnx.fit`'s)."""
        return self._fit(X, y, incremental=False, classes=None, sample_weight=sample_weight)

    def partial_fit(self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None):
        """One epoch over (X, y) from the current weights; ``classes`` (every label that
        will ever be seen) is required on the first call, which also fixes the feature
        scaling, and ignored after it."""
        return self._fit(X, y, incremental=True, classes=classes, sample_weight=sample_weight)

    def _fit(self, X: Any, y: Any, *, incremental: bool, classes: Any, sample_weight: Any = None):
        import numpy as np

        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        x, lengths, ragged, cols = self._panel(X)
        labels, per_step = self._labels(y, x, lengths, ragged)
        valid = self._valid(x, lengths) if per_step else np.ones(x.shape[0], dtype=bool)
        keep = self._fitted() and (incremental or self.warm_start)
        if keep:
            self._check_width(x, cols)
            if per_step != self.per_step_:
                raise ValueError(f"y: labels {'per step' if per_step else 'per sequence'}, expected them "
                                 f"{'per step' if self.per_step_ else 'per sequence'} (as in the fit continued)")
        elif incremental:
            if classes is None:
                raise ValueError("classes: expected the full list of classes on the first call to partial_fit, "
                                 "got None")
            self.classes_ = self._classes(np.asarray(classes, dtype=object if np.asarray(classes).dtype.kind == "O"
                                                     else None).ravel(), "classes")
        else:
            self.classes_ = self._classes(labels[valid], "y")
        if keep or incremental:
            seen = labels[valid]
            pos = np.searchsorted(self.classes_, seen)
            bad = (pos >= len(self.classes_)) | (self.classes_[np.minimum(pos, len(self.classes_) - 1)] != seen)
            if bad.any():
                raise ValueError(f"y: label {seen[bad][0].item() if hasattr(seen[bad][0], 'item') else seen[bad][0]!r} "
                                 f"is not in classes_ {self.classes_.tolist()!r} (fixed by the "
                                 "first call)")
        codes = np.zeros(labels.shape, dtype=np.int64)
        codes[valid] = np.searchsorted(self.classes_, labels[valid])
        if not keep:
            self._fit_scaler(x, lengths)
        strata = None if per_step else codes.tolist()
        self._train(self._scaled(x, lengths), codes, lengths, objective="many-to-many" if per_step else "many-to-one",
                    output_size=len(self.classes_), loss="cross-entropy", strata=strata, incremental=incremental,
                    sample_weight=self._weights(sample_weight, x.shape[0]))
        self._set_width(x, cols)
        self.per_step_ = per_step
        return self

    @staticmethod
    def _classes(values: Any, name: str) -> Any:
        import numpy as np

        try:
            classes = np.unique(values)
        except TypeError as e:
            raise ValueError(f"{name}: labels must be mutually comparable to sort them into classes_ ({e})") from None
        if len(classes) < 2:
            raise ValueError(f"{name}: expected at least 2 classes, got {len(classes)} class{'es' if len(classes) != 1 else ''}"
                             f" ({classes.tolist()!r})")
        return classes

    def _labels(self, y: Any, x: Any, lengths: Any, ragged: bool) -> tuple[Any, bool]:
        """y as an (N,) or (N, T) array of labels, and whether they are per step; checked as
        scikit-learn checks class labels (finite, not continuous)."""
        import warnings

        import numpy as np
        from sklearn.exceptions import DataConversionWarning
        from sklearn.utils.multiclass import check_classification_targets

        N, T = x.shape[0], x.shape[1]
        if ragged and isinstance(y, (list, tuple)) and len(y) == N and np.ndim(y[0]) == 1:
            first = np.asarray(y[0])
            out = np.full((N, T), first[0], dtype=first.dtype if first.dtype.kind != "U" else object)
            for i, s in enumerate(y):
                s = np.asarray(s)
                if s.shape != (lengths[i],):
                    raise ValueError(f"y: sequence {i} has {s.shape[0] if s.ndim else 0} labels, expected "
                                     f"{lengths[i]} (its length in X)")
                out[i, : s.shape[0]] = s
            yv, per_step = out, True
        else:
            yv = np.asarray(y)
            if yv.ndim == 2 and yv.shape[0] == N and yv.shape[1] == 1:
                warnings.warn("A column-vector y was passed when a 1d array was expected. Please change the shape of "
                              "y to (n_samples,), for example using ravel().", DataConversionWarning, stacklevel=4)
                yv = yv[:, 0]
            if yv.ndim == 1 and yv.shape[0] == N:
                per_step = False
            elif yv.ndim == 2 and yv.shape == (N, T):
                per_step = True
            else:
                raise ValueError(f"y: expected labels of shape ({N},) (one per sequence) or ({N}, {T}) (one per step), "
                                 f"got {yv.shape}")
        valid = yv[self._valid(x, lengths)] if per_step else yv
        if valid.dtype.kind in "fc" and not np.all(np.isfinite(valid)):
            raise ValueError("Input y contains NaN or infinity: NaN is never a class; expected finite labels")
        if valid.dtype.kind == "O":
            nan = [i for i, v in enumerate(valid.ravel()) if isinstance(v, float) and v != v]
            if nan:
                raise ValueError(f"y: label {nan[0]} is NaN; NaN is never a class (expected labels without missing "
                                 "values)")
        check_classification_targets(valid)
        return yv, per_step

    def decision_function(self, X: Any) -> Any:
        """The logits, columns in ``classes_`` order: (N, n_classes) (or per step); with two
        classes the logit of ``classes_[1]`` minus that of ``classes_[0]``: (N,) (positive
        where ``classes_[1]`` is predicted)."""
        x, lengths, ragged = self._check_X(X)
        z = self._raw_predict(x, lengths)
        if z.shape[-1] == 2:
            z = z[..., 1] - z[..., 0]
        return self._ragged(z, lengths) if (self.per_step_ and ragged) else z

    def _log_proba(self, X: Any) -> tuple[Any, Any, bool]:
        import numpy as np

        x, lengths, ragged = self._check_X(X)
        z = self._raw_predict(x, lengths)
        z = z - z.max(axis=-1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=-1, keepdims=True)), lengths, ragged

    def predict_log_proba(self, X: Any) -> Any:
        """The log of :meth:`predict_proba` (a log-softmax of the logits, no underflow to -inf
        before it must)."""
        lp, lengths, ragged = self._log_proba(X)
        return self._ragged(lp, lengths) if (self.per_step_ and ragged) else lp

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities (softmax of the logits), columns in ``classes_`` order:
        (N, n_classes), or per step (N, T, n_classes) / a list of (T_i, n_classes)."""
        import numpy as np

        x, lengths, ragged = self._check_X(X)
        z = self._raw_predict(x, lengths)
        z = z - z.max(axis=-1, keepdims=True)
        p = np.exp(z)
        p = p / p.sum(axis=-1, keepdims=True)
        return self._ragged(p, lengths) if (self.per_step_ and ragged) else p

    def predict(self, X: Any) -> Any:
        """The most probable class of each sequence (or step), as labels of ``classes_``."""
        import numpy as np

        x, lengths, ragged = self._check_X(X)
        codes = np.argmax(self._raw_predict(x, lengths), axis=-1)
        out = self.classes_[codes]
        return self._ragged(out, lengths) if (self.per_step_ and ragged) else out

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy (scikit-learn's ``accuracy_score``: the fraction of sequences, or valid
        steps, whose label is predicted; weighted by ``sample_weight``)."""
        import numpy as np
        from sklearn.metrics import accuracy_score

        x, lengths, ragged = self._check_X(X)
        labels, per_step = self._labels(y, x, lengths, ragged)
        pred = self.classes_[np.argmax(self._raw_predict(x, lengths), axis=-1)]
        w = self._score_weights(sample_weight, x, lengths, per_step)
        if per_step:
            m = self._valid(x, lengths)
            labels, pred = labels[m], pred[m]
        return float(accuracy_score(labels, pred, sample_weight=w))
