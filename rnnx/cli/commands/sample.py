"""``rnnx sample --model DIR``: text drawn from a character model that ``rnnx train --text``
wrote (``DIR/model.npz`` and ``DIR/text.json``): the prime, then ``--length`` drawn
characters, printed to stdout.

The prime (default: the training text's first character) sets the state; then each
character is drawn from ``softmax(logits / temperature)`` with a seeded generator
(:func:`rnnx.text.sample`): the same flags print the same text.  Every bad input is one
line: a usage error (unknown folder, not a text run, a prime character outside the
vocabulary, ``--temperature`` <= 0, ``--length`` < 0: :func:`rnnx.text.sample`'s checks) exits 2, a damaged run file 1.
"""

from __future__ import annotations

import argparse
import json
import os

from rnnx.cli.commands import number

#: The most characters one ``rnnx sample`` draws (each is one forward step and a host read).
MAX_LENGTH = 1_000_000
#: The most bytes of a run's ``text.json`` read (its vocabulary and the text's record: far less).
MAX_TEXT_RECORD = 16 * 2**20


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="DIR", help="a run folder written by rnnx train --text")
    p.add_argument("--length", type=int, default=200, help="characters to draw (default 200)")
    p.add_argument("--temperature", type=number, default=1.0, help="> 0: below 1 more likely characters, above "
                   "1 more varied ones (default 1)")
    p.add_argument("--prime", help="text read before sampling (default: the training text's first character)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")


def _record(folder: str) -> dict:
    """The run's ``text.json``, checked: missing folder or file exit 2, a damaged one 1."""
    from rnnx.cli.errors import AppError
    from rnnx.cli.runfolder import resume_command
    from rnnx.cli.tasks.text import TEXT_FILE, holds_run

    if not os.path.isdir(folder):
        raise AppError(f"--model: {folder!r} is not a folder; expected a run folder written by rnnx train --text")
    path = os.path.join(folder, TEXT_FILE)
    if not os.path.lexists(path):  # anything else there: the reader below names what it is
        if os.path.lexists(os.path.join(folder, "checkpoint.npz")) and holds_run(folder):
            raise AppError(f"--model: {folder!r} holds a character model's run that has not finished (no {TEXT_FILE} "
                           f"yet); finish it with: {resume_command(folder)}")
        raise AppError(f"--model: {folder!r} holds no {TEXT_FILE}: not a character model's run (rnnx train --text "
                       "writes one)")
    from rnnx.io.inputs import NotARegularFile, open_regular

    try:
        with open_regular(path, nofollow=True) as f:  # a run's file: never through a link, a FIFO or a device
            raw = f.read(MAX_TEXT_RECORD + 1)
        if len(raw) > MAX_TEXT_RECORD:
            raise AppError(f"--model: {path!r} is larger than {MAX_TEXT_RECORD} bytes; expected a run's text record",
                           code=1)
        rec = json.loads(raw.decode("utf-8"))
    except NotARegularFile as e:
        raise AppError(f"--model: {path!r} {e.strerror}", code=1) from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise AppError(f"--model: {path!r} cannot be read as JSON ({e})", code=1) from None
    if not isinstance(rec, dict) or rec.get("kind") != "rnnx-text" or not isinstance(rec.get("vocabulary"), str) \
            or not isinstance(rec.get("first"), str) or not isinstance(rec.get("dtype"), str):
        raise AppError(f"--model: {path!r} is not an rnnx text record (kind 'rnnx-text' with vocabulary, first, "
                       "dtype)", code=1)
    return rec


def _loaded(folder: str, rec: dict):
    """``(model, params, vocabulary)`` of the run, on NumPy in the run's dtype."""
    import numpy as np

    import rnnx
    from rnnx import text as T
    from rnnx.cli.errors import AppError, under_flag

    path = os.path.join(folder, "model.npz")
    try:
        vocab = T.Vocabulary(tuple(rec["vocabulary"]))
    except ValueError as e:
        raise AppError(f"--model: {os.path.join(folder, 'text.json')!r}: {e}", code=1) from None
    if not os.path.lexists(path):  # anything else there: rnnx.load names what it is
        from rnnx.cli.runfolder import resume_command

        how = f"finish it with: {resume_command(folder)}" if os.path.isfile(os.path.join(folder, "checkpoint.npz")) \
            else "train it again"
        raise AppError(f"--model: {folder!r} holds no model.npz (a text run stopped before its end: {how})", code=1)
    try:
        model, params = rnnx.load(path, xp=np, dtype=np.float32 if rec["dtype"] == "float32" else np.float64,
                                  nofollow=True)  # a run's file: never through a link
    except rnnx.io.files.FileFormatError as e:
        raise AppError(under_flag("--model", str(e), "load"), code=1) from None
    sizes = (getattr(getattr(model, "layer", None), "input_size", None), getattr(model, "output_size", None))
    if sizes != (vocab.size, vocab.size) or getattr(model, "objective", None) != "many-to-many":
        raise AppError(f"--model: {path!r} is not a character model of the {vocab.size} characters of its text.json "
                       f"(input and output sizes {sizes[0]}, {sizes[1]})", code=1)
    return model, params, vocab


def run(args: argparse.Namespace) -> int:
    from rnnx import text as T
    from rnnx.cli import signals
    from rnnx.cli.errors import AppError, for_cli

    if not 0 <= args.length <= MAX_LENGTH:  # the rest is rnnx.text.sample's to check
        raise AppError(f"--length: expected 0 to {MAX_LENGTH:,} characters, got {args.length}")
    with signals.stopping(report=lambda: "nothing was printed"):  # SIGINT/SIGTERM/SIGHUP: one line, exit 128 + N
        rec = _record(args.model)
        model, params, vocab = _loaded(args.model, rec)
        if args.prime is None and (len(rec["first"]) != 1 or rec["first"] not in vocab.chars):
            first = rec["first"] if len(rec["first"]) <= 20 else rec["first"][:20] + "..."
            raise AppError(f"--model: {os.path.join(args.model, 'text.json')!r} holds first {first!r}, expected one "
                           "character of its vocabulary (the file was edited by hand?); restore it, or give --prime "
                           "TEXT", code=1)
        prime = rec["first"] if args.prime is None else args.prime
        try:
            text = T.sample(model, params, vocab, prime=prime, length=args.length, temperature=args.temperature,
                            seed=args.seed)
        except ValueError as e:
            raise AppError(for_cli(str(e), ("--prime", "--length", "--temperature", "--seed"))) from None
    print(prime + text)
    return 0
