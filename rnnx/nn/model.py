r"""A sequence model: recurrent layer(s) + linear head, trained by its explicit gradient.

.. math::
    h_{1..T} = \mathrm{RNN}(x_{1..T}; h_0), \qquad \hat y = \mathrm{act}(h W_{hy}^T + b_y)

Many-to-one reads out the last step only (``pred`` (B, O)); many-to-many reads out every
step (``pred`` (T, B, O)).  With ``lengths`` (B,) (padded sequences), many-to-one reads each
sequence's last valid step, :math:`h_b = y_{L_b - 1, b}` (torch's packed ``h_n`` for one
direction; a reverse direction's output there has seen one step, as without lengths), and
its backward puts dL/dh_b at that step only; many-to-many losses count steps t < L_b only.
Parameters: the layer's (PyTorch names) plus ``weight_hy``
(O, D*H) and ``bias_y`` (O,), initialised U(-1/sqrt(D*H), 1/sqrt(D*H)) like ``nn.Linear``.
Time-major throughout: x (T, B, I).
"""

from __future__ import annotations

from typing import Any

import array_api_compat as compat

from rnnx import checks, losses
from rnnx.nn import head
from rnnx.nn import params as P
from rnnx._xp import index_dtype, namespace, zeros_before, where
from rnnx.nn.layers import check_collect, layer, named_state

__all__ = ["OBJECTIVES", "Model"]

OBJECTIVES = ("many-to-one", "many-to-many")


