"""Markdown tables and the issue #5 target check from a ``rnnx bench --json`` file.

    python bench/report.py docs/bench.json            # tables (as in README) + targets

Every figure comes from the one JSON file, i.e. from one interleaved run; nothing is
timed here.
"""

from __future__ import annotations

import argparse
import json

ANCHOR = {"lstm": "torch.nn.LSTM (CPU)", "gru": "torch.nn.GRU (CPU)", "rnn": "torch.nn.RNN (CPU)"}
ISSUE_SIZES = [(1, 25, 1, 100), (175, 25, 1, 100), (64, 100, 32, 128), (64, 100, 128, 512), (16, 1000, 32, 128)]


def _rows(doc: dict, cell: str) -> list[dict]:
    return [r for r in doc["rows"] if r["cell"] == cell and r["pass"] == "forward+backward"]


def table(doc: dict, cell: str) -> str:
    rows = _rows(doc, cell)
    sizes = sorted({tuple(r["size"]) for r in rows}, key=lambda s: [*ISSUE_SIZES, s].index(s))
    names = list(dict.fromkeys(r["row"] for r in rows))
    out = [f"{cell.upper()}, forward + backward, median ms (ratio to torch.nn; JAX also to jax.grad)", "",
           "| row | " + " | ".join(",".join(map(str, s)) for s in sizes) + " |",
           "|---" * (len(sizes) + 1) + "|"]
    for n in names:
        cells = []
        for s in sizes:
            r = next((r for r in rows if r["row"] == n and tuple(r["size"]) == s), None)
            if r is None:
                cells.append("-")
                continue
            txt = f"{r['median_ms']:.2f}"
            extra = [f"{r['vs_torch']:.2f}x"] if r["vs_torch"] is not None and r["kind"] == "rnnx" else []
            if r["vs_jax_autodiff"] is not None:
                extra.append(f"{r['vs_jax_autodiff']:.2f}x jax")
            if r["kind"] == "anchor" and r["row"].startswith("jax") and r["vs_torch"] is not None:
                extra.append(f"{r['vs_torch']:.2f}x")
            if extra:
                txt += f" ({'; '.join(extra)})"
            if "cache_bytes" in r:
                txt += f" [cache {r['cache_bytes'] / r['full_cache_bytes']:.1%}]"
            cells.append(txt)
        out.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def targets(doc: dict) -> list[str]:
    """Issue #5's targets, one line each: met or missed, and by how much."""
    lines = []

    def say(ok: bool, what: str) -> None:
        lines.append(f"{'MET   ' if ok else 'MISSED'} {what}")

    for cell in ("lstm", "gru", "rnn"):
        rows = _rows(doc, cell)
        for s in sorted({tuple(r["size"]) for r in rows}, key=lambda s: [*ISSUE_SIZES, s].index(s)):
            at = [r for r in rows if tuple(r["size"]) == s]
            cpu = [r for r in at if r["kind"] == "rnnx" and "checkpoint" not in r["row"] and r["vs_torch"] is not None
                   and not any(g in r["row"] for g in ("cuda", "gpu"))]
            tag = f"{cell} {','.join(map(str, s))}:"
            if cpu:
                best = min(cpu, key=lambda r: r["vs_torch"])
                say(best["vs_torch"] <= 0.8, f"{tag} fastest rnnx CPU ({best['row']}) {best['vs_torch']:.2f}x torch.nn (<= 0.8)")
            for r in at:
                if r["vs_jax_autodiff"] is not None and "gpu" not in r["row"]:
                    say(r["vs_jax_autodiff"] <= 0.8, f"{tag} {r['row']} {r['vs_jax_autodiff']:.2f}x jax.grad (<= 0.8)")
                if r["row"] == "rnnx torch-cpu" and r["vs_torch"] is not None:
                    say(r["vs_torch"] <= 1.2, f"{tag} rnnx torch-cpu {r['vs_torch']:.2f}x torch.nn (<= 1.2)")
                if r["row"] == "rnnx numpy-cpu" and s == (1, 25, 1, 100) and r["vs_torch"] is not None:
                    say(r["vs_torch"] <= 1.0, f"{tag} rnnx numpy-cpu {r['vs_torch']:.2f}x torch.nn (<= 1.0)")
                if r["row"] == "rnnx numpy-cpu" and s == (64, 100, 128, 512) and r["peak_fraction"] is not None:
                    say(r["peak_fraction"] >= 0.5, f"{tag} rnnx numpy-cpu {r['peak_fraction']:.0%} of NumPy's matmul peak (>= 50%)")
                if "checkpoint" in r["row"] and s == (16, 1000, 32, 128):
                    full = next(f for f in at if f["row"] == r["row"].split(" checkpoint")[0])
                    frac, slow = r["cache_bytes"] / r["full_cache_bytes"], r["median_ms"] / full["median_ms"]
                    say(frac <= 0.1 and slow <= 1.5,
                        f"{tag} checkpoint=sqrt cache {frac:.1%} of full (<= 10%), time {slow:.2f}x full (<= 1.5x)")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json")
    doc = json.load(open(ap.parse_args().json))
    for cell in ("lstm", "gru", "rnn"):
        if _rows(doc, cell):
            print(table(doc, cell), end="\n\n")
    peaks = ", ".join(f"{k} {v:.0f}" for k, v in doc["matmul_peak_gflops"].items() if v)
    proj = doc.get("jax_projection")
    proj = f"; JAX input projection {proj.replace('_', '-')}" if proj else ""
    print(f"(matmul peak GFLOP/s in this run: {peaks}; {doc.get('malloc', '')}{proj})\n")
    t = targets(doc)
    print("\n".join(t))
    print(f"\n{sum(x.startswith('MET') for x in t)} of {len(t)} targets met")


if __name__ == "__main__":
    main()
