"""The array-namespace spec of ``rnnx parity --namespace`` and the pytest plugin's ``--xp``.

``MODULE``, ``MODULE:ATTR`` or ``MODULE:FACTORY(ARGS)``, each optionally ``@DEVICE``
(:func:`namespace_spec`).  Nothing in the text is evaluated but Python literals; module
names are imported.  Imports no array library.
"""

from __future__ import annotations

import contextlib
import importlib
import re
import types
from typing import Any

__all__ = ["SPEC", "SPEC_FORMS", "namespace_spec"]

_IDENT = r"[A-Za-z][A-Za-z0-9_]*"
_DOTTED = rf"{_IDENT}(?:\.{_IDENT})*"
#: The spec's grammar: module, ``:`` attribute and ``(ARGS)``, ``@`` device.
SPEC = re.compile(rf"(?P<module>{_DOTTED})(?::(?P<attr>{_DOTTED})(?P<call>\(.*\))?)?(?:@(?P<device>[\w.:+-]+))?",
                   re.DOTALL)
#: The forms, as error messages name them.
SPEC_FORMS = "MODULE, MODULE:ATTR or MODULE:FACTORY(ARGS), each optionally @DEVICE"


def _import(name: str, what: str, option: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise ValueError(f"{option}: cannot import {what}{name!r} ({e})") from None


def _argument(node: Any, spec: str, option: str) -> Any:
    """One factory argument: a Python literal, or a dotted name that imports as a module."""
    import ast

    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    parts, n = [], node
    while isinstance(n, ast.Attribute):
        parts.append(n.attr)
        n = n.value
    if isinstance(n, ast.Name) and not any(p.startswith("_") for p in [n.id, *parts]):
        return _import(".".join([n.id, *reversed(parts)]), "the argument ", option)
    raise ValueError(f"{option}: an argument of {spec!r}, {ast.unparse(node)!r}, is not a Python literal or a "
                     "module name; expected FACTORY(ARGS) with literals (1, 'a', None, (1, 2)) and module names")


def namespace_spec(spec: str, *, option: str = "--namespace") -> tuple[str, Any, str | None]:
    """``--namespace``'s value as (its name in target ids, the object it names, the device
    label or None).  ``MODULE`` (an importable module), ``MODULE:ATTR`` (a dotted attribute
    of it), ``MODULE:FACTORY(ARGS)`` (the result of calling that attribute: ARGS are Python
    literals, read by ``ast.literal_eval``, or module names, imported; ``KEY=VALUE``
    too), each optionally followed by ``@DEVICE``: ``marray:masked_namespace(numpy)``,
    ``array_api_strict@device1``.  Nothing else is evaluated: any other text is refused
    with ``ValueError`` starting with ``option`` (the flag that gave the text: ``rnnx parity
    --namespace``, the pytest plugin's ``--xp``), then a colon."""
    import ast

    m = SPEC.fullmatch(spec.strip())
    if not m:
        raise ValueError(f"{option}: expected {SPEC_FORMS}, got {spec!r}")
    module, attr, call, device = m.group("module", "attr", "call", "device")
    obj = _import(module, "", option)
    name = module
    if attr:
        path = module
        for part in attr.split("."):
            path = f"{path}.{part}"
            if not part.startswith("_") and not hasattr(obj, part) and isinstance(obj, types.ModuleType):
                with contextlib.suppress(ImportError):  # a submodule not imported by its package
                    importlib.import_module(path)
            if part.startswith("_") or not hasattr(obj, part):
                raise ValueError(f"{option}: {module!r} has no attribute {attr!r} (a device is named with @: "
                                 f"{module}@DEVICE)")
            obj = getattr(obj, part)
        name = f"{module}:{attr}"
    if call:
        try:
            node = ast.parse(f"f{call}", mode="eval").body
        except SyntaxError:
            node = None
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            raise ValueError(f"{option}: expected {SPEC_FORMS}, got {spec!r}")
        if any(k.arg is None for k in node.keywords):
            raise ValueError(f"{option}: '**' in {spec!r} is not a Python literal or a module name")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise ValueError(f"{option}: '*' in {spec!r} is not a Python literal or a module name")
        args = [_argument(a, spec, option) for a in node.args]
        kwargs = {k.arg: _argument(k.value, spec, option) for k in node.keywords}
        if not callable(obj):
            raise ValueError(f"{option}: {name!r} is not callable ({type(obj).__name__}); expected "
                             f"{SPEC_FORMS}")
        try:
            obj = obj(*args, **kwargs)
        except Exception as e:
            raise ValueError(f"{option}: {name}{call} raised {type(e).__name__}: {e}") from None
        name = f"{name}({','.join([*map(ast.unparse, node.args), *map(ast.unparse, node.keywords)])})"
    return name, obj, device