class Model:
    """``Model(cell, input_size, hidden_size, output_size=1, *, output_activation="none",
    objective="many-to-one", **options)``: ``options`` are every layer option
    (num_layers, bias, batch_first, bidirectional, dropout) and the cell's own
    (:data:`rnnx.cells.CELLS`), passed to :func:`rnnx.layer`; one that does not apply to
    the cell is an error naming it.

    ``frozen``: the parameter names :func:`rnnx.fit` keeps unchanged when it is given no
    ``freeze`` (default ``()``); a converter sets it for the parameters its source library
    does not have (:func:`rnnx.interop.from_keras`: ``bias_hh`` of a layer with one bias
    per gate), so fine-tuning trains what the source library trains.  It is not part of
    :meth:`config` (a Model rebuilt from its config has ``()``); :func:`rnnx.save` writes it
    and :func:`rnnx.load` restores it."""

    def __init__(self, cell: str, input_size: int, hidden_size: int, output_size: int = 1, *,
                 output_activation: str = "none", objective: str = "many-to-one", **options: Any) -> None:
        if output_activation not in head.ACTIVATIONS:
            raise ValueError(f"output_activation: expected one of {', '.join(head.ACTIVATIONS)}, "
                             f"got {output_activation!r}")
        if objective not in OBJECTIVES:
            raise ValueError(f"objective: expected one of {', '.join(OBJECTIVES)}, got {objective!r}")
        if isinstance(output_size, bool) or not isinstance(output_size, int) or output_size < 1:
            raise ValueError(f"output_size: expected a positive int, got {output_size!r}")
        if options.get("batch_first"):
            raise ValueError("batch_first: a Model is time-major, x (T, B, I); expected batch_first=False")
        self.layer = layer(cell, input_size, hidden_size, **options)
        self.cell, self.output_size = self.layer.spec.name, output_size
        self.output_activation, self.objective = output_activation, objective
        self.frozen: tuple[str, ...] = ()

    def config(self) -> dict:
        """Everything that fixes the parameter shapes and the computation (JSON-able): the
        head's settings and every option of the layer (:meth:`rnnx.nn.layers.Recurrent.config`)."""
        return {**self.layer.config(), "output_size": self.output_size,
                "output_activation": self.output_activation, "objective": self.objective}

    @classmethod
    def from_config(cls, cfg: dict) -> Model:
        cfg = dict(cfg)
        if cfg.get("cell") != "rnn" and cfg.get("nonlinearity") == "tanh":
            del cfg["nonlinearity"]  # files written before the cell spec stored tanh for every cell
        cfg.pop("batch_first", None)
        return cls(cfg.pop("cell"), cfg.pop("input_size"), cfg.pop("hidden_size"), **cfg)

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        dh = self.layer.num_directions * self.layer.output_size
        return {**self.layer.param_shapes(), "weight_hy": (self.output_size, dh), "bias_y": (self.output_size,)}

    def init_params(self, xp: Any, *, seed: int = 0, dtype: Any = None, device: Any = None) -> dict[str, Any]:
        p = self.layer.init_params(xp, seed=seed, dtype=dtype, device=device)
        some = next(iter(p.values()))
        shapes = self.param_shapes()
        head_shapes = {k: shapes[k] for k in ("weight_hy", "bias_y")}
        xp2 = namespace(p=some)
        return {**p, **P.init(xp2, head_shapes, hidden_size=shapes["weight_hy"][1], seed=f"{seed}:head",
                               dtype=some.dtype, device=device)}

    def _split(self, params: dict) -> tuple[dict, Any, Any]:
        if not hasattr(params, "items") or "weight_hy" not in params or "bias_y" not in params:
            missing = [k for k in ("weight_hy", "bias_y") if not hasattr(params, "items") or k not in params]
            raise ValueError(f"params: missing key(s) {missing}; a Model needs the layer's keys and the head's")
        return {k: v for k, v in params.items() if k not in ("weight_hy", "bias_y")}, params["weight_hy"], params["bias_y"]

    def _named(self, params: dict, prefix: str = "params") -> dict[str, Any]:
        """``params`` (or gradients) keyed ``params['<key>']`` in :meth:`param_shapes` order
        (only the keys present: a missing one is :meth:`_split`'s or the layer's error)."""
        return {f"{prefix}[{k!r}]": params[k] for k in self.param_shapes() if k in params}

    @staticmethod
    def _check(named: dict[str, Any]) -> None:
        """:func:`rnnx.checks.all_finite` on ``named`` (called only under ``check_finite``, so
        that False builds nothing)."""
        checks.all_finite(named, xp=namespace(**named))

    def forward(self, params: dict, x: Any, state0: Any = None, *, lengths: Any = None, train: bool = False,
                seed: Any = None, check_finite: bool = False) -> tuple[Any, Any, tuple]:
        """x (T, B, I) -> (pred, final state, cache); pred (B, O) or (T, B, O).  ``lengths``
        (B,) integers in [1, T]: padded sequences (see the module docstring).  ``train`` and
        ``seed``: dropout between layers (:meth:`rnnx.nn.layers.Recurrent.forward`).

        ``check_finite=True``: :class:`~rnnx.checks.NonFiniteError` for the first NaN/Inf in
        ``x``, ``state0``, ``params`` (in :meth:`param_shapes` order) before computing, then
        in ``pred``, ``state``; a ``ValueError`` under ``jax.jit``.  False inspects nothing."""
        pred, state, cache = self._forward(params, x, state0, lengths=lengths, train=train, seed=seed,
                                           check_finite=check_finite)
        if check_finite:
            self._check({"pred": pred, **named_state("state", state)})
        return pred, state, cache

    def _forward(self, params, x, state0, *, lengths, train, seed, check_finite, xp=None, parts=None):
        """:meth:`forward` without the check of its results.  ``xp``: the namespace
        :meth:`loss_and_grad` resolved from every array of the call (then not resolved
        again); None resolves it from the layer's arrays, then from its output and the
        head's parameters.  ``parts``: :meth:`_split` of ``params``, where the caller formed it."""
        lp, w, b = self._split(params) if parts is None else parts
        if check_finite:
            self._check({"x": x, **named_state("state0", state0), **self._named(params)})
        if xp is None:
            y, state, cache = self.layer.forward(lp, x, state0, lengths=lengths, train=train, seed=seed)
        else:
            y, state, cache = self.layer.forward_in(xp, lp, x, state0, lengths=lengths, train=train, seed=seed)
        if xp is None:
            xp = namespace(y=y, w=w, b=b)
        h, last = self._read_out(y, lengths, xp=xp)
        pred = head.forward(h, w, b, self.output_activation, xp=xp)
        return pred, state, (cache, h, pred, last)

    def _read_out(self, y: Any, lengths: Any, *, xp: Any) -> tuple[Any, Any]:
        """What the head reads: ``(h, last)``.  Many-to-many: every step (last None).
        Many-to-one: the last step, or with ``lengths`` each sequence's last valid one,
        ``h = sum_t [t = L_b - 1] y_t`` with ``last`` that (T, B, 1) selector (kept for the
        backward, which puts dL/dh there)."""
        if self.objective == "many-to-many":
            return y, None
        if lengths is None:
            return y[-1, ...], None
        last = self._last_step(y.shape[0], lengths, xp=xp, device=compat.device(y))
        return xp.sum(where(last, y, 0.0, xp=xp), axis=0), last

    @staticmethod
    def _last_step(T: int, lengths: Any, *, xp: Any, device: Any) -> Any:
        """(T, B, 1) bool: step t is sequence b's last valid step (t = L_b - 1)."""
        it = index_dtype(xp, device)
        lengths = xp.asarray(lengths, device=device)
        t = xp.arange(T, dtype=it, device=device)
        return xp.expand_dims(xp.expand_dims(t, axis=1) == xp.expand_dims(xp.astype(lengths, it) - 1, axis=0), axis=2)

    @staticmethod
    def step_mask(T: int, lengths: Any, *, xp: Any, device: Any) -> Any:
        """(T, B) bool: step t of sequence b is valid (t < L_b); the losses' mask for
        many-to-many training on padded sequences."""
        it = index_dtype(xp, device)
        lengths = xp.asarray(lengths, device=device)
        t = xp.arange(T, dtype=it, device=device)
        return xp.expand_dims(t, axis=1) < xp.expand_dims(xp.astype(lengths, it), axis=0)

    def loss_mask(self, T: int, lengths: Any, sample_mask: Any, *, xp: Any, device: Any) -> Any:
        """The mask the loss of :meth:`loss_and_grad` takes, or None: many-to-many (T, B),
        step t of sample b valid (``t < L_b``) and ``sample_mask[b]``; many-to-one (B,),
        ``sample_mask`` itself."""
        if sample_mask is not None:
            if (not compat.is_array_api_obj(sample_mask) or sample_mask.dtype != xp.bool
                    or sample_mask.ndim != 1):
                got = (f"dtype {sample_mask.dtype} shape {tuple(sample_mask.shape)}"
                       if compat.is_array_api_obj(sample_mask) else type(sample_mask).__name__)
                raise ValueError(f"sample_mask: expected a bool array of shape (B,), got {got}")
            if self.objective == "many-to-one":
                return sample_mask
        if self.objective != "many-to-many":
            return None
        steps = None if lengths is None else self.step_mask(T, lengths, xp=xp, device=device)
        if sample_mask is None:
            return steps
        samples = xp.expand_dims(sample_mask, axis=0)
        return xp.broadcast_to(samples, (T, sample_mask.shape[0])) if steps is None else xp.logical_and(steps, samples)

    def predict(self, params: dict, x: Any, state0: Any = None, *, lengths: Any = None,
                check_finite: bool = False) -> tuple[Any, Any]:
        """x (T, B, I) -> (pred, final state), keeping nothing for a backward pass;
        ``lengths`` and ``check_finite`` as in :meth:`forward`."""
        lp, w, b = self._split(params)
        if check_finite:
            self._check({"x": x, **named_state("state0", state0), **self._named(params)})
        y, state = self.layer(lp, x, state0, lengths=lengths)
        h, _ = self._read_out(y, lengths, xp=namespace(y=y, w=w, b=b))
        pred = head.forward(h, w, b, self.output_activation, xp=namespace(y=y, w=w, b=b))
        if check_finite:
            self._check({"pred": pred, **named_state("state", state)})
        return pred, state

    def backward(self, params: dict, cache: tuple, dpred: Any, dstate: Any = None, *,
                 check_finite: bool = False, collect: Any = None) -> tuple:
        """Given dL/dpred (and dL/d final state), return (dparams, dx, dstate0).

        ``check_finite=True``: :class:`~rnnx.checks.NonFiniteError` for the first NaN/Inf in
        ``dpred``, ``dstate``, ``params`` before computing, then in ``grads['<key>']`` (in
        :meth:`param_shapes` order), ``dx``, ``dstate0``; a ``ValueError`` under ``jax.jit``.
        ``collect`` (None, ``"norms"``, ``"units"``): with one, a fourth result, the
        recurrent layers' :class:`~rnnx.nn.layers.GradientFlow` (per layer, direction and step
        ||dL/dh_t||, ||dL/dc_t|| for the LSTM, ||dL/dx_t||; O(T*B) extra memory per layer
        and direction for norms); None forms nothing more."""
        if collect is not None:
            check_collect(collect)
        if check_finite:
            self._check({"dpred": dpred, **named_state("dstate", dstate), **self._named(params)})
        grads, dx, ds0, *flow = self._backward(params, cache, dpred, dstate, collect)
        if check_finite:
            self._check({**self._named(grads, "grads"), "dx": dx, **named_state("dstate0", ds0)})
        return (grads, dx, ds0, *flow)

    def _backward(self, params, cache, dpred, dstate, collect=None, xp=None, parts=None):
        """:meth:`backward` without checks.  ``xp``: as in :meth:`_forward`, from
        :meth:`loss_and_grad`, whose forward checked these ``params`` (the layer's backward
        then neither resolves it nor checks them again, nor forms dx: None in its place);
        ``parts`` as in :meth:`_forward`."""
        lp, w, b = self._split(params) if parts is None else parts
        lcache, h, pred, last = cache
        passed, xp = xp, (namespace(dpred=dpred, w=w) if xp is None else xp)
        dw, db, dh = head.backward(h, pred, w, dpred, self.output_activation, xp=xp)
        if last is not None:  # each sequence's last valid step feeds the head
            dh = where(last, xp.expand_dims(dh, axis=0), 0.0, xp=xp)
        elif self.objective == "many-to-one":  # only the last step feeds the head
            dh = zeros_before(xp.expand_dims(dh, axis=0), lcache.y_shape[0] - 1, xp=xp)
        if passed is None:
            out = self.layer.backward(lp, lcache, dh, dstate, collect=collect)
        else:
            out = self.layer.backward_in(xp, lp, lcache, dh, dstate, collect=collect, input_grad=False)
        if collect is None:
            dlp, dx, ds0 = out
            return {**dlp, "weight_hy": dw, "bias_y": db}, dx, ds0
        dlp, dx, ds0, flow = out
        return {**dlp, "weight_hy": dw, "bias_y": db}, dx, ds0, flow

    def loss_and_grad(self, params: dict, x: Any, target: Any, state0: Any = None, *, lengths: Any = None,
                      loss: Any = "mse", mask_steps: int = 0, seed: Any = None, check_finite: bool = False,
                      collect: Any = None, sample_mask: Any = None, sample_weight: Any = None):
        """The loss and its gradient with respect to every parameter, in training mode (with
        ``dropout`` > 0, ``seed`` draws the masks).

        ``loss``: a name of :data:`rnnx.losses.LOSSES` or a loss function
        (:func:`rnnx.losses.get`); ``target`` is what it takes: floats the shape of ``pred``,
        or integer class labels (B,) / (T, B) for cross-entropy.  ``lengths`` (B,): padded
        sequences; many-to-one reads each one's last valid step, many-to-many counts the
        loss over valid steps only (their mean).  ``mask_steps`` (many-to-many only): the
        first ``mask_steps`` steps carry no loss (used by truncated BPTT, whose window
        reaches back past the new targets).  ``sample_mask`` (B,) bool: a sample whose entry
        is False carries no loss and no gradient (the mean is over the others): the padding
        of a batch that does not split evenly over devices (:mod:`rnnx.training.distributed`).
        ``sample_weight`` (B,) floats >= 0: the loss is the weighted mean
        ``sum_b w_b l_b / sum_b w_b n_b`` (``l_b`` sample b's summed terms, ``n_b`` its
        counted ones; scikit-learn's convention), passed to the loss spec (:mod:`rnnx.losses`).
        ``check_finite=True``: :class:`~rnnx.checks.NonFiniteError` for the first NaN/Inf in
        ``x``, ``state0``, ``target`` (all of it), ``params`` (in :meth:`param_shapes` order)
        before computing, then in ``grads['<key>']`` (same order), ``loss``, ``state``; a
        ``ValueError`` under ``jax.jit``.  False inspects nothing.
        ``collect`` (None, ``"norms"``, ``"units"``): see :meth:`backward`.
        Returns (loss, grads, final state), and the :class:`~rnnx.nn.layers.GradientFlow` with
        ``collect``.
        """
        parts = self._split(params)  # once: handed to the forward and the backward
        if collect is not None:
            check_collect(collect)
        fn = losses.get(loss) if isinstance(loss, str) else loss
        if check_finite:
            self._check({"x": x, **named_state("state0", state0), "target": target, **self._named(params)})
        # one namespace for every array of the call (the layer's, the head's, the target),
        # passed down: resolved once per update, not once per piece (~12 us each on NumPy)
        lengths = self.layer.lengths_array(lengths, x)
        xp = namespace(**self.layer.call_arrays(params, x, state0, lengths, seed), target=target)
        pred, state, cache = self._forward(params, x, state0, lengths=lengths, train=True, seed=seed,
                                           check_finite=False, xp=xp, parts=parts)
        mask = None if lengths is None and sample_mask is None else \
            self.loss_mask(pred.shape[0], lengths, sample_mask, xp=xp, device=compat.device(pred))  # no device read
        weighted = {} if sample_weight is None else {"sample_weight": sample_weight}
        if mask_steps:
            value, dpred = fn(pred[mask_steps:, ...], target[mask_steps:, ...], xp=xp, **weighted,
                              **({} if mask is None else {"mask": mask[mask_steps:, ...]}))
            dpred = zeros_before(dpred, mask_steps, xp=xp)
        else:
            value, dpred = fn(pred, target, xp=xp, **weighted, **({} if mask is None else {"mask": mask}))
        grads, _, _, *flow = self._backward(params, cache, dpred, None, collect, xp=xp, parts=parts)
        if check_finite:
            self._check({**self._named(grads, "grads"), "loss": value, **named_state("state", state)})
        return (value, grads, state, *flow)
