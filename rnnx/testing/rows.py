"""The parity rows, for ``rnnx parity`` and the pytest plugin: every cell variant of the
registry (:data:`rnnx.testing.harness.CELLS`: each spec's ``variants``), forward + explicit
BPTT over the fixed battery :data:`rnnx.testing.harness.BATTERY` (the entries a variant
applies to), on every available backend x device x dtype or any array-API namespace
(:func:`generic_runners`), compared with the float64 NumPy reference (inputs rounded to the
row's dtype) and with PyTorch's own ``torch.nn`` module (float64, where torch is installed and its spec's
``torch_kwargs`` says torch computes the variant).
Errors are norm-wise relative, ``||a - b|| / ||b||``; a row fails when any of them breaches
its tolerance, or when it could not run (its errors are then null and ``error`` says why).

Before any row runs, each library's namespace is probed for the functions that row calls
(:data:`ROW_USES`, per variant); a row whose namespace lacks some is skipped, naming what it
needs (``skipped``), and the library is reported once with the names it lacks (``missing``):
parity measures numerical agreement, and such a row cannot be measured.  A run in which no
row ran at all is its own failure (:data:`EXIT_NOTHING_RAN`), unless the caller allows it.  Results of a ``--namespace`` library are read back by DLPack,
else ``to_device`` to the CPU, else the buffer protocol / ``__array__``, else the library's
own method (``unwrap_numpy`` ...); each row names the way it used (``readback``).
(A tool module: imports NumPy, and torch when it is there.)
"""

from __future__ import annotations

import contextlib
import functools
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from rnnx import backends
from rnnx.testing.harness import BATTERY, CELLS, applies, inputs, np, rel_err, run, torch_run  # np: NumPy, lazily
from rnnx.testing.namespace import namespace_spec

__all__ = ["CELLS", "BATTERY", "NAMESPACE_OPTIONAL", "NOT_CORE", "core_sources", "namespace_uses", "ROW_USES", "row_uses", "EXIT_NOTHING_RAN",
           "Runner", "missing_functions", "readback", "device_labels", "registry_runner", "namespace_spec",
           "generic_runners", "probe", "run_parity", "collect", "VALUELESS_DEVICES"]

#: The exit status of a run in which no row ran (every target absent, or every row skipped
#: for missing functions): a library's CI must not pass having tested nothing.
EXIT_NOTHING_RAN = 4

#: Names the core takes from a namespace only after checking that it has them (the native
#: ``sigmoid``: :func:`rnnx._xp.native_sigmoid`).
NAMESPACE_OPTIONAL = frozenset({"sigmoid"})


#: The packages of rnnx/ that are not its core (they may import NumPy and the like).
NOT_CORE = frozenset({"cli", "io", "interop", "testing"})


def core_sources(root) -> list:
    """The core's source files under the package folder ``root`` (a pathlib.Path): rnnx/*.py
    and every subpackage but :data:`NOT_CORE`."""
    return [p for p in root.rglob("*.py") if p.relative_to(root).parts[0] not in NOT_CORE]


@functools.lru_cache(maxsize=None)
def namespace_uses() -> tuple[str, ...]:
    """Every name rnnx's core takes from an array namespace: each ``xp.<name>`` (and
    ``self.xp.<name>``) in the code of rnnx/ (every package but :data:`NOT_CORE`: the CLI, file
    I/O, interop, the testing harness), less :data:`NAMESPACE_OPTIONAL`.  Read from the source,
    so a cell that starts using a new function needs no list updated here."""
    import ast
    import pathlib

    import rnnx

    root = pathlib.Path(rnnx.__file__).parent
    names = set()
    for path in sorted(core_sources(root)):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and (
                    (isinstance(node.value, ast.Name) and node.value.id == "xp")
                    or (isinstance(node.value, ast.Attribute) and node.value.attr == "xp")):
                names.add(node.attr)
    return tuple(sorted(names - NAMESPACE_OPTIONAL))


#: The names every parity row takes from its namespace, whatever its variant.
_EVERY_ROW = ("__array_namespace_info__", "arange", "asarray", "astype", "concat", "expand_dims", "isdtype",
              "max", "min", "ones_like", "permute_dims", "reshape", "stack", "unstack", "where")
