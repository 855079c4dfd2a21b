"""The package layout shows the architecture (issue 30 item 3): every rnnx module belongs to
one layer, and a module imports (at the top or lazily inside a function) only from its own
layer and the layers below it::

    base (backends, _xp, checks, random, losses, metrics, optim, bounds, install)
      <- cells <- nn <- io <- diagnostics <- training <- text, interop, testing <- cli
    base, io <- data <- text, cli

``data`` (the host-side readers) reads files through ``io``'s safe opens and never the
other way round; ``cells``, ``nn`` and ``training`` import no ``data``, ``io``, ``interop`` or
``cli`` module, but for :data:`EXCEPTIONS` (each with its reason).  The ``rnnx`` package itself
(``import rnnx``, ``from rnnx import Model``: its lazy names reach every layer) is imported
only from the top layers.  No import cycle between packages.  (Private names of another
module: tests/test_package.py::test_no_module_uses_another_modules_private_names.)"""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: The top-level modules of rnnx/ and their layer (a new one must be given one here).
TOP_LEVEL = {"_xp": "base", "checks": "base", "random": "base", "losses": "base", "metrics": "base",
             "optim": "base", "bounds": "base", "install": "base", "text": "text", "__main__": "cli"}
#: The subpackages of rnnx/ and their layer.
PACKAGES = {"backends": "base", "cells": "cells", "nn": "nn", "io": "io", "diagnostics": "diagnostics",
            "training": "training", "data": "data", "interop": "interop", "testing": "testing", "cli": "cli"}

