r"""Data parallel on a Dask cluster: NumPy (or CuPy) workers, the optimizer on the client.

    strategy = rnnx.training.dask_parallel.DaskParallel(workers=2)         # a LocalCluster of 2 processes
    strategy = rnnx.training.dask_parallel.DaskParallel("tcp://host:8786")  # a running scheduler
    result = rnnx.fit(model, x, y, distribution=strategy, batch_size=256)

The training data go to every worker once (``scatter(broadcast=True)``).  Each update
splits its batch's sample indices into ``shards`` parts (default: one per worker) and
submits one task per part with the parameters and the part's indices; a task gathers its
samples from the worker's copy of the data and returns :func:`rnnx.training.distributed.partial_sums`
(``[n_k g_k, n_k L_k, n_k]``, n_params + 2 numbers).  The parts are summed by a fixed
pairwise tree of tasks on the workers, the one sum comes back, and the client forms the
batch's loss and gradient (:func:`rnnx.training.distributed.combine`), clips and steps the
optimizer.  Per update only parameters, indices and gradient vectors cross the network.

Every task is a pure function of its arguments and the tree is fixed by the number of
parts, so a task lost with its worker is recomputed elsewhere (Dask reschedules it; the
data have a copy on every worker, and when Dask's memory manager had reduced them to the one
lost, the client sends them again and repeats the update) with the same result: the run's numbers do not depend on
which worker computed what.  When no result comes within ``timeout`` seconds (every worker
gone), the run stops with :class:`WorkersLost`, after writing the last complete epoch to
``fit``'s ``checkpoint``.

Dask pays off when one part holds enough work: a LocalCluster of 2 workers measured 78 ms
per update against 45 ms in one process for ~10 ms parts (issue 19's prototype).
Needs rnnx's ``dask`` extra (from a checkout: ``pip install -e '.[dask]'``; :func:`rnnx.install.install_command`).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

from rnnx.install import install_command

__all__ = ["DaskParallel", "WorkersLost"]

INSTALL = install_command("dask")


class WorkersLost(RuntimeError):
    """No update result from the Dask workers within the timeout."""


@dataclass(frozen=True)
class DaskParallel:
    """``scheduler``: the address of a running Dask scheduler, or ``workers``: start a
    ``LocalCluster`` of that many single-threaded worker processes (closed after the fit);
    one of the two.  ``shards``: parts per batch (default: the number of workers);
    ``timeout``: seconds to connect, and to wait for one update's result."""

    scheduler: str | None = None
    workers: int | None = None
    shards: int | None = None
    timeout: float = 60.0

    def __post_init__(self) -> None:
        if (self.scheduler is None) == (self.workers is None):
            raise ValueError("distribution: DaskParallel takes a scheduler address or a number of workers, "
                             f"exactly one; got scheduler={self.scheduler!r}, workers={self.workers!r}")
        for name in ("workers", "shards"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValueError(f"{name}: expected a positive integer, got {v!r}")
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float)) or not self.timeout > 0:
            raise ValueError(f"timeout: expected a number of seconds > 0, got {self.timeout!r}")


def _part(config: dict, params: dict, x: Any, y: Any, lengths: Any, idx: list[int], y_axis: int,
          loss_name: str) -> Any:
    """On a worker: one part's partial sums (its samples ``idx`` of the worker's data)."""
    import array_api_compat as compat

    from rnnx.training.distributed import partial_sums
    from rnnx.training.sources import Batches
    from rnnx.nn.model import Model

    xp = compat.array_namespace(x)
    b = Batches(x, y, lengths, y_axis).take(xp.asarray(idx, device=compat.device(x)), xp=xp)
    return partial_sums(Model.from_config(config), params, b.x, b.y, lengths=b.lengths, loss=loss_name)


def _check_address(address: Any) -> None:
    """A scheduler address Dask can dial (``tcp://HOST:PORT``, ``HOST:PORT``...), else a
    ValueError naming it (before a Client is made: a half-made one complains as it goes)."""
    from distributed.comm import get_address_host_port

    try:
        get_address_host_port(address if "://" in str(address) else f"tcp://{address}")
    except (ValueError, TypeError) as e:
        raise ValueError(f"dask-scheduler: expected an address such as tcp://HOST:PORT, got {address!r} ({e})") \
            from None


#: Seconds past ``timeout`` that :func:`_client` waits for Dask's Client, whose own connect
#: timeout says why it gave up, before giving up on it.
CONNECT_GRACE = 5.0


class _NoAnswer(TimeoutError):
    """Dask's Client made nothing of the scheduler within ``timeout`` + :data:`CONNECT_GRACE`."""


def _silent(address: str, timeout: float) -> str | None:
    """Why a ``tcp://`` scheduler that accepts connections is not one to connect to: a Dask
    server writes its handshake as soon as it accepts, and none came within ``timeout``
    seconds (a peer that accepts and stays silent, which Dask's Client waits for past any
    timeout).  None: it answered, or it did not accept (left to the Client, which retries
    until its timeout and says why), or another scheme (TLS: the client speaks first)."""
    import socket
    import time

    from distributed.comm import get_address_host_port, parse_address

    full = address if "://" in address else f"tcp://{address}"
    if parse_address(full)[0] != "tcp":
        return None
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection(get_address_host_port(full), timeout=timeout)
    except OSError:
        return None
    with sock:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            sock.recv(1)  # a byte of the handshake, or b"" (closed): an answer either way
        except TimeoutError:
            return "connected, but no Dask handshake came"
        except OSError:
            return None
    return None


