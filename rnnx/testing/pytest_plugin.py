"""A pytest plugin: ``rnnx parity``'s rows as tests of an array library's own suite.

``python -m pytest --pyargs rnnx.testing --xp SPEC`` (or ``-p rnnx.testing.pytest_plugin``
with the same test module) runs every parity row (cell variant x dtype x device of the
namespace ``SPEC`` names) as one test, id ``CELL-DTYPE-DEVICE`` (``gru-float64-CPU_DEVICE``;
with several ``--xp``, ``CELL-DTYPE-TARGET``).  ``SPEC`` is what ``rnnx parity --namespace``
takes (:func:`rnnx.testing.namespace.namespace_spec`); a bad one is a usage error naming
``--xp``.  A row whose namespace lacks a function it calls is skipped, naming those functions
(the probe of ``rnnx parity``); a row that breaches its tolerance, or cannot run, fails with
its errors.  A session with ``--xp`` in which no row ran (every row skipped or deselected)
exits :data:`EXIT_NOTHING_RAN` unless ``--xp-allow-empty``.  Without ``--xp`` every hook does
nothing and the rows skip, saying so.  pytest's ``--junitxml`` writes one testcase per row.
"""

from __future__ import annotations

import dataclasses

import pytest

__all__ = ["EXIT_NOTHING_RAN", "FIXTURE", "TEST", "failure", "pytest_addoption", "pytest_configure",
           "pytest_generate_tests", "run_row"]

#: The exit status of a ``--xp`` session in which no row ran (``rnnx parity``'s too).
EXIT_NOTHING_RAN = 4
#: The fixture name a parity row test takes.
FIXTURE = "parity_row"
#: The name of the row test (rnnx/testing/test_parity.py).
TEST = "test_parity_row"
_ROWS = pytest.StashKey[list]()
_NO_XP = ("no --xp given: these are rnnx's parity rows for an array library, run them with "
          "'python -m pytest --pyargs rnnx.testing --xp MODULE'")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rnnx-parity", "rnnx parity rows (rnnx.testing)")
    group.addoption("--xp", action="append", default=[], metavar="SPEC",
                    help="an array-API namespace to run rnnx's parity rows on, as 'rnnx parity --namespace' takes it: "
                         "MODULE, MODULE:ATTR or MODULE:FACTORY(ARGS), each optionally @DEVICE (repeatable)")
    group.addoption("--xp-allow-empty", action="store_true", default=False,
                    help=f"with --xp, a session in which no parity row ran exits 0 (default: exit {EXIT_NOTHING_RAN})")


def _rows(config: pytest.Config) -> list:
    """(id, runner, dtype, cell, needs) per row of every ``--xp`` namespace, built once."""
    rows = config.stash.get(_ROWS, None)
    if rows is None:
        from rnnx.testing import rows as parity  # the rows and the probe (lazily: NumPy, torch)

        runners = []
        for spec in config.getoption("xp"):
            try:
                runners += parity.generic_runners(spec, option="--xp")
            except ValueError as e:
                raise pytest.UsageError(str(e)) from None
        skipped, _ = parity.probe(runners)
        needs = {(s["target"], s["dtype"], s["cell"]): s["needs"] for s in skipped}
        several = len(config.getoption("xp")) > 1
        rows = [(f"{cell}-{dtype}-{r.id if several else r.device}", r, dtype, cell, needs.get((r.id, dtype, cell)))
                for r in runners for dtype in r.dtypes for cell in parity.CELLS]
        config.stash[_ROWS] = rows
    return rows


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if FIXTURE not in metafunc.fixturenames:
        return
    config = metafunc.config
    if not config.getoption("xp"):
        metafunc.parametrize(FIXTURE, [pytest.param(None, id="no-xp", marks=pytest.mark.skip(reason=_NO_XP))])
        return
    params = []
    for rid, runner, dtype, cell, needs in _rows(config):
        marks = ()
        if needs:
            marks = pytest.mark.skip(reason=f"needs {', '.join('xp.' + n for n in needs)} "
                                            f"(missing in {runner.backend})")
        params.append(pytest.param((runner, dtype, cell), id=rid, marks=marks))
    metafunc.parametrize(FIXTURE, params)


def run_row(row) -> dict:
    """Run one parity row, ``(runner, dtype, cell)``, and return ``rnnx parity``'s record of
    it (``pass``, ``error``, the errors and tolerances)."""
    from rnnx.testing import rows as parity

    runner, dtype, cell = row
    [record] = parity.run_parity([dataclasses.replace(runner, dtypes=(dtype,))], cells=(cell,))
    return record


def failure(record: dict) -> str:
    """Why a row failed, in one line: its error, or its errors against the tolerances."""
    if record["error"]:
        return f"could not run: {record['error']}"
    e = lambda v: "-" if v is None else f"{v:.2e}"  # noqa: E731
    return (f"out {e(record['ref_out_err'])} grad {e(record['ref_grad_err'])}, torch out {e(record['torch_out_err'])} "
            f"grad {e(record['torch_grad_err'])} (tolerance {record['tol_out']:.0e} / {record['tol_grad']:.0e}) "
            f"over {record['cases']} case(s)")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("xp", default=None):
        _rows(config)  # a bad --xp is a usage error before collection
        config.pluginmanager.register(_Tally(config), "rnnx-parity-tally")


class _Tally:
    """With ``--xp``: counts the rows that ran, and fails a session in which none did."""

    def __init__(self, config: pytest.Config):
        self.config, self.ran = config, 0

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" and report.nodeid.rpartition("::")[2].partition("[")[0] == TEST:
            self.ran += 1

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.ran and not self.config.getoption("xp_allow_empty") and exitstatus in (
                pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = EXIT_NOTHING_RAN

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.ran:
            return
        how = ("accepted by --xp-allow-empty" if self.config.getoption("xp_allow_empty")
               else f"exit {EXIT_NOTHING_RAN} (--xp-allow-empty accepts it)")
        terminalreporter.write_line(f"rnnx parity: no row ran on {', '.join(self.config.getoption('xp'))} "
                                    f"(every row skipped or deselected): {how}", red=True, bold=True)
