"""Packaging and discipline: ``backends/`` ships as ``rnnx.backends`` (editable and wheel);
the core reaches arrays only through array-api-compat; the registry is data."""

from __future__ import annotations

import ast
import os
import pathlib
import subprocess
import sys
import zipfile

import pytest

import rnnx
from rnnx import backends

ROOT = pathlib.Path(__file__).resolve().parents[1]
#: Modules allowed to import an array library, lazily (inside functions): the CLI and its
#: tools, plotting, file I/O and the weight converters; never the maths.
LAZY_OK = {"plots.py", "__main__.py", "transforms.py", "calendar.py", "accuracy.py",
           # host-side data in: CSV tables (and the windows built from them), .npz/.ts panels, text files
           "tables.py", "panel.py", "text.py"}
LAZY_DIRS = {"interop", "cli", "io", "testing"}
ARRAY_LIBS = {"numpy", "jax", "jaxlib", "cupy", "torch", "array_api_strict"}


def _imports(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield node, [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node, [node.module.split(".")[0]]


def test_core_imports_no_array_library():
    """No numpy/jax/cupy/torch import in the core; CLI modules only inside functions."""
    offenders = []
    for path in sorted((ROOT / "rnnx").rglob("*.py")):
        tree = ast.parse(path.read_text())
        top_level = {id(n) for n in tree.body}
        for node, mods in _imports(tree):
            bad = ARRAY_LIBS.intersection(mods)
            lazy_ok = path.name in LAZY_OK or bool(LAZY_DIRS.intersection(path.relative_to(ROOT / "rnnx").parts[:-1]))
            if bad and (not lazy_ok or id(node) in top_level):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {sorted(bad)}")
    assert not offenders, offenders


def _rnnx_imports(path: pathlib.Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("rnnx")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("rnnx"):
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return out


def test_lower_layers_never_import_the_cli():
    """rnnx.testing (for array-library maintainers), io, interop and the core never import
    rnnx.cli, even lazily: the CLI is the top layer."""
    offenders = []
    for path in sorted((ROOT / "rnnx").rglob("*.py")):
        if "cli" in path.relative_to(ROOT / "rnnx").parts[:-1] or path.name == "__main__.py":
            continue
        offenders += [f"{path.relative_to(ROOT)}:{n} imports {m}" for n, m in _rnnx_imports(path)
                      if m.startswith("rnnx.cli")]
    assert not offenders, offenders


#: Private names of another rnnx module still used: ``(importing file, "owner module.name")``.
#: The test fails on a new use and on an entry that is no longer used, so the set only shrinks.
PRIVATE_ALLOWED: set[tuple[str, str]] = set()  # none left (issue 29 removed the last 12)


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(dotted: str) -> bool:
    parts = dotted.split(".")
    if parts[:2] == ["rnnx", "backends"]:  # backends/ ships as rnnx.backends
        parts = ["backends", *parts[2:]]
    base = ROOT.joinpath(*parts)
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_uses(path: pathlib.Path, source: str | None = None) -> list[tuple[int, str]]:
    """``(line, "module.name")`` for each private name of another rnnx module that ``path``
    imports (``from rnnx.x import _y``, relative too) or reads (``x._y`` with ``x`` bound to
    an rnnx module).  Private modules (``rnnx._xp``, ``backends._base``) are not names."""
    me, tree = _module_name(path), ast.parse(path.read_text() if source is None else source)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    bound, out = {}, []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "rnnx":
                    bound[a.asname or "rnnx"] = a.name if a.asname else "rnnx"
        elif isinstance(node, ast.ImportFrom):
            src = node.module or ""
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                src = ".".join(base + ([node.module] if node.module else []))
            if src.split(".")[0] != "rnnx":
                continue
            for a in node.names:
                if _is_module(f"{src}.{a.name}"):
                    bound[a.asname or a.name] = f"{src}.{a.name}"
                elif _private(a.name) and src != me:
                    out.append((node.lineno, f"{src}.{a.name}"))
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and _private(node.attr)):
            continue
        chain, v = [], node.value
        while isinstance(v, ast.Attribute):
            chain, v = [v.attr, *chain], v.value
        if isinstance(v, ast.Name) and v.id in bound:
            owner = ".".join([bound[v.id], *chain])
            if _is_module(owner) and owner != me and not _is_module(f"{owner}.{node.attr}"):
                out.append((node.lineno, f"{owner}.{node.attr}"))
    return out


def test_private_uses_scanner_sees_both_forms():
    """The scanner below finds ``from rnnx.x import _y`` (absolute and relative) and
    ``x._y``; it lets a module's own names, dunders and private modules through."""
    source = ("from rnnx.data import _decode, load_csv\nfrom ..losses import _count\nfrom rnnx import _xp, losses as L\n"
              "from rnnx.cli.tasks import regression as app\nimport rnnx.io.checkpoint\nfrom rnnx.cli.probe import _own\n"
              "x = L._labels, app._series, L.__all__, L.mse\ny = rnnx.io.checkpoint._members, _xp.where, _own\n")
    found = _private_uses(ROOT / "rnnx" / "cli" / "probe.py", source)
    assert sorted(n for _, n in found) == ["rnnx.cli.tasks.regression._series", "rnnx.data._decode", "rnnx.io.checkpoint._members",
                                           "rnnx.losses._count", "rnnx.losses._labels"]


def test_no_module_uses_another_modules_private_names():
    """issue 29: no rnnx module imports or reads another rnnx module's ``_name``
    (:data:`PRIVATE_ALLOWED`: none left, and that list only shrinks)."""
    found = {}
    for path in sorted((ROOT / "rnnx").rglob("*.py")):
        for line, name in _private_uses(path):
            found.setdefault((str(path.relative_to(ROOT)), name), line)
    new = sorted(f"{f}:{line} uses {n}" for (f, n), line in found.items() if (f, n) not in PRIVATE_ALLOWED)
    stale = sorted(PRIVATE_ALLOWED - found.keys())
    assert not new, f"private names of another module (make them public in their owner): {new}"
    assert not stale, f"PRIVATE_ALLOWED entries no longer used (remove them): {stale}"


def test_backends_is_the_subpackage_in_this_install():
    import rnnx.backends.numpy as bn

    assert pathlib.Path(backends.__file__).parent == ROOT / "backends"
    assert bn.NAME == "numpy"
    assert pathlib.Path(rnnx.__file__).parent == ROOT / "rnnx"


@pytest.mark.skipif(os.environ.get("RNNX_SKIP_WHEEL") == "1", reason="RNNX_SKIP_WHEEL=1")
def test_wheel_ships_backends_as_rnnx_backends(tmp_path):
    """Build the wheel, check its file list, install it to a folder and import from there.  It is
    built from a copy of the tree without ``build/`` and ``*.egg-info`` (an earlier build's file
    lists there put files in the wheel that the package list leaves out)."""
    import shutil

    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(src)],
                   check=True, capture_output=True, timeout=300)
    (whl,) = tmp_path.glob("rnnx-*.whl")
    names = set(zipfile.ZipFile(whl).namelist())
    for mod in ("__init__", "_base", "numpy", "jax", "torch", "cupy", "array_api_strict"):
        assert f"rnnx/backends/{mod}.py" in names
    for sub in ("cells/lstm", "interop/keras", "cli/__init__", "cli/bench", "io/files", "nn/loop", "training/engine", "cli/tasks/regression",
                "testing/__init__", "testing/namespace", "testing/pytest_plugin", "testing/test_parity",
                "testing/harness", "testing/rows", "io/jsonfile"):
        assert f"rnnx/{sub}.py" in names, sub
    # every package of the tree (rnnx.training and rnnx.cli.tasks were left out: the wheel's rnnx.fit failed to import)
    for init in (ROOT / "rnnx").rglob("__init__.py"):
        assert init.relative_to(ROOT).as_posix() in names, init
    (eps,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "[pytest11]\nrnnx.testing.pytest_plugin = rnnx.testing.pytest_plugin" in zipfile.ZipFile(whl).read(eps).decode()
    assert not any(n.startswith("backends/") for n in names)
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(whl)],
                   check=True, capture_output=True)
    code = "import rnnx.backends as b, rnnx; print(b.__file__); print([t.id for t in b.targets()][0])"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(target)}).stdout.split()
    assert out[0].startswith(str(target)) and out[1] == "numpy-cpu"


