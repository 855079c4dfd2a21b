"""Wall time and accuracy of the preset runs, as a user runs them (a fresh process each).

    python bench/train_presets.py [--repeat 3] [--backends numpy,torch,jax,array-api-strict]

Times ``rnnx train --preset seed001`` on NumPy (target: <= 5 s for the whole command, test
MSE <= 1e-4) and ``rnnx train --preset seed000`` on each CPU backend (test MSE <= 1e-4, the
same to 3 significant figures in float64).  Prints one row per run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(preset: str, backend: str, out: Path) -> tuple[float, dict]:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rnnx", "train", "--preset", preset, "--backend", backend,
                    "--quiet", "--out", str(out)], check=True, capture_output=True)
    wall = time.perf_counter() - t0
    return wall, json.loads((out / "metrics.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--backends", default="numpy,torch,jax,array-api-strict")
    args = ap.parse_args()
    print(f"{'preset':<10}{'backend':<18}{'wall s (median)':>16}{'train s':>9}{'epochs':>8}{'test MSE':>12}"
          f"{'persistence':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [("seed001", "numpy", args.repeat)] + [("seed000", b, 1) for b in args.backends.split(",")]
        for i, (preset, backend, n) in enumerate(jobs):
            walls, m = [], {}
            for r in range(n):
                w, m = run(preset, backend, Path(tmp) / f"{i}-{r}")
                walls.append(w)
            print(f"{preset:<10}{backend:<18}{statistics.median(walls):>16.2f}{m['seconds_training']:>9.2f}"
                  f"{m['epochs']:>8}{m['test_mse']:>12.3g}{m['persistence_test_mse']:>13.3g}")


if __name__ == "__main__":
    main()