#: What each variant's rows call besides.
_VARIANT_USES = {
    "rnn_tanh": ("tanh",), "rnn_relu": (), "rnn_tanh_reference": ("tanh",), "rnn_relu_reference": (),
    "rnn_sigmoid": ("exp", "finfo"), "rnn_hard_sigmoid": ("clip",), "rnn_linear": (),
    "lstm": ("exp", "full", "tanh"), "lstm_reference": ("exp", "tanh"), "lstm_proj": ("exp", "full", "tanh"),
    "lstm_proj_reference": ("exp", "tanh"), "lstm_keras": ("clip", "exp"), "lstm_linear_tanh": ("tanh",),
    "gru": ("exp", "tanh", "zeros"), "gru_reset_before": ("exp", "tanh"), "gru_reference": ("exp", "tanh"),
    "gru_reset_before_reference": ("exp", "tanh"), "gru_keras": ("clip", "exp"), "gru_reset_before_keras": ("clip",),
}
# a sigmoid (every variant that calls exp) reads its overflow bound with finfo, once per dtype and process
_VARIANT_USES = {c: (*u, "finfo") if "exp" in u and "finfo" not in u else u for c, u in _VARIANT_USES.items()}
#: Per variant id, every name its parity rows (forward + BPTT over :data:`BATTERY`, either
#: dtype) take from the namespace of a library rnnx has no capability record for: what the
#: probe asks of a namespace before running the row.  tests/test_parity_cli.py runs every
#: row on a recording namespace and checks that this is exactly what each one took.
ROW_USES: dict[str, tuple[str, ...]] = {c: tuple(sorted({*_EVERY_ROW, *extra})) for c, extra in _VARIANT_USES.items()}


def row_uses(cell: str) -> tuple[str, ...]:
    """:data:`ROW_USES` of variant ``cell``; every name of :func:`namespace_uses` for a
    variant that has no entry (a conservative probe, never a row run on a guess)."""
    return ROW_USES.get(cell) or namespace_uses()


def missing_functions(xp: Any, names: tuple[str, ...] | None = None) -> list[str]:
    """The names of ``names`` (default: every name of :func:`namespace_uses`) that
    namespace ``xp`` lacks."""
    return [n for n in (namespace_uses() if names is None else names) if not hasattr(xp, n)]


def _worst(errors) -> float:
    """The largest error, NaN if any is NaN (Python's max drops a NaN that is not first, and a
    NaN row would pass)."""
    worst = 0.0
    for e in errors:
        if e != e:
            return float("nan")
        worst = max(worst, e)
    return worst


def _errors(got: dict, want: dict) -> tuple[float, float]:
    out = _worst(rel_err(got[k], want[k]) for k in want if not k.startswith("d"))
    grad = _worst(rel_err(got[k], want[k]) for k in want if k.startswith("d"))
    return out, grad


# -- reading results back -------------------------------------------------------------------------------------
_METHODS = ("unwrap_numpy", "to_numpy", "todense", "numpy", "get")  # ndonnx, ndonnx < 0.10, sparse, torch, cupy


def _via_to_device(a, cpu):
    if cpu is None:
        raise ValueError("the library names no CPU device")
    b = a.to_device(cpu)
    try:
        return np.from_dlpack(b)
    except Exception:
        return np.asarray(b)


def _via_method(name):
    def read(a, cpu):
        return np.asarray(getattr(a, name)())

    return read


_PATHS: tuple[tuple[str, Callable], ...] = (
    ("dlpack", lambda a, cpu: np.from_dlpack(a)),
    ("to_device", _via_to_device),
    ("asarray", lambda a, cpu: np.asarray(a)),  # the buffer protocol, __array__, __array_interface__
) + tuple((f"{m}()", _via_method(m)) for m in _METHODS)


