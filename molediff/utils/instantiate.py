"""The one place where Hydra configs become objects.

Every ``_target_`` in ``conf/`` is built through :func:`instantiate`, so errors read the
same everywhere (``ConfigError: cannot build <what> (<target>): <reason>``) and there is
one spot to add logging or allow-lists later.
"""

from __future__ import annotations

from typing import Any

import hydra.utils
from hydra.errors import InstantiationException
from omegaconf import DictConfig, ListConfig, OmegaConf

from molediff.utils.errors import ConfigError, MolediffError


def instantiate(cfg: Any, *args: Any, what: str | None = None, **kwargs: Any) -> Any:
    """Build the object described by ``cfg`` (a node with ``_target_``).

    Args:
        cfg: a ``DictConfig``/dict with ``_target_`` (``_partial_`` allowed).
        *args: positional arguments passed to the target.
        what: a name for error messages, e.g. ``"schedule"``.
        **kwargs: keyword arguments merged over the config's own.

    Raises:
        ConfigError: when the target cannot be imported or called with these arguments.
    """
    if cfg is None:
        raise ConfigError(f"no configuration given for {what or 'object'}")
    target = _target_of(cfg)
    if target is None:
        raise ConfigError(f"configuration for {what or 'object'} has no _target_")
    try:
        return hydra.utils.instantiate(cfg, *args, **kwargs)
    except MolediffError:
        raise
    except InstantiationException as exc:
        inner = exc.__cause__ if exc.__cause__ is not None else exc
        if isinstance(inner, MolediffError):
            raise inner from None
        raise ConfigError(f"cannot build {what or 'object'} ({target}): {inner}") from exc
    except Exception as exc:  # noqa: BLE001 - anything the target raises is a config problem
        raise ConfigError(f"cannot build {what or 'object'} ({target}): {exc}") from exc


def _target_of(cfg: Any) -> str | None:
    if isinstance(cfg, DictConfig):
        return OmegaConf.select(cfg, "_target_")
    if isinstance(cfg, dict):
        return cfg.get("_target_")
    if isinstance(cfg, ListConfig):
        return None
    return None
