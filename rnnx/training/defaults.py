"""The one table of training defaults, per task, that ``rnnx train`` and the estimators read.

    from rnnx.training.defaults import DEFAULTS
    DEFAULTS["classification"].hidden   # 64: rnnx train --uea/--ts/--npz and RNNClassifier()

One row per kind of run:

- ``regression``: windows of a table or series (``rnnx train --csv/--preset``,
  :class:`rnnx.RNNRegressor`);
- ``classification``: labelled panels (``rnnx train --uea/--ts/--npz``,
  :class:`rnnx.RNNClassifier`);
- ``text``: a character model on a text stream (``rnnx train --text``).

Where each is read: :class:`rnnx.cli.settings.TrainSettings`' field defaults (regression),
``rnnx.cli.tasks.classification.DEFAULTS`` (classification), ``rnnx.cli.tasks.text.DEFAULTS`` (text), and
the estimators' ``__init__`` defaults; ``tests/test_defaults.py`` asserts that every one of
them is this table's, so they cannot drift apart again.  Each row says *why* in ``why``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["Defaults", "DEFAULTS", "REGRESSION", "CLASSIFICATION", "TEXT"]


@dataclass(frozen=True)
class Defaults:
    """The training defaults of one kind of run.

    - ``cell``, ``hidden``, ``layers``: the model;
    - ``epochs`` (at most), ``batch_size`` (for ``text``: the streams read in parallel),
      ``optimizer``, ``lr`` (None: the optimizer's own default);
    - ``split``: train,val,test fractions when no test data is given apart;
      ``validation``: the share of the training data that validates when it is
      (``--split`` train,val of a TRAIN file with its TEST file; an estimator's
      ``validation_fraction``: it is never given test data);
    - ``patience``: early stopping on the validation loss after this many epochs without
      improvement (None: off); ``min_epochs``: epochs trained before it may stop a run
      (Keras's ``start_from_epoch``; 0: from the first);
    - ``clip_norm``, ``clip_value``: gradient clipping (None: off);
    - ``why``: where the numbers come from.
    """

    task: str
    cell: str
    hidden: int
    layers: int
    epochs: int
    batch_size: int
    optimizer: str
    lr: float | None
    split: tuple[float, ...]
    validation: float
    patience: int | None
    min_epochs: int
    clip_norm: float | None
    clip_value: float | None
    why: str

    def as_dict(self) -> dict:
        return asdict(self)


#: Windows of a table or series.  The numbers README's first command and its measured MSE
#: rest on (``rnnx train --preset ...``): unchanged.
REGRESSION = Defaults(
    task="regression", cell="lstm", hidden=32, layers=1, epochs=100, batch_size=32, optimizer="adam", lr=1e-3,
    split=(0.7, 0.15, 0.15), validation=0.15, patience=None, min_epochs=0, clip_norm=None, clip_value=None,
    why="rnnx train --csv/--preset since issue 1: README's first command and its measured MSE depend on them; "
        "the best validation epoch is kept (no early stopping)")

#: Labelled panels.  GRU(64) with a stratified validation part: docs/real-data.md (UEA/UCR
#: datasets against torch at the same settings).
CLASSIFICATION = Defaults(
    task="classification", cell="gru", hidden=64, layers=1, epochs=300, batch_size=32, optimizer="adam", lr=3e-3,
    split=(0.7, 0.15, 0.15), validation=0.2, patience=30, min_epochs=100, clip_norm=1.0, clip_value=None,
    why="docs/real-data.md: GRU(64) beats LSTM on BasicMotions and ItalyPowerDemand; a stratified 20% validation "
        "part, early stopping on its loss, never before epoch 100 (2b: GunPoint 57.8% -> 83.3%, the three other "
        "datasets equal or better)")

#: A character model (Karpathy's min-char-rnn: RNN(100), Adagrad, 25 characters per update,
#: clipping at 5); 90% of the text trains, the rest validates.
TEXT = Defaults(
    task="text", cell="rnn", hidden=100, layers=1, epochs=1, batch_size=1, optimizer="adagrad", lr=None,
    split=(0.9, 0.1), validation=0.1, patience=None, min_epochs=0, clip_norm=None, clip_value=5.0,
    why="min-char-rnn's settings (RNN(100), Adagrad lr 0.1, seq 25, clip 5), one pass over the text")

#: Every row, by task.
DEFAULTS: dict[str, Defaults] = {d.task: d for d in (REGRESSION, CLASSIFICATION, TEXT)}