def readback(a: Any, *, cpu: Any = None, first: str | None = None) -> tuple[np.ndarray, str]:
    """``a`` as a NumPy array, and the way it was read: ``np.from_dlpack`` ("dlpack"),
    ``a.to_device(cpu)`` ("to_device"), the buffer protocol / ``__array__`` ("asarray"), or
    a library's own method ("unwrap_numpy()", "to_numpy()", "todense()", "numpy()",
    "get()"), tried in that order (``first``, a way that worked before, is tried first).
    A way counts only when it gives a numeric array of ``a``'s shape; ``TypeError`` when
    none does, naming what each way said."""
    shape = getattr(a, "shape", None)
    shape = None if shape is None else tuple(shape)
    paths = sorted(_PATHS, key=lambda p: p[0] != first)
    tried = []
    for name, read in paths:
        if name.endswith("()") and not callable(getattr(a, name[:-2], None)):
            continue
        try:
            out = read(a, cpu)
        except Exception as e:
            tried.append(f"{name}: {type(e).__name__}: {e}")
            continue
        if not isinstance(out, np.ndarray) or out.dtype.kind not in "biuf" or (shape is not None and out.shape != shape):
            what = f"{getattr(out, 'dtype', '?')} {getattr(out, 'shape', '?')}"
            tried.append(f"{name}: gave {type(out).__name__} {what}, not the {shape} numbers")
            continue
        return out, name
    raise TypeError(f"cannot read a {type(a).__name__} back as NumPy; tried " + "; ".join(tried))


class _Reader:
    """A runner's ``to_numpy``: :func:`readback`, remembering the ways it used."""

    def __init__(self, cpu):
        self.cpu, self.used, self.last = cpu, set(), None

    def __call__(self, a):
        out, how = readback(a, cpu=self.cpu, first=self.last)
        self.used.add(how)
        self.last = how
        return out


# -- targets: the registry's, and any array-API module by name ---------------------------------------
@dataclass
class Runner:
    """How one row's arrays are made and read back."""

    id: str
    backend: str
    device: str
    dtypes: tuple[str, ...]
    tolerance: dict
    convert: Any
    to_numpy: Any
    sync: Any = None
    capabilities: dict = field(default_factory=dict)
    xp: Any = None  # the namespace rnnx computes in (probed by missing_functions)
    readback: str | None = "backend"  # how results come back: the backend module's to_numpy
    scope: Any = None  # float64 and full-precision matmuls while the row runs (the backend's scope())


def registry_runner(t: backends.Target) -> Runner:
    def make(dtype):
        def convert(a, integer=False):
            return t.from_numpy(a if integer else a.astype(dtype))

        return convert

    return Runner(t.id, t.backend, t.device, t.dtypes(), {d: t.tolerance(d) for d in t.dtypes()}, make, t.to_numpy,
                  t.synchronize, xp=t.namespace(), scope=t.scope)


_ADDRESS = re.compile(r"0x[0-9a-fA-F]{4,}")


def _clean(s: Any) -> str | None:
    """A device's text as an id part, or None when it is not stable (an object address)."""
    if not isinstance(s, str) or not s or _ADDRESS.search(s):
        return None
    s = re.sub(r"^.*Device\((['\"]?)(.*)\1\)$", r"\2", s)  # array_api_strict.Device('CPU_DEVICE') -> CPU_DEVICE
    s = re.sub(r"[<>\s]", "", s)
    return s if re.fullmatch(r"[\w.:+-]+", s) else None


def device_labels(devices: list) -> list[str]:
    """A stable label per device, for target ids: its ``name`` attribute, else its text when
    that carries no object address, else ``dev<i>`` with i its index in ``devices``;
    duplicates get their index appended."""
    labels = []
    for i, d in enumerate(devices):
        label = _clean(getattr(d, "name", None)) or _clean(str(d)) or f"dev{i}"
        labels.append(label if label not in labels else f"{label}-{i}")
    return labels


def _cpu_device(devices: list, labels: list[str], default: Any) -> Any:
    for d, label in zip(devices, labels):
        if "cpu" in label.lower():
            return d
    return default


#: Device labels that hold shapes and no values (torch's ``meta``): no row can be measured there.
VALUELESS_DEVICES = frozenset({"meta"})


