"""Registry names for the things a checkpoint must rebuild (domains, networks,
parameterizations, schedules, sampler specs, guidance, LR schedules).

A checkpoint stores ``_name_: model.egnn`` where a config says
``_target_: molediff.nn.egnn.EGNN``, so moving a class to another module breaks no model
in users' hands: only the registry entry changes. Names come from the entry-point group
``molediff.components`` (``"<kind>.<name>" = "package.module:Class"`` in a package's
``pyproject.toml``), so a modality shipped as its own package registers its names without
editing molediff; :func:`register` adds names at run time (tests, notebooks).

A ``_target_`` that is not registered (a user's own class) is stored as it is.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from molediff.utils.errors import CheckpointError

GROUP = "molediff.components"

_runtime: dict[str, str] = {}


@cache
def _installed() -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        eps = entry_points(group=GROUP)
    except Exception:  # noqa: BLE001 - broken metadata of another package must not stop us
        return out
    for ep in eps:
        out[ep.name] = ep.value.replace(":", ".")
    return out


def names() -> dict[str, str]:
    """Every registered ``name -> dotted target`` (installed entry points, then run-time)."""
    return _installed() | _runtime


def register(name: str, target: str) -> None:
    """Register ``name`` (``"<kind>.<name>"``, e.g. ``"domain.toy"``) for ``target``
    (``"package.module.Class"`` or ``"package.module:Class"``)."""
    if "." not in name:
        raise ValueError(f"registry names look like '<kind>.<name>', got {name!r}")
    _runtime[name] = target.replace(":", ".")


def target_of(name: str) -> str:
    """The dotted import path registered for ``name``.

    Raises:
        CheckpointError: unknown name (e.g. a checkpoint of a modality that is not installed).
    """
    table = names()
    if name not in table:
        kind = name.split(".", 1)[0]
        known = sorted(n for n in table if n.startswith(kind + "."))
        raise CheckpointError(
            f"unknown component {name!r}: is the package that provides it installed? "
            f"(known {kind}s: {', '.join(known) or 'none'})")
    return table[name]


def name_of(target: str) -> str | None:
    """The registry name of a dotted target, or ``None`` when it is not registered."""
    for name, t in names().items():
        if t == target:
            return name
    return None
