"""Every example in README.md and docs/*.md runs.

- Every ```python block is executed. The blocks of one file run in document order in one
  namespace (a later block may use an earlier one's names), with a fresh ``tmp_path`` as
  the working directory.
- Every line of a ```bash, ```console, ```sh or bare ``` block that starts with ``rnnx ``
  (after an optional ``$ `` prompt) is parsed with :func:`shlex.split` and run through
  ``rnnx.cli.main(argv)`` in the same folder, in document order among the python blocks,
  at a tiny size (:func:`tiny`), and must return 0. Relative paths such as ``--out
  runs/seed001`` or the default ``runs/<name>`` therefore land under ``tmp_path``, and a
  later ``--model runs/seed001`` or ``--resume runs/seed001`` finds what an earlier line
  wrote, as it would for a reader running the lines in order.
- A command line that cannot run here ends in a marker comment, ``# not run: REASON``;
  it is not run, and :func:`test_marked_lines_are_listed` skips with the count and the
  list of such lines.
- Other lines (``pip install``, ``python3 -m venv ...``, ``python bench/report.py``) are
  not run here: the README's two install commands are run by CI (``.ci/run``).
- ```text blocks are printed output and are not run.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest

ROOT = Path(__file__).resolve().parent.parent
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = re.compile(r"#\s*not run:\s*(?P<reason>.*)$")
CLI_LANGS = {"bash", "console", "sh", "shell", ""}
KNOWN_LANGS = CLI_LANGS | {"python", "text"}
FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")


@dataclass(frozen=True)
class Block:
    lang: str
    text: str
    line: int  # line number of the block's first content line


@dataclass(frozen=True)
class Step:
    kind: str  # "python", "cli" or "marked"
    text: str  # the code, or the command line as written
    line: int
    reason: str = ""


def fenced_blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file, in order."""
    out, lines = [], path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang, start = m["fence"], m["lang"].lower(), i + 1
        j = start
        while j < len(lines) and not lines[j].strip().startswith(fence):
            j += 1
        if j == len(lines):
            raise AssertionError(f"{path.name}:{i + 1}: a fenced block that is never closed")
        out.append(Block(lang, "\n".join(lines[start:j]) + "\n", start + 1))
        i = j + 1
    return out


def _logical_lines(block: Block):
    """(line number, text) of each shell line, backslash continuations joined."""
    buf, first = "", None
    for n, raw in enumerate(block.text.splitlines(), start=block.line):
        if first is None:
            first = n
        if raw.rstrip().endswith("\\"):
            buf += raw.rstrip()[:-1] + " "
            continue
        yield first, buf + raw
        buf, first = "", None
    if buf:
        yield first, buf


def steps(path: Path) -> list[Step]:
    """The python blocks and ``rnnx`` command lines of a file, in document order."""
    out = []
    for b in fenced_blocks(path):
        if b.lang == "python":
            out.append(Step("python", b.text, b.line))
        elif b.lang in CLI_LANGS:
            for n, text in _logical_lines(b):
                cmd = text.strip()
                if cmd.startswith("$ "):
                    cmd = cmd[2:].lstrip()
                if not cmd.startswith("rnnx "):
                    continue
                m = MARKER.search(cmd)
                out.append(Step("marked", cmd, n, m["reason"].strip()) if m else Step("cli", cmd, n))
    return out


# -- the tiny size ---------------------------------------------------------------------------
def _split_eq(argv: list[str]) -> list[str]:
    out = []
    for a in argv:
        if a.startswith("--") and "=" in a:
            out += a.split("=", 1)
        else:
            out.append(a)
    return out


def _set(argv: list[str], flag: str, *values: str) -> None:
    """Give ``flag`` exactly ``values``: replace what the line gave (every value up to the
    next flag), or append it."""
    if flag in argv:
        i = argv.index(flag)
        j = i + 1
        while j < len(argv) and not argv[j].startswith("--"):
            j += 1
        argv[i:j] = [flag, *values]
    else:
        argv += [flag, *values]


def _default(argv: list[str], flag: str, *values: str) -> None:
    if flag not in argv:
        argv += [flag, *values]