def generic_runners(spec: str, *, option: str = "--namespace", absent: list | None = None) -> list[Runner]:
    """Any array-API namespace (:func:`namespace_spec`: a module, a module's attribute or
    what a factory builds), on every device it reports or on ``@DEVICE`` only (a label, as
    in the target ids): devices and dtypes come from its inspection API, arrays are made by
    ``asarray`` and read back by :func:`readback`.  Errors are ``ValueError`` starting
    with ``option``, the flag that gave ``spec``."""
    import array_api_compat as compat

    from rnnx.backends import standard_note, standard_refusal

    name, mod, want_dev = namespace_spec(spec, option=option)
    try:
        xp = compat.array_namespace(mod.asarray(0.0))
        refusal = standard_refusal(xp)  # 2021.12/2022.12: no inspection API; say so, not "not a namespace"
        info = xp.__array_namespace_info__() if refusal is None else None
    except Exception as e:
        raise ValueError(f"{option}: {name!r} is not an array-API namespace ({type(e).__name__}: {e})") from None
    if refusal is not None:
        raise ValueError(f"{option}: {refusal}")
    all_devices = list(info.devices())
    all_labels = device_labels(all_devices)
    default = info.default_device()
    default_label = next((lb for d, lb in zip(all_devices, all_labels) if d == default), None)
    cpu = _cpu_device(all_devices, all_labels, default)
    chosen = [(d, lb) for d, lb in zip(all_devices, all_labels) if lb not in VALUELESS_DEVICES]
    if absent is not None and not want_dev:
        absent += [{"target": f"{name}-{lb}", "reason": f"the device {lb!r} holds shapes, no values"}
                   for lb in all_labels if lb in VALUELESS_DEVICES]
    if want_dev in VALUELESS_DEVICES:
        raise ValueError(f"{option}: {name!r} device {want_dev!r} holds shapes, no values: parity needs numbers; "
                         f"it has {', '.join(all_labels)}")
    if want_dev:
        chosen = [(d, lb) for d, lb in chosen if want_dev in (lb, str(d), repr(d))]
        chosen = chosen or [(d, lb) for d, lb in zip(all_devices, all_labels) if want_dev in lb
                            and lb not in VALUELESS_DEVICES]
        if not chosen:
            raise ValueError(f"{option}: {name!r} has no device {want_dev!r}; it has {', '.join(all_labels)}")
    runners = []
    for dev, label in chosen:
        floats = [k for k in ("float32", "float64") if k in info.dtypes(device=dev, kind="real floating")]
        caps = {"devices": all_labels, "default_device": default_label or str(default), "dtypes": floats,
                "default_float": str(info.default_dtypes(device=dev)["real floating"]), "standard": standard_note(xp)}
        int_dtype = info.default_dtypes(device=dev)["integral"]

        def make(dtype, dev=dev, int_dtype=int_dtype):
            def convert(a, integer=False):
                if integer:
                    return xp.asarray(a, dtype=int_dtype, device=dev)
                return xp.asarray(a.astype(dtype), device=dev)

            return convert

        runners.append(Runner(f"{name}-{label}", name, label, tuple(floats), {d: backends.TOLERANCE[d] for d in floats}, make,
                              _Reader(cpu), None, caps, xp=xp, readback=None))
    return runners


