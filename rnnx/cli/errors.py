"""How the CLI reports a failure: one line on stderr, a non-zero exit.

The library's errors name its parameters (``lr: expected ...``, ``window: ...``); the CLI
says which flag the user gave for that parameter.  :data:`FLAGS` is the one table of that
mapping; a message is rewritten only when the command at hand has the flag.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence


class AppError(Exception):
    """A failure to report as one line on stderr; ``code`` is the exit status (2: usage,
    1: a runtime failure, 3: training diverged, 128+N: stopped by signal N).  Its message
    is already worded for the command line (it names flags).  ``label`` goes between the
    command and the message (``rnnx train: error: ...``); None for a stop the user asked
    for (``rnnx train: stopped by SIGTERM; ...``)."""

    def __init__(self, message: str, code: int = 2, label: str | None = "error") -> None:
        super().__init__(message)
        self.code, self.label = code, label


#: Library parameter -> the flag that sets it, where it is not ``--`` and the parameter's name
#: with - for _ (``lr`` -> ``--lr``, ``batch_size`` -> ``--batch-size``, a cell option): rnnx.Model's.
FLAGS: dict[str, str] = {"hidden_size": "--hidden", "num_layers": "--layers"}


def did_you_mean(what: str, given: str, names: Sequence[str], *, quote: bool = False,
                 otherwise: str | None = None) -> str:
    """``unknown <what> 'given'; did you mean 'name'?``: the nearest of ``names`` by
    :func:`difflib.get_close_matches` (as pip's ``get_similar_commands``); none near enough:
    ``otherwise``, or the list of ``names``.  ``what`` ``argument``: ``unrecognized argument
    --flag`` (argparse's wording)."""
    import difflib

    show = repr if quote else str
    head = f"unrecognized argument {given}" if what == "argument" else f"unknown {what} {show(given)}"
    near = difflib.get_close_matches(given, names, n=1)
    if near:
        return f"{head}; did you mean {show(near[0])}?"
    return f"{head}; {otherwise or 'expected one of ' + ', '.join(names)}"


def os_error(e: OSError) -> str:
    """``'<path>': <reason> (<errno name>)``: an OS error as the one line the user sees."""
    import errno

    name = errno.errorcode.get(e.errno, "") if e.errno else ""
    where = f"{e.filename!r}: " if e.filename else ""
    return f"{where}{e.strerror or e}" + (f" ({name})" if name else "")


_PARAM = re.compile(r"([A-Za-z_][A-Za-z0-9_]*): ")
_NAME = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*): ")  # a parameter, or a flag's name without its --


def flag_for(param: str) -> str:
    """The flag of a library parameter (a cell option not in the table: ``--`` + its name)."""
    return FLAGS.get(param, "--" + param.replace("_", "-"))


def under_flag(flag: str, message: str, *also: str) -> str:
    """``<flag>: <message>``, the one prefix: the message's own leading ``<name>: `` is dropped
    when it is that flag's parameter (``backend: unknown ...`` under ``--backend``) or one of
    ``also`` (another name the library gives the same value: ``RNNX_BACKENDS``, ``load``)."""
    m = _NAME.match(message)
    if m and (flag_for(m[1]) == flag or m[1] in also):
        message = message[m.end():]
    return f"{flag}: {message}"


def for_cli(message: str, options: Collection[str]) -> str:
    """``<param>: ...`` -> ``<flag>: ...`` when ``<flag>`` is one of ``options`` (the
    command's option strings); any other message as it is."""
    m = _PARAM.match(message)
    return under_flag(flag_for(m[1]), message) if m and flag_for(m[1]) in options else message
