"""Which array libraries ``rnnx parity`` runs on, and why a row fails or is skipped: one table.

    python bench/parity_libraries.py                                  # every library; print the table
    python bench/parity_libraries.py --only numpy,strict-2023.12-noext
    python bench/parity_libraries.py --out docs/parity-libraries.md --json docs/parity-libraries.json

Each library configuration runs ``python -m rnnx parity --namespace SPEC --cells CELLS --json
FILE`` in its own subprocess (its own environment: array-api-strict's standard version and
extensions are set by ``ARRAY_API_STRICT_API_VERSION`` / ``ARRAY_API_STRICT_ENABLED_EXTENSIONS``,
so this process's flags never change), with a timeout per library. The slow libraries (dask,
ndonnx, cubed: seconds per op, as each builds a graph) run one variant per cell family
(``rnn_tanh,lstm,gru``), the others every variant; ``--cells`` sets them for all. From the
JSON it takes the rows run / passed / breached / skipped, what the skipped rows need, the API
version the library claims, and each failing row's error, attributed to its cause (``CAUSES``:
a known library gap, else the error text). A library that is not installed is a row saying
so and how to install it. ``--out`` writes the Markdown, ``--json`` the whole result, each
atomically and never over an existing file unless ``--overwrite``.

Exit status: 0 when every library ran as ``EXPECT`` says (a pass, or the attributed gap),
1 when one did not, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

FAST = None  # every variant
SLOW = "rnn_tanh,lstm,gru"  # one variant per cell family


@dataclass(frozen=True)
class Library:
    name: str  # the row's name and the --only key
    spec: str  # what --namespace gets
    needs: tuple[str, ...]  # importable modules (the first is the library)
    dist: str  # the distribution whose version is reported
    install: str  # how to install it
    env: dict = field(default_factory=dict)
    cells: str | None = FAST
    timeout: int = 900
    note: str = ""  # the configuration, in words
    expect: str = "pass"  # "pass", "refused" (exit 2), "empty" (exit 4) or "fail" (exit 1)


_STRICT = ("array_api_strict",)
_STRICT_PIP = "pip install array-api-strict"
_NOEXT = {"ARRAY_API_STRICT_ENABLED_EXTENSIONS": ""}


def _strict(version: str | None, ext: bool, expect: str = "pass") -> Library:
    env = ({"ARRAY_API_STRICT_API_VERSION": version} if version else {}) | ({} if ext else _NOEXT)
    name = f"strict-{version or 'newest'}" + ("" if ext else "-noext")
    note = (f"ARRAY_API_STRICT_API_VERSION={version}" if version else "its newest (default) version") + \
        ("" if ext else ", no extensions (ARRAY_API_STRICT_ENABLED_EXTENSIONS=)")
    return Library(name, "array_api_strict@CPU_DEVICE", _STRICT, "array-api-strict", _STRICT_PIP, env,
                   note=note, expect=expect)


LIBRARIES: tuple[Library, ...] = (
    Library("numpy", "numpy", ("numpy",), "numpy", "pip install numpy", note="the reference, as a namespace"),
    _strict("2022.12", True, expect="refused"),
    _strict("2023.12", True), _strict("2023.12", False),
    _strict("2024.12", True), _strict("2024.12", False),
    _strict(None, True), _strict(None, False),
    Library("dask.array", "dask.array@cpu", ("dask", "array_api_compat"), "dask", "pip install 'dask[array]'",
            cells=SLOW, note="through array-api-compat (rnnx's own namespace lookup)"),
    Library("ndonnx", "ndonnx", ("ndonnx",), "ndonnx", "pip install ndonnx onnxruntime", cells=SLOW, timeout=1800,
            note="eager; onnxruntime for value propagation where installed"),
    Library("marray-numpy", "marray:masked_namespace(numpy)", ("marray", "numpy"), "marray", "pip install marray",
            note="masked arrays over NumPy"),
    Library("marray-strict", "marray:masked_namespace(array_api_strict)", ("marray", "array_api_strict"), "marray",
            "pip install marray array-api-strict", cells=SLOW, expect="fail",
            note="masked arrays over array-api-strict, every device it reports"),
    Library("marray-torch", "marray:masked_namespace(array_api_compat.torch)@cpu", ("marray", "torch", "array_api_compat"),
            "marray", "pip install marray torch", note="masked arrays over torch (array-api-compat), CPU"),
    Library("sparse", "sparse", ("sparse",), "sparse", "pip install sparse", expect="empty",
            note="pydata/sparse (COO)"),
    Library("cubed", "cubed.array_api", ("cubed",), "cubed", "pip install cubed", cells=SLOW, expect="fail",
            note="cubed's array-API namespace, default (single-threaded) executor"),
    Library("torch", "array_api_compat:torch@cpu", ("torch", "array_api_compat"), "torch", "pip install torch",
            note="torch through array-api-compat, CPU (its `meta` device holds no values)"),
)

EXIT = {"pass": 0, "fail": 1, "refused": 2, "empty": 4}

# Known gaps: a regular expression over a failing row's error -> the cause, in words.
CAUSES: tuple[tuple[str, str], ...] = (
    (r"except for the concatenation axis must match exactly",
     "cubed's `concat` with `axis=-1` (the last axis counted from the end) compares the wrong axes; "
     "`axis=ndim-1` works"),
    (r"must have regular chunks", "cubed's `reshape` needs regular chunks (its input's chunks along an axis differ in size)"),
    (r"Arrays from two different devices",
     "marray's `astype` returns its result on the default device, not its input's (array-api-strict's "
     "other devices)"),
    (r"claims the (\d{4}\.\d{2}) standard; rnnx needs", "the standard version: rnnx needs 2023.12 or newer"),
)


def attribute(error: str) -> str:
    """The cause of a row's (or a run's) error: a known gap's words, else the error's first line."""
    first = (error or "").strip().splitlines()[0] if (error or "").strip() else "(no error text)"
    first = first if len(first) <= 200 else first[:197] + "..."
    for pattern, cause in CAUSES:
        if re.search(pattern, error or ""):
            return f"{cause}: `{first}`"
    return f"`{first}`"


def which(rows: list[str], every: list[str]) -> str:
    """The rows a cause hit, short: ``every row (N)``, else the cells, each with its dtypes
    where a cell's rows were not all hit (``gru, lstm float32``)."""
    rows = list(dict.fromkeys(rows))
    if set(rows) == set(every):
        return f"every row ({len(rows)})"
    cells: dict[str, list[str]] = {}
    for r in rows:
        cell, dtype = r.split(" ", 1)
        cells.setdefault(cell, []).append(dtype)
    alld = {r.split(" ", 1)[0]: {e.split(" ", 1)[1] for e in every if e.split(" ", 1)[0] == r.split(" ", 1)[0]}
            for r in rows}
    return ", ".join(c if set(d) == alld[c] else f"{c} {'/'.join(d)}" for c, d in cells.items())


