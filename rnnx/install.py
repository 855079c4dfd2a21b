"""The command that installs one of rnnx's optional dependency groups (``pyproject.toml``'s
extras: ``data``, ``panel``, ``dask``, ``cli``, ``jax``, ``torch``, ...), for the messages that
name a missing package.

rnnx is not on PyPI, so installing ``rnnx[data]`` by name fails.  From a checkout (the usual
install: ``pip install -e .``) the command is ``pip install -e '<checkout>[data]'`` (``'.[data]'``
when run in the checkout); an rnnx installed from a wheel, without its checkout, gets the
extra's own requirements (``pip install 'vega_datasets>=0.9'``) from its installed metadata.
Standard library only: the backends' and the data readers' messages use it.
"""

from __future__ import annotations

import os
import shlex

__all__ = ["install_command"]


def _checkout() -> str | None:
    """The folder of the checkout this rnnx was imported from (its ``pyproject.toml`` names
    the project ``rnnx``), or None for an installed copy."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        with open(os.path.join(root, "pyproject.toml"), encoding="utf-8") as f:
            text = f.read(1 << 16)
    except OSError:
        return None
    return root if 'name = "rnnx"' in text else None


def _requirements(extra: str) -> list[str]:
    """The requirements of ``extra`` in the installed rnnx's metadata ([] when unknown)."""
    from importlib import metadata

    try:
        reqs = metadata.requires("rnnx") or []
    except metadata.PackageNotFoundError:
        return []
    out = []
    for r in reqs:
        spec, _, marker = r.partition(";")
        if marker.replace(" ", "").replace("'", '"') == f'extra=="{extra}"':
            out.append(spec.strip())
    return out


def install_command(extra: str) -> str:
    """The shell command that installs rnnx's optional dependencies ``extra``: ``pip install -e
    '<checkout>[extra]'`` from a checkout (``'.[extra]'`` when the working folder is the
    checkout), else ``pip install`` of the extra's requirements; neither known: the checkout
    command to run in an rnnx checkout."""
    root = _checkout()
    if root is not None:
        here = os.path.realpath(os.getcwd()) == os.path.realpath(root)
        return f"pip install -e {shlex.quote(('.' if here else root) + f'[{extra}]')}"
    reqs = _requirements(extra)
    if reqs:
        return "pip install " + " ".join(shlex.quote(r) for r in reqs)
    return f"pip install -e '.[{extra}]' (in an rnnx checkout)"
