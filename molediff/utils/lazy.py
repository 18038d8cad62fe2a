"""Lazy package exports: a package names what it offers without importing the heavy
modules behind it until one is used (``import molediff.nn`` does not load e3nn; the
conformer command checks its output path before torch loads)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` that imports ``exports[name]`` (a module path) on
    first access of ``name`` and returns its attribute ``name``."""

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