def test_registry_is_data_and_env_selects(monkeypatch):
    ids = [t.id for t in backends.targets()]
    assert ids[:3] == ["numpy-cpu", "array-api-strict-device1", "torch-cpu"]
    assert {"jax-cpu", "jax-gpu", "torch-cuda", "cupy-cuda"} <= set(ids)
    monkeypatch.setenv("RNNX_BACKENDS", "numpy,jax")
    assert [t.id for t in backends.selected()] == ["numpy-cpu", "jax-cpu", "jax-gpu"]
    assert [t.id for t in backends.selected("torch-cpu, array-api-strict")] == ["torch-cpu", "array-api-strict-device1"]
    monkeypatch.setenv("RNNX_BACKENDS", "")
    assert len(backends.selected()) == len(ids)
    with pytest.raises(ValueError, match="RNNX_BACKENDS: unknown backend or target 'tensorflow'"):
        backends.selected("numpy,tensorflow")
    with pytest.raises(ValueError, match="backend: unknown backend 'mxnet'"):
        backends.get("mxnet")


def test_unavailable_targets_say_why():
    """Every target is either usable or carries a reason; GPU ones name what is missing."""
    for t in backends.targets():
        reason = t.unavailable()
        if reason is None:
            t.namespace()
            t.device_obj()
            assert set(t.dtypes()) <= {"float32", "float64"} and "float32" in t.dtypes()
            assert t.tolerance("float32") == {"out": 2e-6, "grad": 1e-5}
        else:
            assert len(reason) > 10, (t.id, reason)


def test_missing_library_is_reported(monkeypatch):
    """A library that cannot be imported makes its target unavailable with the install hint."""
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy -> ImportError
    reason = backends.Target("cupy", "cuda").unavailable()
    assert "cupy is not installed" in reason and "pip install" in reason


def test_cli_demo_runs_and_rejects_unknown_backend():
    env = {**os.environ, "RNNX_BACKENDS": "numpy,torch"}
    r = subprocess.run([sys.executable, "-m", "rnnx", "demo"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "numpy-cpu" in r.stdout and "max relative difference of float64 gradients" in r.stdout
    r = subprocess.run([sys.executable, "-m", "rnnx", "demo", "--backends", "nope"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "unknown backend or target 'nope'" in r.stderr