def tiny(argv: list[str], tmp_path: Path) -> list[str]:
    """The documented command at a size that runs in seconds on 2 CPU cores."""
    argv = _split_eq(argv)
    cmd = argv[0] if argv else ""
    if cmd == "train":
        if "--resume" not in argv:  # a resumed run takes its own stored settings
            _set(argv, "--epochs", "2")
        _set(argv, "--quiet")
        if "--out" in argv:  # keep the run under tmp_path even if a line names an absolute folder
            i = argv.index("--out") + 1
            if Path(argv[i]).is_absolute() and tmp_path not in Path(argv[i]).parents:
                argv[i] = str(tmp_path / "runs" / Path(argv[i]).name)
    elif cmd == "diagnose":
        if "--compare" in argv:
            _set(argv, "--epochs", "2")
            _set(argv, "--quiet")
    elif cmd == "forecast":
        _set(argv, "--steps", "5")
    elif cmd == "bench":
        _set(argv, "--sizes", "1,3,1,4")
        for flag, v in (("--repeat", "1"), ("--warmup", "1"), ("--settle", "0"), ("--rewarm-ms", "0"),
                        ("--min-round-ms", "0")):
            _set(argv, flag, v)
        _set(argv, "--no-anchors")
        _default(argv, "--backend", "numpy")
    elif cmd == "parity":
        _default(argv, "--cells", "lstm")
    elif cmd == "demo":
        _default(argv, "--backends", "numpy,array-api-strict")
    return argv


# -- the tests ---------------------------------------------------------------------------------
def _id(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_examples_run(path: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    from rnnx.cli import main

    monkeypatch.chdir(tmp_path)
    ns: dict = {"__name__": "__doc_example__"}
    with mock.patch.dict(os.environ):  # examples set variables (KERAS_BACKEND; `rnnx demo` RNNX_BACKENDS)
        for st in steps(path):
            where = f"{_id(path)}:{st.line}"
            if st.kind == "python":
                exec(compile(st.text, where, "exec"), ns)  # noqa: S102 - the documented example
            elif st.kind == "cli":
                argv = tiny(shlex.split(st.text, comments=True)[1:], tmp_path)
                try:
                    rc = main(argv)
                except SystemExit as e:  # argparse: --help, or a usage error
                    rc = e.code if isinstance(e.code, int) else 1
                out, err = capsys.readouterr()
                assert rc == 0, (f"{where}: {st.text!r} ran as rnnx {shlex.join(argv)} and exited {rc}:\n"
                                 f"{err[-2000:]}{out[-2000:]}")


def _marked() -> list[tuple[str, Step]]:
    return [(_id(p), st) for p in FILES for st in steps(p) if st.kind == "marked"]


def test_marked_lines_are_listed() -> None:
    marked = _marked()
    empty = [f"{f}:{st.line}" for f, st in marked if not st.reason]
    assert not empty, f"a '# not run:' marker needs a reason: {empty}"
    if marked:
        listed = [f"{f}:{st.line} {st.text.split('#')[0].strip()!r} ({st.reason})" for f, st in marked]
        pytest.skip(f"{len(marked)} documented command line(s) not run here: " + "; ".join(listed))


def test_readme_has_examples_and_fences_are_known() -> None:
    for path in FILES:
        blocks = fenced_blocks(path)
        unknown = [f"{_id(path)}:{b.line} ```{b.lang}" for b in blocks if b.lang not in KNOWN_LANGS]
        assert not unknown, (f"fenced blocks of a language this test neither runs nor skips: {unknown}; "
                             "use ```python or ```bash for examples, ```text for output")
    kinds = [st.kind for st in steps(ROOT / "README.md")]
    assert "python" in kinds and "cli" in kinds, f"README.md: expected python and rnnx examples, got {kinds}"


def test_images_exist() -> None:
    for path in FILES:
        for m in re.finditer(r"!\[[^\]]*\]\(([^)\s]+)\)", path.read_text(encoding="utf-8")):
            target = m[1]
            if "://" in target:
                continue
            assert (path.parent / target).is_file(), f"{_id(path)}: image {target!r} not found"
