"""``rnnx parity``: does an array library compute recurrent networks right?

The rows, the probe and the runners are :mod:`rnnx.testing.rows` (shared with the pytest
plugin, :mod:`rnnx.testing.pytest_plugin`); this module prints the table, the skipped and
absent targets, the failures, writes ``--json`` and chooses the exit status: 1 when a row
breached its tolerance or could not run, :data:`~rnnx.testing.rows.EXIT_NOTHING_RAN` when no
row ran (0 then with ``--allow-empty``), else 0.
"""

from __future__ import annotations

from rnnx.testing.rows import BATTERY, CELLS, EXIT_NOTHING_RAN, Runner, collect, probe, run_parity

__all__ = ["format_table", "report", "main"]


def format_table(rows: list[dict]) -> str:
    f = lambda v: "-" if v is None else f"{v:.2e}"  # noqa: E731
    w = max([26] + [len(r["target"]) + 2 for r in rows])
    wc = max([18] + [len(r["cell"]) + 2 for r in rows])
    head = (f"{'target':<{w}}{'dtype':<9}{'cell':<{wc}}{'out err':>10}{'grad err':>10}{'torch out':>11}"
            f"{'torch grad':>11}{'tol out/grad':>16}{'':>6}{'ms':>9}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['target']:<{w}}{r['dtype']:<9}{r['cell']:<{wc}}{f(r['ref_out_err']):>10}"
                     f"{f(r['ref_grad_err']):>10}{f(r['torch_out_err']):>11}{f(r['torch_grad_err']):>11}"
                     f"{r['tol_out']:>8.0e}/{r['tol_grad']:<7.0e}{'pass' if r['pass'] else 'FAIL':>6}{r['ms']:>9.1f}")
    return "\n".join(lines)


def report(runners: list[Runner], absent: list[dict], *, json_path: str | None, cells=CELLS,
           allow_empty: bool = False) -> int:
    """Probe, run, print the table and write the JSON; 1 when a row failed,
    :data:`EXIT_NOTHING_RAN` when no row ran (0 then if ``allow_empty``), else 0."""
    import platform

    skipped, missing = probe(runners, cells)
    rows = run_parity(runners, cells=cells, skip={(s["target"], s["cell"]) for s in skipped})
    print(format_table(rows))
    for a in absent:
        print(f"absent: {a['target']}: {a['reason']}")
    backend_of = {r.id: r.backend for r in runners}
    groups: dict = {}  # one line per target and set of needs: the cells, then the dtypes of their rows
    for s in skipped:
        cells_, dtypes = groups.setdefault((s["target"], tuple(s["needs"])), ([], []))
        cells_ += [] if s["cell"] in cells_ else [s["cell"]]
        dtypes += [] if s["dtype"] in dtypes else [s["dtype"]]
    for (target, needs), (cells_, dtypes) in groups.items():
        print(f"skipped: {target} {', '.join(cells_)} ({', '.join(dtypes)}): needs "
              f"{', '.join('xp.' + n for n in needs)} (missing in {backend_of[target]})")
    for r in runners:
        if r.capabilities:
            print(f"found: {r.id}: {r.capabilities['standard']}; float dtypes {r.capabilities['dtypes']} "
                  f"(default {r.capabilities['default_float']}); "
                  f"the library's devices: {', '.join(r.capabilities['devices'])}; read back by "
                  f"{', '.join(sorted({row['readback'] or '-' for row in rows if row['target'] == r.id})) or '-'}")
    failed = [r for r in rows if not r["pass"]]
    print(f"\nparity rows: {len(rows) - len(failed)} within tolerance, {len(failed)} breached"
          + (f"; {len(skipped)} row(s) skipped for missing functions" if skipped else ""))
    e = lambda v: "-" if v is None else f"{v:.2e}"  # noqa: E731
    for r in failed:
        why = r["error"] or (f"out {e(r['ref_out_err'])} grad {e(r['ref_grad_err'])}, torch out "
                             f"{e(r['torch_out_err'])} grad {e(r['torch_grad_err'])} (tolerance {r['tol_out']:.0e} / "
                             f"{r['tol_grad']:.0e})")
        print(f"FAIL: {r['target']} {r['dtype']} {r['cell']}: {why}")
    if not rows:
        why = "every target absent or skipped" if (absent or skipped) else "no target selected"
        print(f"no parity row ran ({why}): " + ("accepted by --allow-empty" if allow_empty else
                                                f"exit {EXIT_NOTHING_RAN} (--allow-empty accepts it)"))
    if json_path:
        import rnnx
        from rnnx.io.jsonfile import write_json

        doc = {"rnnx": rnnx.__version__, "python": platform.python_version(), "battery": [vars(s) for s in BATTERY],
               "cells": list(cells), "rows": rows, "absent": absent, "skipped": skipped, "missing": missing,
               "generic": [{"target": r.id, **r.capabilities} for r in runners if r.capabilities],
               "passed": len(rows) - len(failed), "failed": len(failed)}
        write_json(json_path, doc)  # strict JSON (NaN/Inf -> null), written whole or not at all
    if failed:
        return 1
    return EXIT_NOTHING_RAN if not rows and not allow_empty else 0


def main(*, backend: str | None, namespaces: list[str], json_path: str | None, cells=CELLS,
         allow_empty: bool = False) -> int:
    runners, absent = collect(backend, namespaces)
    return report(runners, absent, json_path=json_path, cells=cells, allow_empty=allow_empty)
