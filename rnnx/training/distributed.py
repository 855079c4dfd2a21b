r"""Data parallel training: each update's batch split over several devices, one SPMD program.

    strategy = rnnx.training.distributed.DataParallel(4)        # the first 4 devices (None: every one)
    result = rnnx.fit(model, x, y, distribution=strategy, batch_size=64, clip_norm=1.0)

The parameters and the optimizer state are replicated; device k gathers its part of the
batch from its own copy of the training data, runs the forward and the explicit BPTT on it,
and holds ``n_k`` of the batch's loss terms (valid positions, :func:`rnnx.losses.count`)
with mean :math:`L_k` and gradient :math:`g_k`.  The batch's loss and gradient are then

.. math:: L = \frac{\sum_k n_k L_k}{\sum_k n_k}, \qquad g = \frac{\sum_k n_k g_k}{\sum_k n_k}

exactly what one device computes (up to the order of the additions: float64 runs agree to
~1e-16 per update).  One all-reduce carries :math:`[n_k g_k` (every parameter, flattened),
:math:`n_k L_k, n_k]`; clipping (by value, then by global norm) and the optimizer step run
after it, on the reduced gradient, identically on every device.  The whole update (gather,
forward, backward, all-reduce, clip, step) is one compiled program (``jax.shard_map`` in
``jax.jit``, through the backend's capability record: :attr:`~rnnx.backends.Capabilities.data_parallel`).

Batches: ``batch_size`` must be a multiple of the number of devices (else a ValueError);
an epoch's short last batch is padded up to the next multiple with copies of its first
sample, masked out of the loss and the gradient (``sample_mask`` of
:meth:`rnnx.nn.model.Model.loss_and_grad`), so every update of every epoch is the one-device
update.  Refused with a ValueError: a backend without SPMD (only JAX has it), ``tbptt``,
``diagnostics``, dropout between layers (its masks are drawn per device) and the
``half-sse`` loss (its mean is over the batch size, padding included).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import array_api_compat as compat

from rnnx import losses as L
from rnnx._xp import namespace
from rnnx.backends import capabilities

__all__ = ["DataParallel", "Plan", "plan", "loss_and_grad", "partial_sums", "combine", "initialize"]


@dataclass(frozen=True)
class DataParallel:
    """Split every update's batch over ``devices`` devices of the backend (None: all of
    the default platform's; on CPU, several host devices need
    ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` set before JAX starts)."""

    devices: int | None = None

    def __post_init__(self) -> None:
        d = self.devices
        if d is not None and (isinstance(d, bool) or not isinstance(d, int) or d < 1):
            raise ValueError(f"devices: expected a positive integer or None (every device), got {d!r}")


@dataclass(frozen=True)
class Plan:
    """A :class:`DataParallel` resolved for one fit: its devices and the backend's SPMD
    functions."""

    devices: tuple
    data_parallel: Callable
    all_sum: Callable
    _place: Callable
    home_device: Any = None

    @property
    def n(self) -> int:
        return len(self.devices)

    def key(self) -> tuple:
        """What identifies the compiled programs of this plan (the devices)."""
        return ("data-parallel", *(str(d) for d in self.devices))

    def place(self, tree: Any) -> Any:
        """``tree``'s arrays replicated on every device of the plan."""
        return self._place(tree, self.devices)

    def home(self, tree: Any) -> Any:
        """``tree``'s arrays on the data's own device (what ``fit`` returns), else the
        plan's first."""
        return self._place(tree, (self.home_device if self.home_device is not None else self.devices[0],))

    def pad(self, order: list[int]) -> tuple[list[int], list[bool] | None]:
        """A batch's sample indices padded to a multiple of the devices with copies of its
        first one, and which are real (None when nothing was padded)."""
        extra = -len(order) % self.n
        if not extra:
            return order, None
        return order + [order[0]] * extra, [True] * len(order) + [False] * extra


def refuse(model, loss_name: str, *, tbptt: Any, diagnostics: Any, parts: str) -> None:
    """What no data-parallel fit takes (a ValueError naming it): tbptt (its windows update
    the parameters within a batch), diagnostics (recorded on one device), dropout (masks
    drawn per ``parts``, not as one process draws them), half-sse (its mean is over the
    batch size, padding included)."""
    if tbptt is not None:
        raise ValueError("distribution: not with tbptt (its windows update the parameters within a batch); "
                         "train without tbptt")
    if diagnostics is not None:
        raise ValueError("distribution: diagnostics are recorded on one device; train without distribution "
                         "to record them")
    if model.layer.dropout > 0:
        raise ValueError(f"distribution: not with dropout (got {model.layer.dropout}): its masks would be "
                         f"drawn per {parts}, not as one process draws them")
    if loss_name == "half-sse":
        raise ValueError("loss: half-sse divides by the batch size (padding included), so data parallel cannot "
                         "split it; expected mse, mae, huber, cross-entropy or bce-logits")


def plan(distribution: Any, xp: Any, *, batch_size: int, tbptt: Any, diagnostics: Any, model: Any,
         loss_name: str, home: Any = None) -> Plan | None:
    """The :class:`Plan` of ``distribution`` (None: none) for a fit with these settings;
    a ValueError / TypeError naming the argument for what it cannot do."""
    from rnnx.training.dask_parallel import DaskParallel

    if distribution is None or isinstance(distribution, DaskParallel):
        return None
    if not isinstance(distribution, DataParallel):
        raise TypeError(f"distribution: expected rnnx.training.distributed.DataParallel(devices) or "
                        f"rnnx.training.dask_parallel.DaskParallel(...), got {type(distribution).__name__}")
    cap = capabilities(xp)
    if cap.data_parallel is None or cap.parallel_devices is None or cap.all_sum is None or cap.place is None:
        raise ValueError(f"distribution: data parallel needs a backend with SPMD programs (jax); got {cap.name}")
    refuse(model, loss_name, tbptt=tbptt, diagnostics=diagnostics, parts="device")
    devices = cap.parallel_devices(distribution.devices)
    if batch_size % len(devices):
        raise ValueError(f"batch_size: {batch_size} does not split over {len(devices)} devices; expected a "
                         f"multiple of {len(devices)}")
    return Plan(devices, cap.data_parallel, cap.all_sum, cap.place, home)


def _sums(model, params: dict, x: Any, y: Any, lengths: Any, valid: Any, *, loss_name: str, loss_fn: Callable,
          seed: Any, xp: Any) -> Any:
    """One part's ``[n_k g_k (every parameter, flattened, in param_shapes order), n_k L_k, n_k]``."""
    loss, grads, _ = model.loss_and_grad(params, x, y, lengths=lengths, loss=loss_fn, seed=seed, sample_mask=valid)
    mask = model.loss_mask(x.shape[0], lengths, valid, xp=xp, device=compat.device(loss))
    n = L.count(loss_name, y, xp=xp, mask=mask, dtype=loss.dtype)
    parts = [xp.reshape(grads[k] * n, (-1,)) for k in model.param_shapes()]
    return xp.concat(parts + [xp.reshape(loss * n, (1,)), xp.reshape(n, (1,))])


def combine(model, summed: Any) -> tuple[Any, dict]:
    r"""The whole batch's (loss, grads) from the sum over its parts of :func:`partial_sums`:
    :math:`L = \sum_k n_k L_k / \sum_k n_k`, :math:`g = \sum_k n_k g_k / \sum_k n_k`
    (0 and zeros when nothing counted)."""
    xp = compat.array_namespace(summed)
    count = summed[-1]
    count = xp.where(count > 0, count, xp.ones_like(count))
    grads, a = {}, 0
    for k, shape in model.param_shapes().items():
        size = math.prod(shape)
        grads[k] = xp.reshape(summed[a:a + size], shape) / count
        a += size
    return summed[-2] / count, grads


def partial_sums(model, params: dict, x: Any, y: Any, *, lengths: Any = None, valid: Any = None, loss: str = "mse",
                 seed: Any = None) -> Any:
    r"""What one part of a batch (time-major x (T, B_k, I), its targets and lengths)
    contributes to the whole batch's loss and gradient: the 1-D array
    ``[n_k g_k (every parameter flattened, in param_shapes order), n_k L_k, n_k]`` (n_k its
    counted loss terms, :func:`rnnx.losses.count`; ``valid`` (B_k,) bool marks padding
    False).  Sum these over the parts by any means (an all-reduce of torch.distributed, a
    Dask tree reduction) and :func:`combine` gives the batch's (loss, grads), equal to
    ``Model.loss_and_grad`` of the whole batch up to the order of the additions."""
    fn = L.for_training(loss)
    return _sums(model, params, x, y, lengths, valid, loss_name=fn.name, loss_fn=fn, seed=seed, xp=namespace(x=x))


def _reduced(model, params: dict, x: Any, y: Any, lengths: Any, valid: Any, *, loss_name: str,
             loss_fn: Callable, seed: Any, xp: Any, all_sum: Callable) -> tuple[Any, dict]:
    r"""One device's part of the batch (time-major) -> the whole batch's (loss, grads):
    :func:`partial_sums` summed over the devices by one ``all_sum`` (one all-reduce), then
    :func:`combine`."""
    return combine(model, all_sum(_sums(model, params, x, y, lengths, valid, loss_name=loss_name, loss_fn=loss_fn,
                                        seed=seed, xp=xp)))


def initialize(xp: Any, *, coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, timeout: int = 60) -> None:
    """Join a multi-process run of backend ``xp`` (JAX: ``jax.distributed.initialize``)
    before any array is made: the coordinator ``HOST:PORT`` (process 0 serves it), the
    number of processes and this one's index; all None: the backend's detection of a SLURM
    or Open MPI job.  Afterwards ``DataParallel()`` spans every process's devices, each
    process loads the same data, and only process 0 writes checkpoints.
    :class:`~rnnx.backends.Unavailable` (one line, with the address) when the coordinator
    is not reached within ``timeout`` seconds."""
    cap = capabilities(xp)
    if cap.initialize is None:
        raise ValueError(f"initialize: multi-process runs need a backend with SPMD programs (jax); got {cap.name}")
    given = [v is not None for v in (coordinator, num_processes, process_id)]
    if any(given) and not all(given):
        raise ValueError("initialize: give coordinator, num_processes and process_id together, or none of them "
                         "(SLURM / Open MPI detection)")
    if coordinator is not None:
        _check_coordinator(coordinator)
    cap.initialize(coordinator, num_processes, process_id, timeout)


def _check_coordinator(address: Any) -> None:
    """``coordinator``: ``HOST:PORT`` with a host and a port from 1 to 65535; ValueError
    naming it otherwise, before any socket is made."""
    host, _, port = address.rpartition(":") if isinstance(address, str) else ("", "", "")
    if not host.strip("[]") or not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        raise ValueError(f"coordinator: expected HOST:PORT with a port from 1 to 65535, got {address!r}")


def make_step(model, apply: Callable, loss_name: str, loss_fn: Callable, *, y_axis: int, index_dtype: Any,
              xp: Any, all_sum: Callable) -> Callable:
    """One device's part of a data-parallel update (run inside ``Plan.data_parallel``)::

        step(params, opt_state, total, clipped, x, y, lengths, idx, seed, valid=None)
            -> (params, opt_state, total + loss, clipped + was_clipped)

    ``x, y, lengths`` the whole training data (every device holds it), ``idx`` this
    device's sample indices, ``valid`` their real/padding flags (None: all real).  The
    signature of :func:`rnnx.training.strategies.make_step`'s step, so :func:`~rnnx.training.strategies.make_steps`
    runs K of them as one program."""
    from rnnx.training.sources import Batches

    def step(params, opt_state, total, clipped, x, y, lengths, idx, seed, valid=None):
        b = Batches(x, y, lengths, y_axis).take(idx, xp=xp)
        loss, grads = _reduced(model, params, b.x, b.y, b.lengths, valid, loss_name=loss_name, loss_fn=loss_fn,
                               seed=seed, xp=xp, all_sum=all_sum)
        new, opt_state, c = apply(params, opt_state, grads)
        return new, opt_state, total + loss, clipped + xp.astype(c, index_dtype)

    return step


def loss_and_grad(model, params: dict, x: Any, y: Any, *, lengths: Any = None, loss: str = "mse",
                  distribution: DataParallel) -> tuple[Any, dict]:
    """The loss and gradient of :meth:`rnnx.nn.model.Model.loss_and_grad` (time-major x
    (T, B, I)), computed with the batch split over ``distribution``'s devices: one SPMD
    program, one all-reduce.  B must be a multiple of the devices.  Returns (loss, grads)
    on every device (replicated); compiled afresh on every call (for a loop, use ``fit``)."""
    xp, fn = namespace(x=x), L.for_training(loss)
    par = plan(distribution, xp, batch_size=x.shape[1], tbptt=None, diagnostics=None, model=model,
               loss_name=fn.name)

    def local(p, x, y, lengths):
        return _reduced(model, p, x, y, lengths, None, loss_name=fn.name, loss_fn=fn, seed=None, xp=xp,
                        all_sum=par.all_sum)

    y_axis = 1 if model.objective == "many-to-many" else 0
    run = par.data_parallel(local, par.devices, (None, 1, y_axis, 0))
    return run(*par.place((params, x, y, lengths)))

