"""The backend matrix as pytest parameters: every (backend, device) target rnnx knows,
filtered by ``RNNX_BACKENDS``, skipped with the backend's own reason when unavailable."""

from __future__ import annotations

import pytest

from rnnx import backends

try:  # The tests compare float64 JAX results: this test process (the user) turns x64 on for
    import jax  # itself; rnnx never does (backends/jax.py: scope() does it for a with-block).

    jax.config.update("jax_enable_x64", True)
except ImportError:
    pass


def target_params(spec: str | None = None):
    out = []
    for t in backends.selected(spec):
        reason = t.unavailable()
        marks = [pytest.mark.skip(reason=f"{t.id} unavailable: {reason}")] if reason else []
        out.append(pytest.param(t, id=t.id, marks=marks))
    return out


def pytest_report_header(config):
    lines = []
    for t in backends.selected():
        reason = t.unavailable()
        lines.append(f"rnnx target {t.id}: " + ("available" if reason is None else f"skipped ({reason})"))
    return lines
