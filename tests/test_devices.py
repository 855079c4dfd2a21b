"""Device labels with an index (``cuda:1``, ``gpu:0``, ``cpu:0``), the device each one
gives, the Unavailable message for an index past the visible devices, and what
``backends.versions`` records for metrics.json.

This machine may have no GPU: the CUDA paths are checked through fakes of
``torch.cuda``'s counts and of a CuPy module; the checks that need a real GPU skip with
``no CUDA device here``."""

from __future__ import annotations

import importlib.util
import re
import sys
import types

import numpy as np
import pytest

from rnnx import backends
from rnnx.backends import Target, Unavailable
from rnnx.backends._base import check_index

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_JAX = importlib.util.find_spec("jax") is not None
HAS_CUPY = importlib.util.find_spec("cupy") is not None


def _cuda_here() -> bool:
    if not HAS_TORCH:
        return False
    import torch

    return torch.cuda.is_available()


CUDA = _cuda_here()
no_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA device here")
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
needs_jax = pytest.mark.skipif(not HAS_JAX, reason="jax is not installed")

GOOD = [  # backend, label, canonical label
    ("numpy", "cpu", "cpu"),
    ("torch", "cpu", "cpu"),
    ("torch", "cuda", "cuda"),
    ("torch", "cuda:0", "cuda:0"),
    ("torch", "cuda:1", "cuda:1"),
    ("torch", "cuda:01", "cuda:1"),
    ("cupy", "cuda", "cuda"),
    ("cupy", "cuda:3", "cuda:3"),
    ("jax", "cpu", "cpu"),
    ("jax", "cpu:0", "cpu:0"),
    ("jax", "gpu", "gpu"),
    ("jax", "gpu:2", "gpu:2"),
    ("array_api_strict", "CPU_DEVICE", "CPU_DEVICE"),
    ("array_api_strict", "device1", "device1"),
    ("array_api_strict", "device2", "device2"),
    ("array_api_strict", "no_float64", "no_float64"),
    ("array_api_strict", "no_x64", "no_x64"),
    ("array-api-strict", "device1", "device1"),
]

TORCH = "cpu, cuda or cuda:N (N >= 0) for torch"
CUPY = "cuda or cuda:N (N >= 0) for cupy"
JAX = "cpu, cpu:N, gpu or gpu:N (N >= 0) for jax"
STRICT = "CPU_DEVICE, device1, device2, no_float64 or no_x64 for array_api_strict"
BAD = [  # backend, label, what "device: expected ..." names
    ("torch", "cuda:x", TORCH),
    ("torch", "cuda:-1", TORCH),
    ("torch", "cuda:", TORCH),
    ("torch", "cpu:0", TORCH),
    ("torch", "gpu", TORCH),
    ("torch", "CUDA", TORCH),
    ("torch", " cuda", TORCH),
    ("torch", "cuda:1:2", TORCH),
    ("torch", "", TORCH),
    ("cupy", "cpu", CUPY),
    ("cupy", "gpu:0", CUPY),
    ("cupy", "cuda:1.5", CUPY),
    ("jax", "cuda", JAX),
    ("jax", "gpu:x", JAX),
    ("jax", "tpu:0", JAX),
    ("numpy", "cuda", "cpu for numpy"),
    ("numpy", "cpu:0", "cpu for numpy"),
    ("array_api_strict", "device3", STRICT),
    ("array_api_strict", "device1:0", STRICT),
]


@pytest.mark.parametrize("backend,label,canonical", GOOD, ids=[f"{b}-{lab}" for b, lab, _ in GOOD])
def test_good_label_is_canonicalised(backend, label, canonical):
    assert backends.get(backend).parse_device(label) == canonical
    assert backends.resolve_device(backend, label) == canonical


@pytest.mark.parametrize("backend,label,expected", BAD, ids=[f"{b}-{lab!r}" for b, lab, _ in BAD])
def test_bad_label_is_one_line_naming_device(backend, label, expected):
    want = f"device: expected {expected}, got {label!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(want)}$"):
        backends.resolve_device(backend, label)
    with pytest.raises(ValueError, match=f"^{re.escape(want)}$"):
        backends.get(backend).device(label)


