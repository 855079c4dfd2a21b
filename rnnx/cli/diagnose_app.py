"""What ``rnnx diagnose`` does (docs/diagnostics.md):

- ``--model DIR``: the profiles of a trained model (``rnnx.diagnostics.recorder.profile``: gradient
  flow, Jacobian profile, gate saturation) and its gradient on a probe batch of the run's
  own data (``--part``, default train; a classification run's own cases) or of a new CSV
  (regression), into ``OUT/diagnostics.json``
  and ``OUT/diagnostics.png`` (``OUT`` default ``DIR/diagnose``);
- ``--compare clip|cell|output-activation``: the same model trained from the same seeds
  with each variant, every run with ``--diagnostics`` (a run folder each under ``OUT``), and
  one table (``compare.csv``, ``compare.json``), one figure (``compare.png``) and a verdict.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import statistics
import sys
from collections.abc import Iterator
from typing import Any

from rnnx.cli import run, run_diagnostics, runfolder, signals
from rnnx.cli.errors import AppError
from rnnx.cli.settings import TrainSettings, check_settings
from rnnx.io import atomic

#: The variants of each study: (label, settings changed).
VARIANTS: dict[str, tuple[tuple[str, dict], ...]] = {
    "clip": (("none", {"clip_value": None, "clip_norm": None}),
             ("norm=0.1", {"clip_value": None, "clip_norm": 0.1}),
             ("norm=1", {"clip_value": None, "clip_norm": 1.0}),
             ("norm=10", {"clip_value": None, "clip_norm": 10.0}),
             ("value=0.1", {"clip_value": 0.1, "clip_norm": None}),
             ("value=1", {"clip_value": 1.0, "clip_norm": None})),
    "cell": (("rnn", {"cell": "rnn"}), ("lstm", {"cell": "lstm"}), ("gru", {"cell": "gru"})),
    "output-activation": (("none", {"output_activation": "none"}), ("tanh", {"output_activation": "tanh"}),
                          ("sigmoid", {"output_activation": "sigmoid"})),
}
#: Fewer seeds leave no seed-to-seed spread to compare a change with.
MIN_SEEDS = 3
#: A change of the mean test MSE beyond this many standard deviations (seed to seed) is a change.
SPREADS = 2.0


# -- rnnx diagnose --model DIR --------------------------------------------------------------------
def diagnose_model(folder: str, *, csv: str | None, columns: dict | None, part: str, out: str | None,
                   overwrite: bool, probe_size: int, what: Any, backend: str | None, device: str | None) -> dict:
    """The profiles and gradient of the model in ``folder`` on a probe batch (its run's ``part``;
    a regression run's: every window of ``csv`` instead, part ``test``) into ``out`` (default
    ``folder/diagnose``): diagnostics.json and diagnostics.png; returns the summary printed.
    SIGINT/SIGTERM/SIGHUP: one line, exit 128 + N, saying which of the two were written (whole)."""
    from rnnx.cli.tasks import classification

    out = out if out is not None else os.path.join(folder, "diagnose")
    files = [os.path.join(out, n) for n in (run_diagnostics.FILE, run_diagnostics.FIGURE)]
    panel, part = classification.holds_run(folder), "test" if csv else part
    given = [k for k, v in (("csv", csv), *(columns or {}).items()) if v is not None]
    if panel and given:
        raise AppError(f"--{given[0].replace('_', '-')}: {folder!r} is a classification run; "
                       "its probe batch comes from its own cases (--part train|val|test)")
    runfolder.check_out(out)
    if os.path.isdir(out):  # never a file of a run, not even with --overwrite; an earlier diagnose's with it
        for f in files:
            runfolder.check_output("--out", f, overwrite=overwrite)
    runfolder.check_distinct([("--out", f) for f in files])
    with signals.stopping(outputs=files):
        with (_panel_batch(folder, part, backend, device) if panel else
              _series_batch(folder, csv, columns, part, backend, device)) as (title, s, target, model, params, batch):
            rec = run_diagnostics.recorder_for(what or ("all",), probe_size, run.setting(s, "seed"))
            try:
                rec.start(model, jit=target.capabilities.jit, loss_name=batch["loss"], **batch,
                          clip_value=run.setting(s, "clip_value"), clip_norm=run.setting(s, "clip_norm"))
            except ValueError as e:
                raise AppError(f"--{str(e).replace('_', '-', 1)}") from None
            epoch = run.kept(folder)  # the profile is numbered with the epochs of the run's checkpoint
            rec.record_epoch(epoch if isinstance(epoch, int) else 0, params)
            rec.record_gradient(params)
        rec.meta.update({"model_folder": os.path.abspath(folder), "part": part, "csv": csv})
        metrics: dict = {}
        with signals.writing():  # a first signal waits for both files (rnnx diagnose stops after them)
            os.makedirs(out, exist_ok=True)
            d = run_diagnostics.finish(rec, out, title, metrics)
    sm = metrics["diagnostics"]
    return {"probe_size": d["probe_size"], "part": part, "grad_norm": d["gradient"]["grad_norm"],
            "growth": sm.get("growth"), "flow_ratio": sm.get("flow_ratio"), "out": out}


@contextlib.contextmanager
def _series_batch(folder: str, csv: str | None, columns: dict | None, part: str, backend: str | None,
                  device: str | None) -> Iterator[tuple]:
    """A regression run's model and its probe windows (``part`` of its data, or of ``csv``): yields
    ``(title, settings, target, model, params, batch)`` (``batch``: the Recorder's probe data and
    loss).  A run that did not finish (no model file, a checkpoint: stopped by a signal or a
    non-finite loss): its last checkpoint, said in a note."""
    from rnnx.cli.tasks import regression

    model_file, ckpt = (os.path.join(folder, n) for n in (runfolder.MODEL, runfolder.CHECKPOINT))
    unfinished = not os.path.lexists(model_file) and os.path.isfile(ckpt) and not os.path.islink(ckpt)
    epoch = run.kept(folder) if unfinished else None
    if unfinished:
        print(f"rnnx diagnose: note: {folder} holds no {runfolder.MODEL} (the run did not finish); diagnosing its "
              f"last checkpoint (epoch {epoch})", file=sys.stderr)
    with regression.loaded_model(folder, backend, device, from_checkpoint=unfinished) as (meta, s, target, dtype,
                                                                                            model, params):
        p = regression.model_windows(folder, meta, s, csv, columns, target, dtype, model).parts[part]
        if p.n == 0:
            raise AppError(f"--part: the run's {part} part holds no windows; choose another part")
        what = f"last checkpoint (epoch {epoch}) of a run that did not finish" if unfinished else "trained model"
        yield (f"{s.name}: {model.cell.upper()} H={s.hidden}, {what}, {part} windows", s, target, model, params,
               dict(x=p.x, y=p.y, lengths=None, y_axis=p.y.ndim - 2, loss=s.loss,
                    n_name=f"{csv!r}" if csv else f"the {part} windows"))


@contextlib.contextmanager
def _panel_batch(folder: str, part: str, backend: str | None, device: str | None) -> Iterator[tuple]:
    """:func:`_series_batch` of a classification run: the probe batch from its own cases."""
    from rnnx.cli.tasks import classification, classification_predict
    from rnnx.training.sources import prepare

    with classification_predict.loaded(folder, backend, device, own_data=True) as (record, target, dtype, model,
                                                                                   params):
        cases = classification_predict.own_data(record).parts[part]
        if cases.n == 0:
            raise AppError(f"--part: the run's {part} part holds no cases; choose another part")
        b = prepare(model, *classification.part_arrays(target, cases, dtype), loss="cross-entropy")
        yield (f"{os.path.basename(os.path.abspath(folder))}: {model.cell.upper()}, trained model, {part} cases",
               record["settings"], target, model, params,
               dict(x=b.x, y=b.y, lengths=b.lengths, y_axis=b.y_axis, loss="cross-entropy", n_name=f"the {part} cases"))


# -- rnnx diagnose --compare ----------------------------------------------------------------------
def compare(study: str, base: TrainSettings, explicit: set[str], *, seeds: int, out: str | None, quiet: bool) -> dict:
    """Train ``base`` with each variant of ``study`` and ``seeds`` seeds (base.seed, +1, ...),
    every run with diagnostics, and write the table, figure and verdict into ``out``."""
    from rnnx.cli.tasks import regression as app

    clash = [k for k in VARIANTS[study][0][1] if k in explicit]  # the settings the study sets itself
    if clash:
        raise AppError(f"--compare {study}: sets --{clash[0].replace('_', '-')} itself (each variant); drop it")
    variants = VARIANTS[study]
    if study == "cell":  # options given that every cell has (--dropout, --bias) carry over; another is refused
        from rnnx.cli.settings import cells_with, defaults_of

        given = {k: v for k, v in base.model_options.items() if k in explicit}
        odd = sorted(k for k in given if set(cells_with(k)) < {"rnn", "lstm", "gru"})
        if odd:
            raise AppError(f"--compare cell: --{odd[0].replace('_', '-')} applies to --cell "
                           f"{', '.join(cells_with(odd[0]))} only; drop it")
        variants = tuple((label, {"cell": c["cell"], "model_options": {**defaults_of(c["cell"]), **given}})
                         for label, c in variants)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < MIN_SEEDS:
        raise AppError(f"--seeds: expected at least {MIN_SEEDS} (the verdict compares each change with the "
                       f"seed-to-seed spread), got {seeds!r}")
    if base.tbptt is not None:
        raise AppError("--compare: records every update's gradient, which --tbptt's per-window updates are not; "
                       "drop --tbptt")
    out = out if out is not None else os.path.join("runs", f"compare-{study}-{base.preset or 'csv'}")
    run.check_new(out, overwrite=False)
    plan = []
    for label, change in variants:
        for k in range(seeds):
            s = dataclasses.replace(base, **change, seed=base.seed + k, diagnostics=base.diagnostics or ("all",))
            check_settings(s)
            plan.append((label, s, os.path.join(out, _safe(label), f"seed{s.seed}")))
    runs: list[dict] = []
    files = [os.path.join(out, f"compare.{e}") for e in ("json", "csv", "png")]
    stop = {"inner": "", "written": "not written"}

    def report() -> str:  # how far the study got, for the line of a signal that stopped it
        done = [r["folder"] for r in runs if not r["failed"]]  # a finished run's train() returned
        inner = f"; the run in {plan[len(runs)][2]}: {stop['inner']}" if stop["inner"] else ""
        return f"{len(done)} of {len(plan)} runs finished: {', '.join(done) or 'none'}{inner}; " \
            f"{', '.join(files)} {stop['written']}"

    # SIGINT/SIGTERM/SIGHUP stop the study between its inner runs (an inner run answers them as rnnx train does,
    # and its signal is the study's too): one line naming the runs that finished, exit 128 + N
    with signals.stopping(report=report) as sig:
        for label, s, folder in plan:
            sig.check()
            try:
                runs.append(_one(app, s, folder, label, quiet))
            except AppError as e:
                if sig.pending is None:
                    raise
                stop["inner"] = str(e).split("; ", 1)[-1]  # that run stopped: where its state is and how to go on
                raise signals.Forced(sig.pending) from None
        sig.check()
        table = _table(study, runs)
        verdict = _verdict(study, table)
        result = {"study": study, "seeds": seeds, "settings": base.to_json(), "variants": table, "verdict": verdict,
                  "runs": [{k: v for k, v in r.items() if k != "diagnostics"} for r in runs]}
        with sig.writing():  # the three files of the study: a first signal waits for them
            atomic.write_text(files[0], run.json_text(result))
            atomic.write_text(files[1], run.history_csv(table, end="\n"))
            _figure(study, runs, table, verdict, files[2], base)
            stop["written"] = "written whole"
    return {**result, "out": out}


def _safe(label: str) -> str:
    return label.replace("=", "-")


def _one(app, s: TrainSettings, folder: str, label: str, quiet: bool) -> dict:
    """One run of the study: its metrics and diagnostics (a run that went non-finite: its
    diagnostics up to the update that did, test MSE None)."""
    failed = None
    try:
        m = app.train(s, out=folder, quiet=True)
    except AppError as e:
        if e.code != 3:  # not "the loss became non-finite"
            raise
        m, failed = {}, str(e)
    if not quiet:
        print(f"rnnx diagnose: {label} seed {s.seed}: test MSE {m.get('test_mse', float('nan')):.4g}"
              + (f" (failed: {failed})" if failed else ""), flush=True)
    from rnnx.diagnostics import recorder

    d = run_diagnostics.read(folder) or {"updates": [], "epochs": []}
    return {"variant": label, "seed": s.seed, "folder": folder, "test_mse": m.get("test_mse"),
            "persistence_test_mse": m.get("persistence_test_mse"), "failed": failed,
            "summary": recorder.summary(d), "diagnostics": d}


def _table(study: str, runs: list[dict]) -> list[dict]:
    out = []
    for label, _ in VARIANTS[study]:
        rs = [r for r in runs if r["variant"] == label]
        sm = [r["summary"] for r in rs]
        mses = [r["test_mse"] for r in rs if r["test_mse"] is not None and math.isfinite(r["test_mse"])]
        growth, maxes, meds = ([x[k] for x in sm if x.get(k) is not None]
                               for k in ("growth", "grad_norm_max", "grad_norm_median"))
        out.append({
            "variant": label, "seeds": len(rs),
            "grad_norm_max": max(maxes) if maxes else None,
            "grad_norm_median": statistics.median(meds) if meds else None,
            "clipped": sum(x["clipped"] for x in sm), "updates": sum(x["updates"] for x in sm),
            "exploded_runs": sum(1 for r, x in zip(rs, sm) if x["exploded"] or r["failed"]),
            "growth": statistics.fmean(growth) if growth else None,
            "test_mse_mean": statistics.fmean(mses) if mses else None,
            "test_mse_std": statistics.stdev(mses) if len(mses) > 1 else None,
            "failed_runs": sum(1 for r in rs if r["failed"]),
        })
    return out


def _verdict(study: str, table: list[dict]) -> str:
    """One line from the numbers: did any gradient explode; did the variants change the test
    MSE beyond the seed-to-seed spread (SPREADS standard deviations)."""
    boom = [f"{t['variant']} ({t['exploded_runs']}/{t['seeds']} runs)" for t in table if t["exploded_runs"]]
    part1 = ("gradients exploded (an update above 1e3 x the run's median norm, or non-finite) with: " + ", ".join(boom)
             if boom else "no gradient exploded (no update above 1e3 x its run's median norm, none non-finite)")
    base = table[0]
    changed, same = [], []
    for t in table[1:]:
        if base["test_mse_mean"] is None or t["test_mse_mean"] is None:
            changed.append(f"{t['variant']} (a run failed)")
            continue
        spread = max(base["test_mse_std"] or 0.0, t["test_mse_std"] or 0.0)
        d = t["test_mse_mean"] - base["test_mse_mean"]
        (changed if abs(d) > SPREADS * spread else same).append(
            f"{t['variant']} {t['test_mse_mean']:.4g} vs {base['test_mse_mean']:.4g} (spread {spread:.2g})")
    what = {"clip": "clipping", "cell": "the cell", "output-activation": "the output activation"}[study]
    return (f"{part1}; {what} {'changed' if changed else 'did not change'} the test MSE beyond the seed-to-seed "
            f"spread ({SPREADS:g} sd) against {base['variant']}" + (": " + "; ".join(changed) if changed else ""))


#: How each trace of compare.png is drawn (linestyle, marker): overlapping traces stay apart.
_LOOKS = (("-", "None"), ("--", "o"), (":", "s"), ("-.", "^"), ("--", "v"), (":", "D"), ("-.", "x"), ("-", "+"))


def _same(a: list[float], b: list[float]) -> bool:
    """Two gradient-norm traces that coincide (to 1e-9 relative, NaN matching NaN)."""
    return len(a) == len(b) and all((math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=1e-9)
                                    for x, y in zip(a, b))


def _figure(study: str, runs: list[dict], table: list[dict], verdict: str, path: str, base: TrainSettings) -> None:
    """Left: each variant's pre-clip gradient norm per update (first seed), log axis, each
    drawn its own way (linestyle, sparse markers at staggered updates) and a trace that
    coincides with an earlier one labelled ``(identical to X)``; right: each run's test MSE
    per variant, the mean marked, in the variant's colour."""
    from rnnx.diagnostics.plots import plottable, pyplot, save

    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(13, 5), layout="constrained")
    labels = [t["variant"] for t in table]
    drawn: list[tuple[str, list[float]]] = []
    for i, label in enumerate(labels):
        r = next(r for r in runs if r["variant"] == label)
        ups = r["diagnostics"]["updates"]
        if ups:
            ys = plottable([u["grad_norm"] if u["grad_norm"] is not None else float("inf") for u in ups])
            twin = next((other for other, seen in drawn if _same(ys, seen)), None)
            drawn.append((label, ys))
            ls, marker = _LOOKS[i % len(_LOOKS)]
            step = max(1, len(ys) // 12)
            a.semilogy([u["update"] for u in ups], ys, lw=0.9, color=f"C{i}", ls=ls, marker=marker, ms=5,
                       markevery=((i * step) // len(labels) % step, step), fillstyle="none",
                       label=label if twin is None else f"{label} (identical to {twin})")
    a.set_xlabel("update")
    a.set_ylabel("global gradient norm before clipping")
    a.set_title(f"seed {base.seed}")
    a.grid(True, which="both", alpha=0.3)
    a.legend()
    for i, label in enumerate(labels):
        ys = [r["test_mse"] for r in runs if r["variant"] == label and r["test_mse"] is not None]
        b.plot([i] * len(ys), ys, "o", color=f"C{i}", alpha=0.6)
        t = table[i]
        if t["test_mse_mean"] is not None:
            b.plot([i - 0.25, i + 0.25], [t["test_mse_mean"]] * 2, "k-", lw=2)
    b.set_xticks(range(len(labels)), labels)
    b.set_ylabel("test MSE (each seed; bar: mean)")
    b.grid(True, alpha=0.3)
    b.set_title(f"--compare {study}, {len(runs) // len(labels)} seeds")
    fig.suptitle(verdict.replace("; ", "\n"), fontsize=9)
    save(plt, fig, path, dpi=100)