# -- the rows -------------------------------------------------------------------------------------------------
def run_parity(runners: list[Runner], *, cells=CELLS, battery=BATTERY, with_torch: bool = True,
               skip=frozenset()) -> list[dict]:
    """One row per runner x dtype x cell, less the (runner id, cell) pairs in ``skip``."""
    refs: dict = {}
    rows = []
    for r in runners:
        for dtype in r.dtypes:
            for cell in cells:
                if (r.id, cell) in skip:
                    continue
                t0 = time.perf_counter()
                e_out = e_grad = t_out = t_grad = None
                torch_cmp, error = False, None
                cases = sum(1 for s in battery if applies(cell, s.H))
                if isinstance(r.to_numpy, _Reader):
                    r.to_numpy.used = set()
                try:
                    with r.scope() if r.scope else contextlib.nullcontext():  # JAX float64, no TF32
                        e_out, e_grad, t_out, t_grad, torch_cmp = _row(r, dtype, cell, battery, refs, with_torch)
                except Exception as e:  # a library that cannot run a case fails its row, with the reason
                    error = f"{type(e).__name__}: {e}"
                    e_out = e_grad = t_out = t_grad = None  # not computed: null, never 0.0
                if r.sync:
                    try:
                        r.sync()
                    except Exception as e:
                        error = error or f"{type(e).__name__}: {e}"
                tol = r.tolerance[dtype]
                ok = error is None and e_out <= tol["out"] and e_grad <= tol["grad"] and (
                    not torch_cmp or (t_out <= tol["out"] and t_grad <= tol["grad"]))
                how = r.readback if not isinstance(r.to_numpy, _Reader) else (
                    ",".join(sorted(r.to_numpy.used)) or None)
                rows.append({"target": r.id, "backend": r.backend, "device": r.device, "dtype": dtype, "cell": cell,
                             "cases": cases, "ref_out_err": e_out, "ref_grad_err": e_grad,
                             "torch_out_err": t_out if torch_cmp else None,
                             "torch_grad_err": t_grad if torch_cmp else None,
                             "tol_out": tol["out"], "tol_grad": tol["grad"], "pass": bool(ok), "error": error,
                             "readback": how, "ms": 1e3 * (time.perf_counter() - t0)})
    return rows


def _row(r: Runner, dtype: str, cell: str, battery, refs: dict, with_torch: bool):
    """Worst errors of one runner/dtype/cell over the battery."""
    e_out = e_grad = t_out = t_grad = 0.0
    torch_cmp = False
    for i, s in enumerate(battery):
        if not applies(cell, s.H):  # e.g. proj_size=2 needs hidden_size > 2
            continue
        key = (cell, i)
        if key not in refs:
            d = inputs(cell, s, seed=100 + i)
            refs[key] = (d, {}, torch_run(cell, s, d) if with_torch else None)
        d, by_dtype, tref = refs[key]
        if dtype not in by_dtype:  # the reference on inputs rounded to this dtype
            up = lambda a, integer=False: a if integer else a.astype(dtype).astype(np.float64)  # noqa: E731
            by_dtype[dtype] = run(d["layer"], d, up, np.asarray)
        got = run(d["layer"], d, r.convert(dtype), r.to_numpy)
        o, g = _errors(got, by_dtype[dtype])
        e_out, e_grad = _worst((e_out, o)), _worst((e_grad, g))
        if tref is not None and dtype == "float64":
            o, g = _errors(got, {k: tref[k] for k in got})
            t_out, t_grad, torch_cmp = _worst((t_out, o)), _worst((t_grad, g)), True
    return e_out, e_grad, t_out, t_grad, torch_cmp


def collect(backend: str | None, namespaces: list[str]) -> tuple[list[Runner], list[dict]]:
    """The runners of the selected registry targets and ``--namespace`` modules, and the
    absent targets with the reason each is absent."""
    runners, absent = [], []
    targets = backends.selected(backend) if (backend or not namespaces) else []
    for t in targets:
        why = t.unavailable()
        if why:
            absent.append({"target": t.id, "reason": why})
        else:
            runners.append(registry_runner(t))
    for spec in namespaces:
        runners += generic_runners(spec, absent=absent)
    return runners, absent


def probe(runners: list[Runner], cells=CELLS) -> tuple[list[dict], list[dict]]:
    """The rows that cannot run: one entry per runner x dtype x cell whose namespace lacks
    a name of :func:`row_uses` of the cell, ``{"target", "dtype", "cell", "needs"}``
    (``needs``: the names it lacks), and one per library that lacks some,
    ``{"namespace", "lacks", "targets"}``."""
    skipped, missing = [], {}
    for r in runners:
        if r.xp is None:
            continue
        for cell in cells:
            needs = missing_functions(r.xp, row_uses(cell))
            if not needs:
                continue
            skipped += [{"target": r.id, "dtype": d, "cell": cell, "needs": needs} for d in r.dtypes]
            m = missing.setdefault(r.backend, {"namespace": r.backend, "lacks": [], "targets": []})
            m["lacks"] = sorted({*m["lacks"], *needs})
            if r.id not in m["targets"]:
                m["targets"].append(r.id)
    return skipped, list(missing.values())


