"""summary.txt of bench/gpu_check.sh, from the files it wrote (standard library only).

    python bench/gpu_summary.py OUTDIR [--steps FILE] [--mode gpu|cpu] [--targets a,b,c] [--elapsed S]

Reads OUTDIR/pytest.xml (junit; pytest.log's last line where the XML is missing),
OUTDIR/parity.json and OUTDIR/bench.json (bench.log's tables where the JSON is missing, as
when the bench was stopped at its timeout), and writes OUTDIR/summary.txt:
  - each step's exit status and seconds (``--steps``: lines "NAME RC SECONDS"),
  - pytest: passed / failed / errors / skipped, per target, the failed tests' ids,
  - parity: rows within tolerance, and per target and dtype the worst errors against the
    NumPy float64 reference (and against torch.nn in float64),
  - bench: per row its median time and its ratios to the anchors (x torch: torch.nn on the
    same kind of device, cuDNN for GPU rows; x jax-ad: jax.grad of a lax.scan).
Missing or unreadable files are reported, never fatal: the summary says what it could not read.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict

STATUSES = ("passed", "failed", "error", "skipped")


def _e(v) -> str:
    return "-" if v is None else f"{v:.2e}"


def _r(v) -> str:
    return "-" if v is None else f"{v:.2f}"


# -- steps --------------------------------------------------------------------------------------------
def read_steps(path: str | None) -> list[tuple[str, int, int]]:
    if not path or not os.path.exists(path):
        return []
    out = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[1].lstrip("-").isdigit():
                out.append((parts[0], int(parts[1]), int(parts[2])))
    return out


def steps_lines(steps, elapsed: int | None) -> list[str]:
    if not steps:
        return ["steps: (no record)"]
    words = []
    for name, rc, secs in steps:
        state = "ok" if rc == 0 else ("TIMEOUT" if rc in (124, 137) else f"FAIL exit {rc}")
        words.append(f"{name} {state} {secs}s")
    bad = [n for n, rc, _ in steps if rc != 0]
    tail = f"; {elapsed}s before the summary" if elapsed is not None else ""
    return [f"steps: {', '.join(words)}{tail}",
            f"result: {'every step passed' if not bad else 'FAILED: ' + ', '.join(bad)}"]


# -- pytest -------------------------------------------------------------------------------------------
def _target_of(name: str, targets: list[str]) -> str:
    params = name.partition("[")[2]
    for t in sorted(targets, key=len, reverse=True):
        if params == t or params.startswith((t + "-", t + "]")):
            return t
    return "other"


def read_junit(path: str, targets: list[str]) -> dict:
    root = ET.parse(path).getroot()
    counts: Counter = Counter()
    per: dict = defaultdict(Counter)
    failed, skips = [], Counter()
    seconds = 0.0
    for suite in ([root] if root.tag == "testsuite" else root.iter("testsuite")):
        seconds += float(suite.get("time") or 0.0)
    incomplete = 0
    for tc in root.iter("testcase"):
        name = tc.get("name")
        if name is None:  # an entry without a test, left by an interrupted run's killed worker
            incomplete += 1
            continue
        kids = {child.tag: child for child in tc}
        if "error" in kids:
            status = "error"
        elif "failure" in kids:
            status = "failed"
        elif "skipped" in kids:
            status = "skipped"
            reason = kids["skipped"].get("message", "")
            skips[reason[:160]] += 1
        else:
            status = "passed"
        counts[status] += 1
        per[_target_of(name, targets)][status] += 1
        if status in ("failed", "error"):
            msg = (kids.get("failure") if "failure" in kids else kids.get("error")).get("message", "")
            failed.append(f"{tc.get('classname', '')}::{name}: {msg.splitlines()[0][:200] if msg else ''}")
    return {"counts": counts, "per_target": per, "failed": failed, "skip_reasons": skips, "seconds": seconds,
            "incomplete": incomplete}


def pytest_lines(out: str, targets: list[str]) -> list[str]:
    xml, log = os.path.join(out, "pytest.xml"), os.path.join(out, "pytest.log")
    interrupted = False
    last = ""
    if os.path.exists(log):
        with open(log, errors="replace") as f:
            text = f.read()
        interrupted = "KeyboardInterrupt" in text or "stopped at its" in text
        finals = [ln.strip("= \n") for ln in text.splitlines() if re.search(r"\d+ (passed|failed|error|skipped|deselected)", ln)]
        last = finals[-1] if finals else ""
    if not os.path.exists(xml):
        return [f"pytest: no pytest.xml; pytest.log's last count line: {last or '(none)'}"]
    try:
        j = read_junit(xml, targets)
    except (ET.ParseError, OSError, ValueError) as e:
        return [f"pytest: pytest.xml unreadable ({type(e).__name__}: {e}); pytest.log: {last or '(none)'}"]
    c = j["counts"]
    lines = [f"pytest: {sum(c.values())} tests: {c['passed']} passed, {c['failed']} failed, {c['error']} errors, "
             f"{c['skipped']} skipped in {j['seconds']:.0f}s"
             + ("  (INTERRUPTED at the step's timeout: counts of the tests that ran)" if interrupted else "")
             + (f"; {j['incomplete']} unnamed entries of interrupted workers not counted" if j["incomplete"] else "")]
    for t in list(targets) + sorted(set(j["per_target"]) - set(targets)):
        pc = j["per_target"].get(t)
        if pc:
            lines.append(f"  {t:<16} " + ", ".join(f"{pc[s]} {s}" for s in STATUSES if pc[s]))
    for reason, n in j["skip_reasons"].most_common(3):
        lines.append(f"  skipped x{n}: {reason}")
    for f in j["failed"][:15]:
        lines.append(f"  FAILED {f}")
    if len(j["failed"]) > 15:
        lines.append(f"  ... and {len(j['failed']) - 15} more failed (pytest.log)")
    return lines


# -- parity -------------------------------------------------------------------------------------------
def _max(vals):
    vals = [v for v in vals if isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v))]
    return max(vals) if vals else None


def parity_lines(out: str) -> list[str]:
    path = os.path.join(out, "parity.json")
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        return [f"parity: no parity.json ({type(e).__name__}: {e}); see parity.log"]
    rows = doc.get("rows") or []
    ok = sum(1 for r in rows if r.get("pass"))
    lines = [f"parity: {len(rows)} rows, {ok} within tolerance, {len(rows) - ok} breached"]
    groups: dict = defaultdict(list)
    for r in rows:
        groups[(r.get("target", "?"), r.get("dtype", "?"))].append(r)
    if groups:
        lines.append(f"  {'target':<16}{'dtype':<9}{'rows ok':>8}{'worst out':>11}{'worst grad':>12}"
                     f"{'tol out/grad':>16}{'torch out':>11}{'torch grad':>12}")
    for (t, dt), rs in groups.items():
        tol = "/".join("-" if rs[0].get(k) is None else f"{rs[0][k]:.0e}" for k in ("tol_out", "tol_grad"))
        lines.append(f"  {t:<16}{dt:<9}{sum(bool(r.get('pass')) for r in rs):>4}/{len(rs):<3}"
                     f"{_e(_max(r.get('ref_out_err') for r in rs)):>11}{_e(_max(r.get('ref_grad_err') for r in rs)):>12}"
                     f"{tol:>16}{_e(_max(r.get('torch_out_err') for r in rs)):>11}"
                     f"{_e(_max(r.get('torch_grad_err') for r in rs)):>12}")
    worst: dict = defaultdict(dict)
    for (t, dt), rs in groups.items():
        worst[t][dt] = _max([r.get(k) for r in rs for k in ("ref_out_err", "ref_grad_err")])
    for t, by in worst.items():
        lines.append(f"  worst {t}: " + ", ".join(f"{dt} {_e(v)}" for dt, v in sorted(by.items())))
    for r in rows:
        if not r.get("pass"):
            why = r.get("error") or (f"out {_e(r.get('ref_out_err'))} grad {_e(r.get('ref_grad_err'))} torch "
                                     f"{_e(r.get('torch_out_err'))}/{_e(r.get('torch_grad_err'))}")
            lines.append(f"  BREACHED {r.get('target')} {r.get('dtype')} {r.get('cell')}: {why}")
    for a in doc.get("absent") or []:
        lines.append(f"  absent {a.get('target')}: {a.get('reason')}")
    for m in doc.get("missing") or []:  # a namespace lacking standard functions rnnx uses: its targets skipped
        lines.append(f"  skipped {', '.join(m.get('targets') or [])}: {m.get('namespace')} lacks "
                     f"{', '.join(m.get('lacks') or [])}")
    return lines


# -- bench --------------------------------------------------------------------------------------------
_BLOCK = re.compile(r"^(\w+)\s+\(B, T, I, H\) = \((\d+), (\d+), (\d+), (\d+)\)")
_ROW = re.compile(r"^  (.+?)\s+(forward\+backward|forward)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\S+)\s+(\S+)\s")


def bench_rows_from_log(path: str) -> list[dict]:
    """The per-cell tables ``rnnx bench`` prints as it goes (a run stopped early keeps these)."""
    rows, size, cell = [], None, None

    def num(s):
        return None if s == "-" else float(s)

    with open(path, errors="replace") as f:
        for line in f:
            m = _BLOCK.match(line)
            if m:
                cell, size = m.group(1).lower(), [int(m.group(i)) for i in range(2, 6)]
                continue
            m = _ROW.match(line)
            if m and size:
                rows.append({"size": size, "cell": cell, "row": m.group(1), "pass": m.group(2),
                             "median_ms": float(m.group(3)), "vs_torch": num(m.group(6)),
                             "vs_jax_autodiff": num(m.group(7)), "kind": "anchor" if not m.group(1).startswith("rnnx")
                             else "rnnx"})
    return rows


def bench_lines(out: str) -> list[str]:
    path, log = os.path.join(out, "bench.json"), os.path.join(out, "bench.log")
    head = ""
    try:
        with open(path) as f:
            doc = json.load(f)
        rows = doc.get("rows") or []
        anchor_tf32 = sorted({str(r.get("tf32")) for r in rows if "cuDNN" in str(r.get("row")) and "tf32" in r})
        head = (f"bench: {doc.get('dtype', '?')}, {doc.get('repeat', '?')} rounds, {len(rows)} rows"
                + (f"; cuDNN anchor tf32={'/'.join(anchor_tf32)}" if anchor_tf32 else "")
                + ("; matmul peak GFLOP/s " + ", ".join(f"{k} {v:.0f}" for k, v in doc["matmul_peak_gflops"].items() if v)
                   if doc.get("matmul_peak_gflops") else ""))
        skipped = doc.get("skipped") or []
    except (OSError, ValueError) as e:
        if not os.path.exists(log):
            return [f"bench: no bench.json ({type(e).__name__}) and no bench.log"]
        rows = bench_rows_from_log(log)
        head = f"bench: no bench.json ({type(e).__name__}); {len(rows)} rows read from bench.log (a partial run)"
        skipped = []
    lines = [head]
    if rows:
        lines.append(f"  {'size':<17}{'cell':<6}{'row':<34}{'pass':<18}{'median ms':>10}{'x torch':>9}{'x jax-ad':>9}")
    for r in rows:
        size = ",".join(str(v) for v in r.get("size", []))
        lines.append(f"  {size:<17}{r.get('cell', '?'):<6}{r.get('row', '?'):<34}{r.get('pass', '?'):<18}"
                     f"{r.get('median_ms', float('nan')):>10.3f}{_r(r.get('vs_torch')):>9}"
                     f"{_r(r.get('vs_jax_autodiff')):>9}")
    for s in skipped:
        lines.append(f"  skipped: {s}")
    return lines


def summarise(out: str, *, steps=None, mode: str = "gpu", targets: list[str] = (), elapsed: int | None = None) -> str:
    parts = [f"rnnx GPU check ({mode} mode), {out}", *steps_lines(read_steps(steps), elapsed), "",
             *pytest_lines(out, list(targets)), "", *parity_lines(out), "", *bench_lines(out)]
    return "\n".join(parts) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("outdir")
    p.add_argument("--steps", help='file of "NAME RC SECONDS" lines, one per step')
    p.add_argument("--mode", default="gpu")
    p.add_argument("--targets", default="", help="comma-separated target ids, for the per-target pytest counts")
    p.add_argument("--elapsed", type=int)
    a = p.parse_args(argv)
    text = summarise(a.outdir, steps=a.steps, mode=a.mode, elapsed=a.elapsed,
                     targets=[t for t in a.targets.split(",") if t])
    with open(os.path.join(a.outdir, "summary.txt"), "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