def _client(client_type: Any, address: str, timeout: float) -> Any:
    """``Client(address)`` made in a thread of its own, given up (:class:`_NoAnswer`) when
    it has neither connected nor failed within ``timeout`` + :data:`CONNECT_GRACE` seconds,
    whatever the peer does; a Client that connects after that is closed."""
    import threading

    box: dict[str, Any] = {}
    lock, done = threading.Lock(), threading.Event()

    def make() -> None:
        try:
            c = client_type(address, timeout=timeout, set_as_default=False)
        except BaseException as e:  # noqa: BLE001 (handed to the caller)
            box["error"] = e
        else:
            with lock:
                late = box.get("abandoned", False)
                box["client"] = c
            if late:
                c.close()
        finally:
            done.set()

    threading.Thread(target=make, name="rnnx-dask-connect", daemon=True).start()
    if not done.wait(timeout + CONNECT_GRACE):
        with lock:
            box["abandoned"] = True
            c = box.get("client")
        if c is not None:  # connected just now: not used
            c.close()
        raise _NoAnswer("no Dask client connected")
    if "error" in box:
        raise box["error"]
    return box["client"]


class Session:
    """A :class:`DaskParallel` connected for one fit: the client, the data on the workers."""

    def __init__(self, strategy: DaskParallel, model, train, loss_name: str, xp: Any) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ValueError(f"distribution: DaskParallel needs dask.distributed; install it with: {INSTALL}") from None
        import array_api_compat as compat

        if not (compat.is_numpy_namespace(xp) or compat.is_cupy_namespace(xp)):
            raise ValueError(f"distribution: Dask workers run NumPy or CuPy arrays; got {xp.__name__} (for JAX use "
                             "rnnx.training.distributed.DataParallel)")
        self.cluster = None
        if strategy.workers is not None:
            self.cluster = LocalCluster(n_workers=strategy.workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None)
            address = self.cluster.scheduler_address
        else:
            address = strategy.scheduler
            _check_address(address)
        why = _silent(address, strategy.timeout) if self.cluster is None else None
        try:
            if why is not None:  # connected, no answer: Dask's Client would wait past any timeout
                raise TimeoutError(why)
            self.client = _client(Client, address, strategy.timeout)
        except (OSError, TimeoutError) as e:
            self.close()
            raise WorkersLost(f"dask-scheduler: {address} not reachable within {strategy.timeout:g} s "
                              f"({e if isinstance(e, _NoAnswer) or why else type(e).__name__})") from None
        n = len(self.client.scheduler_info(n_workers=-1)["workers"])
        if n == 0:
            self.close()
            raise WorkersLost(f"dask-scheduler: {address} has no workers")
        self.shards, self.timeout = strategy.shards or n, strategy.timeout
        self.config, self.loss_name, self.y_axis = model.config(), loss_name, train.y_axis
        # the data once, a copy on every worker (a worker lost keeps nothing from the others)
        self.arrays = (train.x, train.y, train.lengths)
        self.data = self.client.scatter(list(self.arrays), broadcast=True, hash=False)

    # Dask's active memory manager may drop the broadcast copies down to one (ReduceReplicas);
    # a worker lost with that copy cancels the update: the client sends the data again and the
    # update is repeated (a pure function: the same numbers), at most this many times in a row.
    RESENDS = 3

    def loss_and_grad(self, model, params: dict, order: list[int]) -> tuple[Any, dict]:
        """The batch ``order`` (sample indices): its parts on the workers, their sums by a
        fixed pairwise tree, then :func:`rnnx.training.distributed.combine` on the client."""
        from rnnx.training.distributed import combine

        k = min(self.shards, len(order))
        size = -(-len(order) // k)
        parts = [order[i:i + size] for i in range(0, len(order), size)]
        from distributed.client import FutureCancelledError

        for resend in range(self.RESENDS + 1):
            level = [self.client.submit(_part, self.config, params, *self.data, part, self.y_axis, self.loss_name,
                                        pure=False) for part in parts]
            while len(level) > 1:  # ((s0 + s1) + (s2 + s3)) + ...: the same tree whatever ran where
                level = [self.client.submit(operator.add, level[i], level[i + 1], pure=False) if i + 1 < len(level)
                         else level[i] for i in range(0, len(level), 2)]
            try:
                summed = level[0].result(timeout=self.timeout)
                break
            except (TimeoutError, FutureCancelledError) as e:  # no worker left, or the data lost with its copies
                left = len(self.client.scheduler_info(n_workers=-1)["workers"])
                if isinstance(e, FutureCancelledError) and left and resend < self.RESENDS:
                    self.data = self.client.scatter(list(self.arrays), broadcast=True, hash=False)
                    continue
                why = f"no update result within {self.timeout:g} s" if isinstance(e, TimeoutError) else \
                    "the update was cancelled: its data were lost with the workers"
                raise WorkersLost(f"dask: {why} ({left} worker{'s' * (left != 1)} left)") from None
        return combine(model, summed)

    def close(self) -> None:
        client, cluster = getattr(self, "client", None), self.cluster
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
