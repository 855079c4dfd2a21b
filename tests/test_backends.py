"""The backend matrix: every available (backend, device) x dtype x cell x options against
the float64 NumPy reference, with the backend's own tolerances (float32: outputs <= 2e-6,
gradients <= 1e-5; float64: <= 1e-12).  Every result must stay in the input's library, on
its device, in its dtype.  And the same seed gives bit-identical params and results."""

from __future__ import annotations

import array_api_compat as compat
import numpy as np
import pytest

from rnnx.testing.harness import Case, all_cases, assert_close, data, reference, run_rnnx
from conftest import target_params

DTYPES = ("float32", "float64")


def _checker(target, dtype):
    xp = target.namespace()
    dev = target.device_obj()
    want_dtype = getattr(xp, dtype)

    def check(name, a):
        assert compat.array_namespace(a) is compat.array_namespace(xp.zeros(1)), f"{name}: wrong library"
        assert a.dtype == want_dtype, f"{name}: dtype {a.dtype}, expected {want_dtype}"
        assert str(compat.device(a)) == str(compat.device(target.from_numpy(np.zeros(1, dtype=np.float32)))), (
            f"{name}: device {compat.device(a)}, expected {dev}")

    return check


@pytest.mark.parametrize("case", all_cases(), ids=lambda c: c.id)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("target", target_params())
def test_matches_numpy_float64_reference(target, dtype, case):
    if dtype not in target.dtypes():
        pytest.skip(f"{target.id} has no {dtype}")
    got = run_rnnx(case, data(case, dtype), convert=target.from_numpy, to_numpy=target.to_numpy,
                   check=_checker(target, dtype))
    tol = target.tolerance(dtype)
    assert_close(got, reference(case, dtype), out_tol=tol["out"], grad_tol=tol["grad"],
                 what=f"{target.id} {dtype} {case.id}")


REPRO = [Case("lstm", 2, True, False, True, True, True), Case("gru", 1, False, True, True, False, False)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("target", target_params())
def test_same_seed_is_bit_identical(target, dtype):
    """init_params from one seed: bit-identical on a rerun and across backends (the
    numbers are drawn on the host and rounded once); a rerun's results are too."""
    if dtype not in target.dtypes():
        pytest.skip(f"{target.id} has no {dtype}")
    xp, dev = target.namespace(), target.device_obj()
    for case in REPRO:
        layer = case.layer()
        a = layer.init_params(xp, seed=11, dtype=getattr(xp, dtype), device=dev)
        b = layer.init_params(xp, seed=11, dtype=getattr(xp, dtype), device=dev)
        ref = layer.init_params(np, seed=11, dtype=getattr(np, dtype))
        for k in ref:
            assert target.to_numpy(a[k]).tobytes() == target.to_numpy(b[k]).tobytes() == ref[k].tobytes(), k
            assert str(compat.device(a[k])) == str(compat.device(target.from_numpy(np.zeros(1, dtype=np.float32))))
        c = layer.init_params(xp, seed=12, dtype=getattr(xp, dtype), device=dev)
        assert any(not np.array_equal(target.to_numpy(a[k]), target.to_numpy(c[k])) for k in a)
        d = data(case, dtype)
        r1 = run_rnnx(case, d, convert=target.from_numpy, to_numpy=target.to_numpy)
        r2 = run_rnnx(case, d, convert=target.from_numpy, to_numpy=target.to_numpy)
        assert all(r1[k].tobytes() == r2[k].tobytes() for k in r1)


@pytest.mark.parametrize("target", target_params())
def test_default_dtype_is_the_namespace_default(target):
    xp = target.namespace()
    p = Case("gru").layer().init_params(xp, device=target.device_obj())
    want = xp.__array_namespace_info__().default_dtypes(device=target.device_obj())["real floating"]
    assert all(v.dtype == want for v in p.values())


def test_float32_only_device_runs():
    """array-api-strict's ``no_float64`` device: rnnx creates nothing in float64."""
    from rnnx.backends import Target

    t = Target("array_api_strict", "no_float64")
    if t.unavailable():
        pytest.skip(t.unavailable())
    case = Case("lstm", 2, True, True, True, True, True)
    got = run_rnnx(case, data(case, "float32"), convert=t.from_numpy, to_numpy=t.to_numpy,
                   check=_checker(t, "float32"))
    assert_close(got, reference(case, "float32"), out_tol=2e-6, grad_tol=1e-5, what="no_float64")
