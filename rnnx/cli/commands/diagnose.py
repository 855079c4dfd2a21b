"""``rnnx diagnose``: the gradient diagnostics of a trained model (``--model DIR``), or a study
that trains one model with each variant of clipping, cell or output activation from the
same seeds and says whether gradients exploded and whether the variant changed the test
metric beyond the seed-to-seed spread (``--compare``).  rnnx/cli/diagnose_app.py does it."""

from __future__ import annotations

import argparse
import json

from rnnx.cli.errors import AppError

#: Flags of ``rnnx train`` that ``diagnose`` never takes (refused when given), left out of its help.
_NOT_HERE = ("coordinator", "num_processes", "process_id", "coordinator_timeout")
#: What ``--model`` reads; any other flag given with it is refused.
_MODEL_FLAGS = {"command", "model", "csv", "column", "targets", "inputs", "time_column", "missing", "part", "out", "overwrite", "probe_size", "diagnostics",
                "backend", "device"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    from rnnx.cli import table
    from rnnx.cli.diagnose_app import MIN_SEEDS, VARIANTS

    g = p.add_argument_group("what to diagnose (one of)")
    g.add_argument("--model", metavar="DIR", help="a run folder written by rnnx train (regression or classification): its model's "
                   "gradient flow, Jacobian profile, gate saturation and gradient on a probe batch, into "
                   "OUT/diagnostics.json and diagnostics.png (OUT default DIR/diagnose)")
    g.add_argument("--compare", choices=list(VARIANTS), help="train the model of the training flags below with "
                   "each variant (clip: none, norm 0.1/1/10, value 0.1/1; cell: rnn/lstm/gru; output-activation: "
                   "none/tanh/sigmoid) and --seeds seeds, every run with --diagnostics, a run folder each under "
                   "--out (default runs/compare-<study>-<preset>); then compare.csv/json/png and a verdict")
    g.add_argument("--seeds", type=int, help=f"with --compare: seeds per variant (>= {MIN_SEEDS}, "
                   f"default {MIN_SEEDS}): --seed, --seed+1, ...")
    g.add_argument("--part", choices=["train", "val", "test"], help="with --model: the part of the run's data "
                   "the probe batch is taken from (default train; with --csv every window of it)")
    # the flags of a regression run (--compare trains them) and --csv/--column/--out/--probe-size/--diagnostics;
    # another task's, --resume and the multi-process ones are parsed (to be refused, naming why), not shown
    table.add_arguments(p, tasks=("regression",), hide=(*table.RESUME_ONLY, *_NOT_HERE))


def run(args: argparse.Namespace) -> int:
    from rnnx.cli import diagnose_app

    here = next((k for k in _NOT_HERE if getattr(args, k) is not None), None)
    if here is not None:  # accepted by train's parser, never used here: refused, not ignored
        raise AppError(f"--{here.replace('_', '-')}: rnnx diagnose runs in this process (a multi-process run is "
                       "rnnx train's); drop it")
    if (args.model is None) == (args.compare is None):
        raise AppError("diagnose: give one of --model DIR (a trained model) or --compare STUDY (train and compare)")
    if args.model is not None:
        from rnnx.cli import table
        from rnnx.cli.commands import columns_of

        extra = [k for k in table.given(args) if k not in _MODEL_FLAGS]
        if extra:
            raise AppError(f"--{extra[0].replace('_', '-')}: applies to --compare (the runs it trains), not to --model")

        r = diagnose_app.diagnose_model(args.model, csv=args.csv, columns=columns_of(args), part=args.part or "train",
                                        out=args.out, overwrite=args.overwrite, probe_size=args.probe_size or 32,
                                        what=args.diagnostics, backend=args.backend, device=args.device)
        print(json.dumps(r))
        return 0
    r = _compare(args, diagnose_app)
    for t in r["variants"]:
        def f(v):
            return "-" if v is None else f"{v:.4g}"

        print(f"{t['variant']:>10}  test MSE {f(t['test_mse_mean'])} +- {f(t['test_mse_std'])}  "
              f"grad norm max {f(t['grad_norm_max'])} median {f(t['grad_norm_median'])}  "
              f"clipped {t['clipped']}/{t['updates']}  exploded runs {t['exploded_runs']}/{t['seeds']}  "
              f"growth/step {f(t['growth'])}")
    print(f"rnnx diagnose: {r['verdict']}; wrote {r['out']}")
    return 0


def _compare(args: argparse.Namespace, diagnose_app) -> dict:
    from rnnx.cli import table
    from rnnx.cli.settings import UNSET, resolve

    others = frozenset(table.FLAGS) - table.used("regression") - set(table.RESUME_ONLY)  # other tasks' flags

    for k in ("resume", "part", *sorted(others)):
        if getattr(args, k, None) not in (None, False):
            why = ("trains new runs" if k == "resume" else "applies to --model" if k == "part"
                   else "--compare studies regression runs (--preset or --csv)")
            raise AppError(f"--{k.replace('_', '-')}: {why}; drop it with --compare")
    if args.overwrite or args.allow_changed_data:
        raise AppError(f"--{'overwrite' if args.overwrite else 'allow-changed-data'}: --compare writes new run "
                       "folders only (into an --out that is missing or empty)")
    given = {k: v for k, v in vars(args).items() if k in table.used("regression") and k not in table.NOT_SETTINGS}
    base = resolve(given, tuple(k for k, flag in UNSET.items() if getattr(args, flag)))  # --no-clip ...
    explicit = {k for k, v in given.items() if v is not None}
    if args.no_clip:
        explicit.add("clip_norm")
    seeds = diagnose_app.MIN_SEEDS if args.seeds is None else args.seeds
    return diagnose_app.compare(args.compare, base, explicit, seeds=seeds, out=args.out, quiet=args.quiet)