def known(cause: str) -> bool:
    """Whether ``cause`` is a known gap's (rows hit by it are grouped, whatever their error says)."""
    return any(cause.startswith(words) for _, words in CAUSES)


def installed(lib: Library) -> list[str]:
    """The modules of ``lib.needs`` that cannot be imported here (none: installed)."""
    absent = []
    for m in lib.needs:
        try:
            if importlib.util.find_spec(m) is None:
                absent.append(m)
        except (ImportError, ValueError):
            absent.append(m)
    return absent


def version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def run_one(lib: Library, cells: str | None, workdir: str) -> dict:
    """One library configuration: its row of the table, as a dict."""
    row = {"library": lib.name, "spec": lib.spec, "config": lib.note, "env": lib.env, "version": version(lib.dist),
           "expect": lib.expect, "claims": None, "rows": 0, "passed": 0, "breached": 0, "skipped": 0,
           "needs": [], "causes": [], "exit": None, "seconds": None, "cells": cells or lib.cells or "all"}
    absent = installed(lib)
    if absent:
        row.update(status="not installed", causes=[f"not installed ({', '.join(absent)}): `{lib.install}`"])
        return row
    path = os.path.join(workdir, f"{lib.name}.json")
    cmd = [sys.executable, "-m", "rnnx", "parity", "--namespace", lib.spec, "--json", path, "--overwrite"]
    if cells or lib.cells:
        cmd += ["--cells", cells or lib.cells]
    env = {**os.environ, **lib.env}
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=lib.timeout, check=False, cwd=workdir)
    except subprocess.TimeoutExpired:
        row.update(seconds=round(time.perf_counter() - t0, 1), status="timed out",
                   causes=[f"timed out after {lib.timeout} s"])
        return row
    row.update(exit=r.returncode, seconds=round(time.perf_counter() - t0, 1))
    doc = None
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    if doc is None:  # refused before any row (exit 2) or crashed
        text = (r.stderr.strip() or r.stdout.strip() or f"exit {r.returncode}, no output")
        line = next((ln for ln in text.splitlines() if "error" in ln.lower()), text.splitlines()[-1])
        m = re.search(r"claims the (\d{4}\.\d{2}) standard", text)
        row.update(claims=m.group(1) if m else None, causes=[attribute(re.sub(r"^rnnx( \w+)?: error: ", "", line))])
    else:
        rows = doc["rows"]
        row.update(rows=len(rows), passed=sum(1 for x in rows if x["pass"]),
                   breached=sum(1 for x in rows if not x["pass"]), skipped=len(doc["skipped"]),
                   needs=sorted({n for m in doc["missing"] for n in m["lacks"]}))
        claims = {m.group(1) for g in doc["generic"] if (m := re.search(r"(\d{4}\.\d{2})", g.get("standard") or ""))}
        row["claims"] = ", ".join(sorted(claims)) or None
        causes: dict[str, list[str]] = {}
        targets: dict[str, set] = {}  # a failure's targets, where it hit only some
        for x in rows:
            if not x["pass"]:
                cause = attribute(x["error"]) if x["error"] else "breached its tolerance"
                cause = next((c for c in causes if c.split(": `")[0] == cause.split(": `")[0] and known(c)), cause)
                causes.setdefault(cause, []).append(f"{x['cell']} {x['dtype']}")
                targets.setdefault(cause, set()).add(x["target"])
        for s in doc["skipped"]:
            causes.setdefault(f"lacks {', '.join('`' + n + '`' for n in s['needs'])}", []).append(
                f"{s['cell']} {s['dtype']}")
        every = [f"{x['cell']} {x['dtype']}" for x in rows] + [f"{x['cell']} {x['dtype']}" for x in doc["skipped"]]
        ids = {x["target"] for x in rows}
        row["causes"] = [f"{c} ({which(w, every) if targets.get(c, ids) == ids else 'on ' + ', '.join(sorted(t.rsplit('-', 1)[-1] for t in targets[c]))})"
                         for c, w in causes.items()]
    got = {0: "pass", 1: "fail", 2: "refused", 4: "empty"}.get(r.returncode, f"exit {r.returncode}")
    row["status"] = got
    return row


