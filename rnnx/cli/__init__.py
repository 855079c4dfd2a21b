"""The ``rnnx`` command line: :func:`main`.  The commands are the table
:data:`rnnx.cli.commands.COMMANDS` (one module each, imported only for the command that
runs).  Errors go to stderr as one line with a non-zero exit: an :class:`AppError` as it
is, a library error (ValueError/TypeError naming a parameter) with the parameter's flag
(:func:`rnnx.cli.errors.for_cli`), a bug as ``internal error`` (``RNNX_DEBUG=1`` raises it).
A typo'd command or flag gets the nearest name (:func:`rnnx.cli.errors.did_you_mean`, after
argparse's own abbreviations), one line with exit 2; ``rnnx --version`` prints the version.
glibc's malloc is tuned (:func:`tune_memory`) once a command knows the backend it runs on,
and only for a backend it helps.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from rnnx.cli.commands import COMMANDS, command_module
from rnnx.cli.errors import AppError, did_you_mean, flag_for, for_cli, os_error

__all__ = ["AppError", "main", "tune_memory", "UNTUNED_BACKENDS"]

#: Backends whose runs keep glibc's malloc at its defaults.  JAX: ``mallopt(M_ARENA_MAX, 1)``
#: puts XLA's worker threads on the main thread's arena lock, which costs the weather
#: windows' epoch (LSTM(4 -> 50), batch 64, T = 14) about 1.5 ms of 24 (min of 50 epochs in
#: fresh processes, docs/performance.md); it pays only where one compiled call's buffers
#: are tens of MiB (LSTM (16, 1000, 32, 128): ``RNNX_MALLOC=tuned``).  NumPy's loops (and
#: torch's, unchanged within noise) keep the tuning, which runs NumPy's epoch about 1.45x faster.
UNTUNED_BACKENDS = frozenset({"jax"})


def tune_memory(backend: str) -> None:
    """Tune glibc's malloc (:func:`rnnx.backends.malloc.tune`, once per process) for a run on
    ``backend`` (a backend's canonical name), unless it is one of :data:`UNTUNED_BACKENDS`;
    called by :func:`rnnx.cli.run.target_for`, where every command's backend is known and
    before the backend starts its threads.  ``RNNX_MALLOC=default`` leaves malloc alone on
    every backend, ``RNNX_MALLOC=tuned`` tunes it on every backend (JAX too)."""
    if backend not in UNTUNED_BACKENDS or os.environ.get("RNNX_MALLOC", "").lower() == "tuned":
        from rnnx.backends import malloc

        malloc.tune()  # CPU loops: keep freed large blocks instead of re-faulting them every call


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {_one_line(message)}\n")

    def option_strings(self) -> set[str]:
        return {s for a in self._actions for s in a.option_strings}


def _one_line(text: str) -> str:
    return " ".join(text.split("\n"))


def _parser(command: str | None) -> tuple[_Parser, _Parser | None]:
    """The parser of ``rnnx`` with every command's summary, and the sub-parser of
    ``command`` with its arguments (only its module is imported)."""
    from rnnx import __version__

    p = _Parser(prog="rnnx", description="Recurrent networks with hand-derived BPTT on any array-API backend.")
    p.add_argument("--version", action="version", version=f"rnnx {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    chosen = None
    for name, info in COMMANDS.items():
        q = sub.add_parser(name, help=info.summary, description=info.summary)
        if name == command:
            command_module(name).add_arguments(q)
            chosen = q
    return p, chosen


def _out_of_memory(args: argparse.Namespace | None, sub: _Parser | None) -> str:
    """The out-of-memory line: the size flags of this command's task to lower
    (:data:`rnnx.cli.table.SIZES`; only those the command has: a run from a stored folder or
    model has none to change)."""
    options = sub.option_strings() if sub is not None else set()
    if args is None or getattr(args, "resume", None) or getattr(args, "model", None):
        task = None
    elif getattr(args, "text", None):
        task = "text"
    else:
        task = "classification" if any(getattr(args, k, None) for k in ("npz", "ts", "uea")) else "regression"
    if task is not None:  # (rnnx train imported the table already)
        from rnnx.cli.table import SIZES

    flags = [f for f in map(flag_for, SIZES[task] if task else ()) if f in options]
    if not flags:
        return "out of memory; free some memory or use a machine with more"
    return "out of memory; try a smaller " + (f"{', '.join(flags[:-1])} or {flags[-1]}" if len(flags) > 1 else flags[0])


def _parse(p: _Parser, sub: _Parser | None, argv: list[str]) -> argparse.Namespace:
    """``argv`` parsed; an unknown command or an unknown flag (argparse's abbreviations and
    ambiguity rules first) is one line naming the nearest command or flag (exit 2)."""
    if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
        p.error(did_you_mean("command", argv[0], list(COMMANDS), quote=True))
    first = argv[0].split("=", 1)[0] if argv else ""
    if first.startswith("-") and not any(o.startswith(first) for o in p.option_strings()):  # before COMMAND
        p.error(did_you_mean("argument", first, sorted(p.option_strings()), otherwise="see rnnx --help"))
    args, extras = p.parse_known_args(argv)
    if extras:
        parser = sub if sub is not None else p
        flag = next((e.split("=", 1)[0] for e in extras if e.startswith("-") and e != "-"), None)
        if flag is None:
            parser.error(f"unrecognized arguments: {' '.join(extras)}")
        parser.error(did_you_mean("argument", flag, sorted(parser.option_strings()),
                                  otherwise=f"see {parser.prog} --help"))
    return args


def main(argv: list[str] | None = None) -> int:
    """Run ``rnnx`` with ``argv`` (default: the process's arguments) and return its exit
    status; every failure is one line on stderr."""
    program = argv is None  # the process's own command line: the program is ending when this returns
    argv = sys.argv[1:] if argv is None else list(argv)
    name, sub, args = "rnnx", None, None
    try:
        p, sub = _parser(argv[0] if argv and argv[0] in COMMANDS else None)
        args = _parse(p, sub, argv)
        name = f"rnnx {args.command}"
        return command_module(args.command).run(args)
    except KeyboardInterrupt:  # Ctrl-C before training has its handlers (start-up, data, plots)
        print(f"{name}: interrupted", file=sys.stderr)
        if program:  # the program ends here: exit 130 now (an interrupt that landed in an extension
            sys.stdout.flush()  # module's start-up would otherwise make CPython re-raise SIGINT at exit)
            sys.stderr.flush()
            os._exit(130)
        return 130
    except AppError as e:
        print(f"{name}: {e.label + ': ' if e.label else ''}{_one_line(str(e))}", file=sys.stderr)
        return e.code
    except BrokenPipeError:  # the reader of our output went away (rnnx backends | head): nothing to say
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as e:  # a file the user named or a folder rnnx writes: the path and the reason
        print(f"{name}: error: {_one_line(os_error(e))}", file=sys.stderr)
        return 1
    except MemoryError:
        print(f"{name}: error: {_out_of_memory(args, sub)}", file=sys.stderr)
        return 1
    except (ValueError, TypeError) as e:  # the library's: it names a parameter, we name the flag
        print(f"{name}: error: {_one_line(for_cli(str(e), sub.option_strings() if sub else ()))}", file=sys.stderr)
        return 2
    except Exception as e:  # a bug: still one line, the traceback on request
        if os.environ.get("RNNX_DEBUG"):
            raise
        print(f"{name}: internal error: {type(e).__name__}: {_one_line(str(e))} (RNNX_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