_BELOW_TRAINING = {"base", "cells", "nn", "io", "diagnostics", "training"}
#: layer -> the layers it may import from ("api": the ``rnnx`` package's lazy names).
ALLOWED = {
    "base": {"base"},
    "cells": {"base", "cells"},
    "nn": {"base", "cells", "nn"},
    "io": {"base", "cells", "nn", "io"},
    "diagnostics": {"base", "cells", "nn", "io", "diagnostics"},
    "training": _BELOW_TRAINING,
    "data": {"base", "io", "data"},
    "text": _BELOW_TRAINING | {"data", "text"},
    "interop": _BELOW_TRAINING | {"data", "interop", "api"},
    "testing": _BELOW_TRAINING | {"interop", "testing", "api"},
    "api": set(PACKAGES.values()) - {"cli"} | {"text"},
    "cli": set(PACKAGES.values()) | {"text", "api"},
}
#: Layers that import no data/, io/, interop/ or cli/ module but for EXCEPTIONS.
CORE = {"base", "cells", "nn", "training"}
#: (importing module, imported module): why the one cannot do without the other.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("rnnx.training.state", "rnnx.io.checkpoint"):
        "the fit-state file (save_state/read_state) is an rnnx checkpoint: its writer, format and checks",
}


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] == "backends":  # backends/ ships as rnnx.backends
        parts = ["rnnx", *parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(dotted: str) -> bool:
    parts = dotted.split(".")
    if parts[:2] == ["rnnx", "backends"]:
        parts = ["backends", *parts[2:]]
    base = ROOT.joinpath(*parts)
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def layer_of(module: str) -> str:
    parts = module.split(".")
    if parts == ["rnnx"]:
        return "api"
    if parts[1] in PACKAGES:
        return PACKAGES[parts[1]]
    if parts[1] in TOP_LEVEL:
        return TOP_LEVEL[parts[1]]
    raise AssertionError(f"{module}: a module with no layer: give it one in tests/test_layout.py's TOP_LEVEL or PACKAGES")


def sources() -> list[pathlib.Path]:
    return sorted([*(ROOT / "rnnx").rglob("*.py"), *(ROOT / "backends").rglob("*.py")])


def imports(path: pathlib.Path, source: str | None = None) -> list[tuple[int, str]]:
    """``(line, module)`` for each rnnx module ``path`` imports, anywhere in it (lazy imports
    inside functions too): ``import rnnx.a.b``, ``from rnnx.a import b`` (the module
    ``rnnx.a.b`` when it is one, else ``rnnx.a``), relative imports resolved, and
    ``import_module("rnnx.a.b")`` with a literal name."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text() if source is None else source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "rnnx"]
        elif isinstance(node, ast.ImportFrom):
            src = node.module or ""
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                src = ".".join(base + ([node.module] if node.module else []))
            if src.split(".")[0] != "rnnx":
                continue
            for a in node.names:
                out.append((node.lineno, f"{src}.{a.name}" if is_module(f"{src}.{a.name}") else src))
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and str(node.args[0].value).startswith("rnnx.")):
            out.append((node.lineno, node.args[0].value))
    return out


def violations(path: pathlib.Path, source: str | None = None) -> list[str]:
    me = module_name(path)
    mine, out = layer_of(me), []
    for line, mod in imports(path, source):
        theirs = layer_of(mod)
        where = f"{path.relative_to(ROOT)}:{line}: {me} ({mine}) imports {mod} ({theirs})"
        if (me, mod) in EXCEPTIONS:
            continue
        if theirs not in ALLOWED[mine]:
            out.append(where + f": {mine} may import only {sorted(ALLOWED[mine])}")
        elif mine in CORE and theirs in {"data", "io", "interop", "cli"}:
            out.append(where)
    return out


def test_the_checker_sees_every_form():
    """Lazy, relative, ``from pkg import module``, ``import_module("rnnx...")`` and the ``rnnx``
    package are all seen."""
    source = ("import rnnx\nfrom rnnx.cli import run\ndef f():\n    from rnnx.training import engine\n"
              "    import rnnx.io.atomic\n    importlib.import_module('rnnx.training.state')\nfrom ..data import tables\n"
              "from rnnx.nn.model import Model\n")
    found = violations(ROOT / "rnnx" / "nn" / "probe.py", source)
    assert sorted(v.split(" imports ")[1].split()[0] for v in found) == [
        "rnnx", "rnnx.cli.run", "rnnx.data.tables", "rnnx.io.atomic", "rnnx.training.engine", "rnnx.training.state"], found
    assert violations(ROOT / "rnnx" / "cli" / "probe.py", source) == []


def test_every_module_has_a_layer():
    unplaced = []
    for path in sources():
        try:
            layer_of(module_name(path))
        except AssertionError as e:
            unplaced.append(str(e))
    assert not unplaced, unplaced


def test_imports_follow_the_layer_order():
    found = [v for path in sources() for v in violations(path)]
    assert not found, "imports against the layer order:\n" + "\n".join(found)


def test_exceptions_are_still_used():
    used = {(module_name(p), m) for p in sources() for _, m in imports(p)}
    assert not set(EXCEPTIONS) - used, f"EXCEPTIONS no longer used (remove them): {sorted(set(EXCEPTIONS) - used)}"


def _package(module: str) -> str:
    """The node of the package graph: ``rnnx.nn`` for rnnx.nn.*, ``rnnx.losses`` for a top-level module."""
    return ".".join(module.split(".")[:2])


def test_no_import_cycle_between_packages():
    graph: dict[str, set[str]] = {}
    for path in sources():
        me = _package(module_name(path))
        graph.setdefault(me, set()).update(p for p in (_package(m) for _, m in imports(path)) if p not in (me, "rnnx"))
    # Tarjan's strongly connected components: a component of more than one package is a cycle
    index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, f"packages that import each other: {cycles}"


#: The packages whose every public module (no leading ``_``) declares its API in ``__all__``.
DECLARED = ("cells", "nn", "io", "data", "diagnostics", "training")


def test_public_modules_declare_all():
    """issue 30: ``__all__`` declares the public API of every public module of the layers, and
    each name in it exists."""
    import importlib

    missing, unknown = [], []
    for package in DECLARED:
        for path in sorted((ROOT / "rnnx" / package).glob("*.py")):
            if path.stem.startswith("_") and path.stem != "__init__":
                continue
            module = importlib.import_module(module_name(path))
            names = getattr(module, "__all__", None)
            if names is None:
                missing.append(module.__name__)
            else:
                unknown += [f"{module.__name__}.{n}" for n in names if not hasattr(module, n)]
    assert not missing, f"public modules without __all__: {missing}"
    assert not unknown, f"__all__ names that are not defined: {unknown}"


def _resolves(ref: str) -> bool:
    """``rnnx.a.b.name[.attr...]`` is a module, or a public name of its module (in its
    ``__all__`` where it has one) whose attributes exist."""
    import importlib

    parts = ref.split(".")
    for k in range(len(parts), 0, -1):
        try:
            module = importlib.import_module(".".join(parts[:k]))
            break
        except ImportError:
            continue
    obj, rest = module, parts[k:]
    dunder = bool(rest) and rest[0].startswith("__") and rest[0].endswith("__")
    if rest and not dunder and (rest[0].startswith("_") or rest[0] not in getattr(module, "__all__", [rest[0]])):
        return False
    for name in rest:
        if not hasattr(obj, name):
            return False
        obj = getattr(obj, name)
    return True


def test_docs_cite_public_names():
    """issue 30: every ``rnnx.x.y`` that docs/ and README.md cite is a module or a public name
    of one (no ``_private`` name, nothing a module does not export), so a move or a rename
    that leaves a doc behind fails here."""
    import re

    bad = []
    for path in [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]:
        for ref in sorted(set(re.findall(r"(?<![\w./-])rnnx(?:\.[A-Za-z_]\w*)+", path.read_text()))):
            if not _resolves(ref):
                bad.append(f"{path.relative_to(ROOT)}: {ref}")
    assert not bad, bad
