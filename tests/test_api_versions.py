"""rnnx under each version of the array API standard that it supports (2023.12 and newer):
array-api-strict set to that version (in a ``with ArrayAPIStrictFlags(...)`` block, which
restores the previous flags) runs forward + backward of every cell and a fit step with the
numbers of NumPy.  2023.12's element-wise functions and ``where`` take no Python scalars
(2024.12 added them): rnnx passes 0-D arrays of the operand's dtype and device there.  An
older standard (2021.12, 2022.12) lacks the inspection API rnnx reads devices and default
dtypes from: it is refused in one line saying which version the library claims and what
it lacks."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import rnnx
from rnnx import backends
from rnnx.backends import Target
from rnnx.testing.harness import CELLS, Case, assert_close, data, reference, run_rnnx

xps = pytest.importorskip("array_api_strict")

STRICT = Target("array_api_strict", "device1")
#: Every standard array-api-strict can be set to, oldest first.
SUPPORTED = tuple(xps._flags.supported_versions)  # array-api-strict has no public list of them
#: The versions rnnx runs under: 2023.12, 2024.12 and the newest array-api-strict has.
RUNS = tuple(dict.fromkeys(v for v in ("2023.12", "2024.12", SUPPORTED[-1]) if v in SUPPORTED))
OLDER = tuple(v for v in SUPPORTED if v < "2023.12")


def _flags(version):
    with warnings.catch_warnings():  # 2021.12: "the returned namespace is actually version 2022.12"
        warnings.simplefilter("ignore", UserWarning)
        flags = xps.ArrayAPIStrictFlags(api_version=version)
        flags.__enter__()
    return flags


@pytest.fixture(params=RUNS)
def api_version(request):
    """array-api-strict set to one standard for the test, its previous flags restored after."""
    flags = _flags(request.param)
    try:
        yield request.param
    finally:
        flags.__exit__(None, None, None)


@pytest.fixture(params=OLDER)
def older_version(request):
    flags = _flags(request.param)
    try:
        yield request.param
    finally:
        flags.__exit__(None, None, None)


@pytest.mark.parametrize("cell", CELLS)
def test_forward_backward_of_each_cell(api_version, cell):
    """Two layers, both directions, lengths, an initial state: outputs and every gradient
    within the float64 tolerance of the NumPy reference."""
    assert xps.__array_api_version__ == api_version
    case = Case(cell, 2, True, False, True, True, True)
    got = run_rnnx(case, data(case, "float64"), convert=STRICT.from_numpy, to_numpy=STRICT.to_numpy)
    tol = STRICT.tolerance("float64")
    assert_close(got, reference(case, "float64"), out_tol=tol["out"], grad_tol=tol["grad"],
                 what=f"{STRICT.id} {api_version} {case.id}")


def _fit(x, y, lengths, *, model, loss, to):
    from rnnx.diagnostics import recorder

    rec = recorder.Recorder(probe_size=4, probes=2, seed=1)
    p0 = {k: to(v) for k, v in model.init_params(np, seed=3, dtype=np.float64).items()}
    res = rnnx.fit(model, to(x), to(y), lengths=None if lengths is None else to(lengths), epochs=2, batch_size=8,
                   params=p0, loss=loss, clip_norm=0.5, seed=0, diagnostics=rec)
    return {k: STRICT.to_numpy(v) if not isinstance(v, np.ndarray) else v for k, v in res.params.items()}, res


@pytest.mark.parametrize("cell, loss, out", [("lstm", "mse", 1), ("gru", "huber", 2), ("rnn", "cross-entropy", 3),
                                             ("lstm", "bce-logits", 1)])
def test_fit_steps_equal_numpy(api_version, cell, loss, out):
    """Two epochs of fit (lengths, gradient clipping, the diagnostics recorder) on
    array-api-strict: the parameters and losses of the same fit on NumPy."""
    rng = np.random.default_rng(0)
    n, T = 16, 7
    x = rng.standard_normal((n, T, 2))
    lengths = rng.integers(2, T + 1, size=n)
    if loss == "cross-entropy":
        y = rng.integers(0, out, size=n)
    elif loss == "bce-logits":
        y = rng.integers(0, 2, size=(n, out)).astype(np.float64)
    else:
        y = rng.standard_normal((n, out))
    model = rnnx.Model(cell, 2, 5, out, num_layers=2, bidirectional=cell == "gru")
    dev = STRICT.device_obj()
    got, res = _fit(x, y, lengths, model=model, loss=loss,
                    to=lambda a: xps.asarray(a, device=dev, copy=True))
    want, ref = _fit(x, y, lengths, model=model, loss=loss, to=lambda a: a)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-10, atol=1e-12, err_msg=k)
    np.testing.assert_allclose([r["loss"] for r in res.history], [r["loss"] for r in ref.history], rtol=1e-10)


def test_the_claimed_standard_is_reported(api_version):
    """The version each library claims, as ``rnnx backends`` prints it."""
    assert backends.standard_version(xps) == api_version
    assert backends.standard_refusal(xps) is None
    assert STRICT.unavailable() is None


def test_older_standard_is_refused_in_one_line(older_version):
    """2021.12/2022.12 (array-api-strict claims 2022.12 for both): refused at the public
    boundary, by the target, and by ``rnnx parity --namespace``, saying the version it
    claims and what it lacks."""
    claimed = xps.__array_api_version__
    want = (f"array_api_strict claims the {claimed} standard; rnnx needs 2023.12 or newer: it lacks "
            "__array_namespace_info__ (devices, default dtypes)")
    assert backends.standard_refusal(xps) is not None and backends.standard_refusal(xps).startswith(want)
    assert "\n" not in backends.standard_refusal(xps)
    with pytest.raises(TypeError, match="^x, y: " + want.replace("(", r"\(").replace(")", r"\)")):
        rnnx.fit(rnnx.Model("gru", 2, 3, 1), xps.zeros((4, 3, 2)), xps.zeros((4, 1)), epochs=1)
    with pytest.raises(TypeError, match="^xp: " + want.replace("(", r"\(").replace(")", r"\)")):
        rnnx.Model("gru", 2, 3, 1).init_params(xps)
    assert STRICT.unavailable().startswith(want)
    from rnnx.testing import rows as parity_rows

    with pytest.raises(ValueError, match=r"^--namespace: " + want.replace("(", r"\(").replace(")", r"\)")):
        parity_rows.generic_runners("array_api_strict")


def test_backends_command_states_the_standard():
    """``rnnx backends`` prints the standard each available library claims (a subprocess:
    the version comes from its own environment)."""
    out = subprocess.run([sys.executable, "-m", "rnnx", "backends"], capture_output=True, text=True, timeout=300,
                         check=False, env={**os.environ, "ARRAY_API_STRICT_API_VERSION": "2023.12",
                                           "RNNX_BACKENDS": ""})
    assert out.returncode == 0, out.stderr
    strict = [line for line in out.stdout.splitlines() if line.startswith("array-api-strict-device1")]
    assert strict and "standard 2023.12" in strict[0], out.stdout
    numpy_line = [line for line in out.stdout.splitlines() if line.startswith("numpy-cpu")]
    assert numpy_line and "standard 20" in numpy_line[0], out.stdout


def test_a_remembered_namespace_is_checked_again_when_its_library_claims_another_standard():
    """namespace() remembers its answer per array type; array-api-strict's flags change the
    standard it claims without changing the type: the claim is read again, and refused."""
    from rnnx import _xp

    a = xps.zeros((2,))
    assert _xp.namespace(x=a) is not None  # remembered at the claim of this run's default flags
    flags = _flags("2022.12")
    try:
        with pytest.raises(TypeError, match=r"^x: array_api_strict claims the 2022.12 standard"):
            _xp.namespace(x=a)
    finally:
        flags.__exit__(None, None, None)
    assert _xp.namespace(x=a) is not None