@pytest.mark.parametrize("backend", backends.NAMES)
def test_resolve_device_default_and_non_string(backend):
    mod = backends.get(backend)
    assert backends.resolve_device(backend, None) == mod.DEVICES[0]
    with pytest.raises(TypeError, match=r"^device: expected .* got int 1$"):
        backends.resolve_device(backend, 1)


def test_resolve_device_unknown_backend_names_backend():
    with pytest.raises(ValueError, match=r"^backend: unknown backend 'mxnet'"):
        backends.resolve_device("mxnet", "cpu")


@pytest.mark.parametrize("spec,ids", [
    ("torch-cuda:1", ["torch-cuda:1"]),
    ("jax-cpu:0,numpy", ["jax-cpu:0", "numpy-cpu"]),
    ("cupy-cuda:02", ["cupy-cuda:2"]),
    ("array-api-strict-device2,array_api_strict-no_x64", ["array-api-strict-device2", "array-api-strict-no_x64"]),
    ("torch-cuda", ["torch-cuda"]),
])
def test_selected_takes_ids_with_any_label(spec, ids):
    assert [t.id for t in backends.selected(spec)] == ids


@pytest.mark.parametrize("spec", ["torch-cuda:x", "jax-tpu", "numpy-cuda", "torch-"])
def test_selected_refuses_malformed_labels(spec):
    with pytest.raises(ValueError, match=f"^RNNX_BACKENDS: unknown backend or target {re.escape(repr(spec))}"):
        backends.selected(spec)


@pytest.mark.parametrize("label,count,what,message", [
    ("cuda:3", 2, "CUDA", "cuda:3: only 2 CUDA devices are visible (cuda:0..cuda:1)"),
    ("cuda:1", 1, "CUDA", "cuda:1: only 1 CUDA device is visible (cuda:0)"),
    ("gpu:0", 0, "GPU", "gpu:0: no GPU devices are visible"),
])
def test_check_index_message(label, count, what, message):
    with pytest.raises(Unavailable, match=f"^{re.escape(message)}$"):
        check_index(label, count, what)


@pytest.mark.parametrize("label,count", [("cuda:1", 2), ("cuda", 0), ("cpu", 1)])
def test_check_index_accepts_visible_and_unindexed(label, count):
    check_index(label, count, "CUDA")  # no exception


# ---------------------------------------------------------------- torch