def as_expected(row: dict) -> bool:
    return row["status"] in ("not installed",) or row["status"] == row["expect"]


def markdown(result: dict) -> str:
    head = ("| library | `--namespace` | configuration | version | claims | rows run | passed | breached | skipped "
            "| exit | s | cause of each failure or skip |")
    out = [head, "|" + " --- |" * head.count(" | ") + " --- |"]
    for r in result["libraries"]:
        exit_ = "-" if r["exit"] is None else str(r["exit"])
        secs = "-" if r["seconds"] is None else f"{r['seconds']:.0f}"
        causes = "; ".join(r["causes"]).replace("|", "\\|") or "-"
        out.append(f"| {r['library']} | `{r['spec']}` | {r['config']} | {r['version'] or '-'} | {r['claims'] or '-'} "
                   f"| {r['rows']} | {r['passed']} | {r['breached']} | {r['skipped']} | {exit_} | {secs} | {causes} |")
    return "\n".join(out) + "\n"


def _refuse(msg: str) -> None:
    print(f"parity_libraries: error: {msg}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated library names (default: all): " +
                    ", ".join(lib.name for lib in LIBRARIES))
    ap.add_argument("--cells", help="the variants every library runs (default: all, or rnn_tanh,lstm,gru for the "
                    "slow ones)")
    ap.add_argument("--out", help="write the Markdown table to this file")
    ap.add_argument("--json", help="write the whole result as JSON to this file")
    ap.add_argument("--overwrite", action="store_true", help="replace existing --out/--json files")
    ap.add_argument("--jobs", type=int, default=1, help="libraries run at once (default 1; their times then "
                    "include each other's load)")
    a = ap.parse_args(argv)
    names = [lib.name for lib in LIBRARIES]
    chosen = LIBRARIES
    if a.only is not None:
        want = [n.strip() for n in a.only.split(",") if n.strip()]
        unknown = [n for n in want if n not in names]
        if not want or unknown:
            _refuse(f"--only: unknown {unknown or repr(a.only)}; expected some of {', '.join(names)}")
        chosen = tuple(lib for lib in LIBRARIES if lib.name in want)
    if a.cells is not None and not re.fullmatch(r"[a-z0-9_]+(,[a-z0-9_]+)*", a.cells):
        _refuse(f"--cells: {a.cells!r} is not a comma-separated list of variant ids")
    for flag, path in (("--out", a.out), ("--json", a.json)):
        if path and os.path.lexists(path) and not a.overwrite:
            _refuse(f"{flag}: {path!r} exists; pass --overwrite to replace it")
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            _refuse(f"{flag}: the folder of {path!r} does not exist")
    if a.jobs < 1:
        _refuse(f"--jobs: expected a positive integer, got {a.jobs}")
    t0 = time.perf_counter()

    def one(lib: Library) -> dict:
        print(f"{lib.name}: rnnx parity --namespace {lib.spec} ...", file=sys.stderr, flush=True)
        row = run_one(lib, a.cells, work)
        print(f"{lib.name}: {row['status']} ({row['passed']}/{row['rows']} rows, {row['seconds']} s)",
              file=sys.stderr, flush=True)
        return row

    from concurrent.futures import ThreadPoolExecutor

    with tempfile.TemporaryDirectory(prefix="rnnx-parity-libs-") as work, ThreadPoolExecutor(a.jobs) as pool:
        rows = list(pool.map(one, sorted(chosen, key=lambda lib: -lib.timeout)))  # the slowest first
    rows.sort(key=lambda r: [lib.name for lib in chosen].index(r["library"]))
    import rnnx

    result = {"rnnx": rnnx.__version__, "python": platform.python_version(), "date": time.strftime("%Y-%m-%d"),
              "command": "python bench/parity_libraries.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "seconds": round(time.perf_counter() - t0, 1), "libraries": rows,
              "unexpected": [r["library"] for r in rows if not as_expected(r)]}
    text = markdown(result)
    print(text, end="")
    from rnnx.io import atomic

    if a.out:
        atomic.write_text(a.out, text, overwrite=a.overwrite)
    if a.json:
        atomic.write_text(a.json, json.dumps(result, indent=2) + "\n", overwrite=a.overwrite)
    for name in result["unexpected"]:
        r = next(x for x in rows if x["library"] == name)
        print(f"unexpected: {name}: {r['status']}, expected {r['expect']}", file=sys.stderr)
    return 1 if result["unexpected"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
