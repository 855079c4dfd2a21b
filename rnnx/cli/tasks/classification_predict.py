"""``rnnx predict --model DIR`` on a classification run (:mod:`rnnx.cli.tasks.classification`): the
run's own test cases (read only after their SHA-256 matches the run's record) or new ones
from ``--npz FILE`` / ``--ts FILE`` (labelled or not), standardised with the run's stored
mean and std; writes ``predictions.csv`` (one row per case, or per case and step: case,
step, length, true, predicted, one ``p_<class>`` probability per class) and returns the
JSON summary.  (An I/O module: NumPy is imported inside the functions.)
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from rnnx.cli import runfolder
from rnnx.cli.errors import AppError
from rnnx.cli.tasks.classification import CLASSES_FILE, Cases, panel_error, part_arrays, read_data, scaled_cases
from rnnx.cli.tasks.classification_resume import read_record, stored_args

__all__ = ["predict_panel"]


def _new_cases(path: str, flag: str, record: dict) -> Cases:
    """The cases of ``--npz``/``--ts`` FILE with class codes of the run's classes: the run's
    number of features, labels of its kind (per sequence or per step), only its classes;
    or unlabelled (an ``.npz`` without ``y``, a ``.ts`` file of ``@classLabel false``):
    ``y`` None, and a per-step run labels every step within each length (``lengths``,
    else all T steps)."""
    import numpy as np

    from rnnx.data import panel
    from rnnx.data import DataError

    try:
        p = (panel.load_npz if flag == "npz" else panel.load_ts)(path, labels="optional")
    except DataError as e:
        raise panel_error(e, flag) from None
    n_in, want = int(p.x.shape[2]), record["labels"]
    if n_in != record["input_size"]:
        raise AppError(f"--{flag}: {path!r} has {n_in} features per step, the run's model reads "
                       f"{record['input_size']}; expected the same features")
    if p.y is None:
        return Cases(p.x, p.lengths, None)
    kind = "per-step" if np.ndim(p.y) == 2 else "per-sequence"
    if kind != want:
        raise AppError(f"--{flag}: {path!r} has labels {kind} (y of shape {tuple(np.shape(p.y))}), the run labels "
                       f"{want}; expected y of shape {'(N, T)' if want == 'per-step' else '(N,)'}")
    index = {str(c): k for k, c in enumerate(record["classes"])}
    valid = np.arange(p.x.shape[1])[None, :] < p.lengths[:, None]
    labels = np.asarray(p.y)
    seen = labels[valid] if kind == "per-step" else labels
    unseen = [v for v in seen.tolist() if str(v) not in index]
    if unseen:
        raise AppError(f"--{flag}: class {unseen[0]!r} of {path!r} is not among the run's classes "
                       f"({', '.join(map(repr, record['classes']))}); expected only classes it was trained on")
    codes = np.vectorize(lambda v: index.get(str(v), 0), otypes=[np.int64])(labels.astype(object))
    return Cases(p.x, p.lengths, np.where(valid, codes, 0) if kind == "per-step" else codes)


def _probabilities(target, model, params: dict, p: Cases, dtype: str) -> Any:
    """The softmax of the logits on the host, float64: (N, C) or (N, T, C)."""
    import numpy as np

    from rnnx.training import engine

    x, _, lengths = part_arrays(target, p, dtype)
    z = np.asarray(target.to_numpy(engine.predict(model, params, x, lengths=lengths)), dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _predictions_csv(p: Cases, rows: list[int], prob: Any, classes: list, per_step: bool) -> tuple[str, int, int]:
    """(the CSV text, the rows written, those right): a row per case (per valid step of it
    with per-step labels): its row in its file, [step,] length, true and predicted class,
    one probability per class.  Unlabelled cases (``p.y`` None): the same columns, ``true``
    empty, none counted right."""
    import numpy as np

    from rnnx.cli import run

    pred = np.argmax(prob, axis=-1)
    at = [(i, t) if per_step else (i,) for i in range(p.n) for t in (range(int(p.lengths[i])) if per_step else (0,))]
    truth = [None if p.y is None else int(p.y[a]) for a in at]
    text = run.csv_text(["case", *(["step"] if per_step else []), "length", "true", "predicted",
                         *(f"p_{c}" for c in classes)],
                        ([rows[a[0]], *a[1:], int(p.lengths[a[0]]), "" if y is None else classes[y],
                          classes[int(pred[a])], *(float(v) for v in prob[a])] for a, y in zip(at, truth)))
    return text, len(at), sum(y == int(pred[a]) for a, y in zip(at, truth))


@contextlib.contextmanager
def loaded(folder: str, backend: str | None, device: str | None, *, own_data: bool):
    """The model of a classification run (:func:`rnnx.cli.run.stored_model`): yields ``(record,
    target, dtype, model, params)``; the record, the model file and the parameters checked
    (``own_data``: the run's data files must still be there unchanged)."""
    import rnnx
    from rnnx.cli import run
    from rnnx.io import checkpoint

    record = read_record(folder, "--model", own_data=own_data)
    path = os.path.join(folder, runfolder.MODEL)
    if not os.path.lexists(path):  # anything else there: the reader names what it is
        raise AppError(f"--model: {folder!r} holds no {runfolder.MODEL} yet (the run has not finished); finish it "
                       f"with: {runfolder.resume_command(folder)}")

    def restore(target, dtype: str) -> tuple:
        xp = target.namespace()
        try:
            model, params = rnnx.load(path, xp=xp, dtype=getattr(xp, dtype), device=target.device_obj(),
                                      nofollow=True)  # a run's file: never through a link
        except checkpoint.CheckpointError as e:
            raise AppError(str(e)) from None
        classes, per_step = record["classes"], record["labels"] == "per-step"
        if (getattr(model, "output_size", None) != len(classes) or model.layer.input_size != record["input_size"]
                or (model.objective == "many-to-many") != per_step):
            held = (f"a {model.objective} model of {model.layer.input_size} feature(s) and {model.output_size} "
                    "outputs" if hasattr(model, "output_size") else f"a {type(model).__name__} without an output head")
            raise AppError(f"--model: {path!r} holds {held}, its {CLASSES_FILE} {len(classes)} classes "
                           f"{record['labels']} of {record['input_size']} feature(s); expected the run's own model")
        return model, params
    with run.stored_model(path, record["settings"], record["settings"]["dtype"], restore, backend, device) as got:
        yield record, *got


def own_data(record: dict):
    """The run's own cases (train, val, test parts), standardised as it was trained."""
    std = record["standardisation"]
    flag, ns = stored_args(record)
    return read_data(ns, flag, record["settings"]["seed"], record["data"], option="--model",
                 stats=(std["mean"], std["std"]))


def predict_panel(folder: str, *, npz: str | None = None, ts: str | None = None, out: str | None = None,
                  backend: str | None = None, device: str | None = None, overwrite: bool = False) -> dict:
    """``rnnx predict --model DIR`` of a classification run: the class probabilities of the
    run's own test cases (its data read again only once the files' SHA-256 match its
    record), or of the cases of ``npz``/``ts`` (standardised with the run's mean and std,
    its number of features; unlabelled cases too: ``.npz`` without ``y``, ``.ts`` of
    ``@classLabel false``); ``predictions.csv`` (``out``, never a file of the run; ``true``
    empty for unlabelled cases) and the summary: cases, accuracy (None for unlabelled
    cases), where the cases came from, the file written."""
    from rnnx.cli import run
    from rnnx.io import atomic

    if npz is not None and ts is not None:
        raise AppError("--ts: give the new cases in one file, --npz FILE or --ts FILE; got both")
    with loaded(folder, backend, device, own_data=npz is None and ts is None) as (record, target, dtype, model,
                                                                                   params):
        classes, per_step = record["classes"], record["labels"] == "per-step"
        out = run.out_file(folder, out, "predictions.csv", overwrite=overwrite)
        std = record["standardisation"]
        if npz is None and ts is None:
            data = own_data(record)
            cases, rows, source = data.parts["test"], data.test_rows, "the run's test cases"
        else:
            import numpy as np

            flag, file = ("npz", npz) if npz is not None else ("ts", ts)
            mean, sd = (np.asarray(std[k], dtype=np.float64) for k in ("mean", "std"))
            cases = scaled_cases(_new_cases(file, flag, record), mean, sd)
            rows, source = list(range(cases.n)), os.path.abspath(file)
        prob = _probabilities(target, model, params, cases, dtype)
    text, counted, right = _predictions_csv(cases, rows, prob, classes, per_step)
    with run.writing_into(folder, out):
        atomic.write_text(out, text)
    accuracy = None if cases.y is None else right / counted
    return {"cases": cases.n, **({"steps": counted} if per_step else {}), "accuracy": accuracy,
            "labels": record["labels"], "classes": classes, "data": source, "out": out}