@pytest.fixture
def two_fake_gpus(monkeypatch):
    """torch sees two CUDA devices (only the counts are faked: nothing is allocated)."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    return torch


@needs_torch
def test_torch_index_within_the_visible_gpus(two_fake_gpus):
    torch = two_fake_gpus
    assert backends.get("torch").device("cuda:1") == torch.device("cuda:1")
    assert backends.get("torch").device("cuda:01") == torch.device("cuda:1")
    assert backends.get("torch").device("cuda") == torch.device("cuda")
    assert Target("torch", "cuda:1").unavailable() is None


@needs_torch
def test_torch_index_past_the_visible_gpus(two_fake_gpus):
    msg = "cuda:2: only 2 CUDA devices are visible (cuda:0..cuda:1)"
    with pytest.raises(Unavailable, match=f"^{re.escape(msg)}$"):
        backends.get("torch").device("cuda:2")
    assert Target("torch", "cuda:2").unavailable() == msg


@needs_torch
@pytest.mark.skipif(CUDA, reason="this check is for a machine without CUDA")
def test_torch_cuda_index_without_cuda():
    with pytest.raises(Unavailable, match=r"torch was built without CUDA|no CUDA GPU is visible"):
        backends.get("torch").device("cuda:0")
    assert backends.get("torch").device("cpu").type == "cpu"


@needs_torch
@no_cuda
def test_torch_real_gpus():
    import torch

    n = torch.cuda.device_count()
    assert backends.get("torch").device(f"cuda:{n - 1}") == torch.device(f"cuda:{n - 1}")
    with pytest.raises(Unavailable, match=rf"^cuda:{n}: only {n} CUDA device"):
        backends.get("torch").device(f"cuda:{n}")
    t = Target("torch", f"cuda:{n - 1}")
    a = t.from_numpy(np.ones(3, dtype=np.float32))
    t.synchronize()
    assert a.device == torch.device(f"cuda:{n - 1}")
    assert backends.versions("torch", f"cuda:{n - 1}")["gpu"] == torch.cuda.get_device_name(n - 1)


# ---------------------------------------------------------------- jax


@needs_jax
def test_jax_cpu_index():
    import jax

    assert backends.get("jax").device("cpu:0") == jax.devices("cpu")[0]
    assert backends.get("jax").device("cpu") == jax.devices("cpu")[0]
    n = len(jax.devices("cpu"))
    msg = f"cpu:{n + 4}: only {n} CPU device" + (" is visible (cpu:0)" if n == 1 else
                                                  f"s are visible (cpu:0..cpu:{n - 1})")
    with pytest.raises(Unavailable, match=f"^{re.escape(msg)}$"):
        backends.get("jax").device(f"cpu:{n + 4}")
    a = Target("jax", "cpu:0").from_numpy(np.ones(2, dtype=np.float32))
    assert a.devices() == {jax.devices("cpu")[0]}


@needs_jax
def test_jax_gpu_index_without_gpu():
    import jax

    try:
        jax.devices("gpu")
    except RuntimeError:
        with pytest.raises(Unavailable, match=r"^no gpu device in this jax install"):
            backends.get("jax").device("gpu:0")
    else:
        pytest.skip("this check is for a jax without a GPU")


# ---------------------------------------------------------------- cupy (a fake module; the real one when installed)


@pytest.fixture
def fake_cupy(monkeypatch):
    """A stand-in ``cupy`` module with two GPUs: ``cuda.Device`` records the current
    device as a stack, ``array`` returns the device current when it was called."""
    current = [0]

    class Device:
        def __init__(self, i=0):
            self.id = i

        def __enter__(self):
            current.append(self.id)
            return self

        def __exit__(self, *exc):
            current.pop()

        def __eq__(self, other):
            return isinstance(other, Device) and other.id == self.id

    class Stream:
        def synchronize(self):
            fake.synced.append(current[-1])

    runtime = types.SimpleNamespace(getDeviceCount=lambda: 2, runtimeGetVersion=lambda: 12040,
                                    driverGetVersion=lambda: 12060,
                                    getDeviceProperties=lambda i: {"name": b"NVIDIA H200"})
    fake = types.ModuleType("cupy")
    fake.__version__ = "13.3.0"
    fake.cuda = types.SimpleNamespace(runtime=runtime, Device=Device, get_current_stream=Stream)
    fake.array = lambda a, copy: ("on", current[-1])
    fake.current, fake.synced = current, []
    monkeypatch.setitem(sys.modules, "cupy", fake)
    mod = backends.get("cupy")
    monkeypatch.setattr(mod, "load", lambda: fake)
    return fake


def test_cupy_device_index(fake_cupy):
    mod = backends.get("cupy")
    assert mod.device("cuda:1").id == 1
    assert mod.device("cuda").id == 0
    msg = "cuda:2: only 2 CUDA devices are visible (cuda:0..cuda:1)"
    with pytest.raises(Unavailable, match=f"^{re.escape(msg)}$"):
        mod.device("cuda:2")
    assert Target("cupy", "cuda:2").unavailable() == msg


def test_cupy_arrays_and_scope_on_the_chosen_device(fake_cupy):
    t = Target("cupy", "cuda:1")
    assert t.from_numpy(np.ones(2)) == ("on", 1)
    assert fake_cupy.current == [0]  # restored after the transfer
    t.synchronize()
    assert fake_cupy.synced == [1]
    with t.scope():
        assert fake_cupy.current == [0, 1]  # kernels and new arrays of the block go to GPU 1
    assert fake_cupy.current == [0]


def test_cupy_no_gpu(fake_cupy, monkeypatch):
    monkeypatch.setattr(fake_cupy.cuda.runtime, "getDeviceCount", lambda: 0)
    with pytest.raises(Unavailable, match="^no CUDA device visible$"):
        backends.get("cupy").device("cuda:0")


def test_cupy_versions(fake_cupy, monkeypatch):
    want = {"cupy": "13.3.0", "cuda_runtime": "12040", "cuda_driver": "12060", "gpu": "NVIDIA H200"}
    assert backends.versions("cupy") == want
    assert backends.versions("cupy", "cuda:1") == want
    assert backends.versions("cupy", "cuda:7") == {**want, "gpu": None}  # past the visible GPUs

    def no_driver():
        raise RuntimeError("cudaErrorInsufficientDriver")

    monkeypatch.setattr(fake_cupy.cuda.runtime, "driverGetVersion", no_driver)
    monkeypatch.setattr(fake_cupy.cuda.runtime, "getDeviceCount", no_driver)
    assert backends.versions("cupy") == {**want, "cuda_driver": None, "gpu": None}


@pytest.mark.skipif(HAS_CUPY, reason="this check is for a machine without cupy")
def test_cupy_absent():
    assert backends.versions("cupy") == {"cupy": None, "cuda_runtime": None, "cuda_driver": None, "gpu": None}
    with pytest.raises(Unavailable, match="^cupy is not installed"):
        backends.get("cupy").device("cuda:0")


@pytest.mark.skipif(not HAS_CUPY, reason="cupy is not installed")
@no_cuda
def test_cupy_real_gpus():
    import cupy

    n = cupy.cuda.runtime.getDeviceCount()
    t = Target("cupy", f"cuda:{n - 1}")
    with t.scope():
        a = t.from_numpy(np.ones(3, dtype=np.float32))
        b = a * 2
        t.synchronize()
    assert a.device.id == b.device.id == n - 1
    with pytest.raises(Unavailable, match=rf"^cuda:{n}: only {n} CUDA device"):
        backends.get("cupy").device(f"cuda:{n}")
    v = backends.versions("cupy", f"cuda:{n - 1}")
    assert v["cupy"] == cupy.__version__ and v["gpu"] and v["cuda_runtime"].isdigit() and v["cuda_driver"].isdigit()


# ---------------------------------------------------------------- versions


KEYS = {
    "numpy": ("numpy",),
    "array_api_strict": ("array-api-strict",),
    "torch": ("torch", "cuda", "gpu"),
    "jax": ("jax", "jaxlib", "gpu"),
    "cupy": ("cupy", "cuda_runtime", "cuda_driver", "gpu"),
}


@pytest.mark.parametrize("backend", backends.NAMES)
def test_versions_keys_and_library_version(backend):
    v = backends.versions(backend)
    assert tuple(v) == KEYS[backend]
    assert all(x is None or isinstance(x, str) for x in v.values()), v
    if importlib.util.find_spec(backend) is None:  # the library's module is the backend's name
        assert set(v.values()) == {None}
    else:
        lib = __import__(backend)
        assert v[KEYS[backend][0]] == str(lib.__version__)


@needs_jax
def test_versions_jax_and_cpu_labels():
    import jaxlib

    assert backends.versions("jax", "cpu:0")["jaxlib"] == jaxlib.__version__
    assert backends.versions("jax", "cpu:0")["gpu"] is None
    assert backends.versions("numpy", "cpu") == {"numpy": np.__version__}


@needs_torch
def test_versions_torch(two_fake_gpus, monkeypatch):
    torch = two_fake_gpus
    base = {"torch": torch.__version__, "cuda": torch.version.cuda}
    assert backends.versions("torch", "cpu") == {**base, "gpu": None}
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d: f"fake GPU {d.index}")
    assert backends.versions("torch", "cuda:1") == {**base, "gpu": "fake GPU 1"}
    assert backends.versions("torch", "cuda:2") == {**base, "gpu": None}  # past the two visible GPUs

    def broken(d):
        raise RuntimeError("CUDA driver initialization failed")

    monkeypatch.setattr(torch.cuda, "get_device_name", broken)
    assert backends.versions("torch") == {**base, "gpu": None}  # never raises


@pytest.mark.parametrize("backend,label", [("torch", "cuda:x"), ("numpy", "gpu"), ("cupy", "cpu")])
def test_versions_malformed_label(backend, label):
    with pytest.raises(ValueError, match=r"^device: expected "):
        backends.versions(backend, label)


# ---------------------------------------------------------------- array-api-strict


@pytest.mark.parametrize("label", backends.get("array_api_strict").LABELS)
def test_array_api_strict_every_device(label):
    import array_api_strict as xp

    t = Target("array_api_strict", label)
    assert t.device_obj() == xp.Device(label)
    a = t.from_numpy(np.ones(2, dtype=np.float32))
    assert a.device == xp.Device(label)
    assert t.dtypes() == (("float32",) if label in ("no_float64", "no_x64") else ("float32", "float64"))
