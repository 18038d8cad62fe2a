"""The checkpoint file format: read, verify, migrate, write.

A molediff checkpoint is a dictionary of tensors and plain containers (it loads with
``torch.load(weights_only=True)``)::

    {"state_dict": {...},                       # network weights (EMA under ema.shadow.*)
     "molediff": {"format": 2,
                  "domain": "conformers",
                  "config_yaml": "<resolved run config>",
                  "weights_sha256": "<hash of state_dict>",
                  "global_step": 18887, "training": {...}}}

plus, for a training checkpoint, Lightning's optimizer and loop state (resumable).

- **Registry names, not module paths.** In ``config_yaml`` every registered ``_target_``
  is written as ``_name_: <kind>.<name>`` (:mod:`molediff.utils.registry`), so moving a
  class never breaks a checkpoint; unregistered targets (a user's own class) stay paths.
- **Integrity.** ``weights_sha256`` is computed when the file is written and checked when
  it is read: a file with flipped bytes in its tensors is refused, not sampled.
- **Migrations.** :data:`MIGRATIONS` maps a format version to the function that lifts a
  checkpoint's ``molediff`` entry to the next one; files of every older format load.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from molediff.utils import registry
from molediff.utils.errors import CheckpointError
from molediff.utils.torchfile import load_file, save_file, tensors_sha256

FORMAT_VERSION = 2
META_KEY = "molediff"

#: classes that moved between format 1 and 2 (format-1 files name them by module path)
_MOVED_IN_2 = {
    "molediff.train.sampling.SamplerSpec": "molediff.core.samplers.SamplerSpec",
    "molediff.train.sampling.NoGuidance": "molediff.inference.guidance.NoGuidance",
    "molediff.train.sampling.ClassifierFreeGuidance":
        "molediff.inference.guidance.ClassifierFreeGuidance",
    # the digits domain was configured through its package's re-export
    "molediff.domains.digits.DigitsDomain": "molediff.domains.digits.domain.DigitsDomain",
}


# ------------------------------------------------------------------ config <-> names
def _walk(node: Any, fn: Callable[[dict[str, Any]], None]) -> Any:
    if isinstance(node, dict):
        for v in node.values():
            _walk(v, fn)
        fn(node)
    elif isinstance(node, list):
        for v in node:
            _walk(v, fn)
    return node


def _rekey(node: dict[str, Any], old: str, new: str, value: Any) -> None:
    """Replace ``node[old]`` by ``node[new] = value`` in the same (first) place, so the
    stored YAML reads like the config it came from."""
    rest = {k: v for k, v in node.items() if k != old}
    node.clear()
    node.update({new: value, **rest})


def _targets_to_names(node: dict[str, Any]) -> None:
    target = node.get("_target_")
    name = registry.name_of(target) if isinstance(target, str) else None
    if name is not None:
        _rekey(node, "_target_", "_name_", name)


def _names_to_targets(node: dict[str, Any]) -> None:
    name = node.get("_name_")
    if isinstance(name, str):
        _rekey(node, "_name_", "_target_", registry.target_of(name))


def config_to_yaml(cfg: DictConfig | dict[str, Any]) -> str:
    """A resolved config as stored in checkpoints: registered targets become names."""
    container = (OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig)
                 else dict(cfg))
    return OmegaConf.to_yaml(OmegaConf.create(_walk(container, _targets_to_names)))


def config_from_yaml(text: str) -> DictConfig:
    """The stored config with every ``_name_`` turned back into today's ``_target_``.

    Raises:
        CheckpointError: a component name that no installed package provides.
    """
    container = OmegaConf.to_container(OmegaConf.create(text), resolve=False)
    cfg = OmegaConf.create(_walk(container, _names_to_targets))
    assert isinstance(cfg, DictConfig)
    return cfg


# ------------------------------------------------------------------------ migrations
def _migrate_1_to_2(meta: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """Format 1 stored module paths and no content hash."""
    container = OmegaConf.to_container(OmegaConf.create(meta["config_yaml"]), resolve=False)

    def rename(node: dict[str, Any]) -> None:
        t = node.get("_target_")
        if isinstance(t, str) and t in _MOVED_IN_2:
            node["_target_"] = _MOVED_IN_2[t]

    _walk(container, rename)
    meta = dict(meta)
    meta["config_yaml"] = config_to_yaml(container)
    meta["format"] = 2
    meta["migrated_from"] = 1  # no hash to verify: format 1 never stored one
    return meta


#: format version -> function lifting ``(meta, state_dict)`` to the next version's meta
MIGRATIONS: dict[int, Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]] = {
    1: _migrate_1_to_2,
}


def migrate(meta: dict[str, Any], state: dict[str, Any], path: str | Path = "") -> dict[str, Any]:
    """Lift a checkpoint's ``molediff`` entry to :data:`FORMAT_VERSION`."""
    version = int(meta.get("format", 1))
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format {version}; this molediff reads "
                              f"<= {FORMAT_VERSION} (upgrade molediff)")
    while version < FORMAT_VERSION:
        if version not in MIGRATIONS:
            raise CheckpointError(f"{path}: no migration from checkpoint format {version}")
        meta = MIGRATIONS[version](meta, state)
        version = int(meta["format"])
    return meta


# ---------------------------------------------------------------------- read / write
def seal(ckpt: dict[str, Any]) -> dict[str, Any]:
    """Stamp the current format and the weights' content hash into ``ckpt[META_KEY]``
    (call right before writing)."""
    meta = ckpt.setdefault(META_KEY, {})
    meta["format"] = FORMAT_VERSION
    meta["weights_sha256"] = tensors_sha256(ckpt["state_dict"])
    return ckpt


def load_checkpoint(path: str | Path, expect_domain: str | None = None,
                    map_location: Any = "cpu") -> dict[str, Any]:
    """Read, verify and migrate a molediff checkpoint.

    Raises:
        CheckpointError: missing or unreadable file, not a molediff checkpoint, a newer
            format, weights that do not match their stored hash (a damaged file), or (with
            ``expect_domain``) a model of another domain.
    """
    ckpt = load_file(path, map_location)
    meta = ckpt.get(META_KEY)
    state = ckpt.get("state_dict")
    if not isinstance(meta, dict) or "config_yaml" not in meta or not isinstance(state, dict):
        raise CheckpointError(f"{path} is not a molediff checkpoint (no '{META_KEY}' entry)")
    stored_format = int(meta.get("format", 1))
    if stored_format >= 2:
        want = meta.get("weights_sha256")
        if not want:
            raise CheckpointError(f"{path} has no weights hash; it was not written by molediff")
        if tensors_sha256(state) != want:
            raise CheckpointError(
                f"checkpoint {path} is damaged: its weights do not match the hash written with "
                "them (the file changed after it was saved); use an intact copy")
    ckpt[META_KEY] = migrate(meta, state, path)
    if expect_domain is not None and ckpt[META_KEY].get("domain") != expect_domain:
        raise CheckpointError(f"checkpoint {path} was trained on domain "
                              f"{ckpt[META_KEY].get('domain')!r}, not {expect_domain!r}")
    return ckpt


def checkpoint_config(ckpt: dict[str, Any]) -> DictConfig:
    """The run config stored in a (loaded) checkpoint, with today's ``_target_`` paths."""
    return config_from_yaml(ckpt[META_KEY]["config_yaml"])


def network_weights(ckpt: dict[str, Any], use_ema: bool = True) -> dict[str, Any]:
    """The denoiser's weights (EMA shadow by default) from a checkpoint's ``state_dict``."""
    prefix = "ema.shadow." if use_ema else "denoiser."
    state = {k[len(prefix):]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    if not state:
        raise CheckpointError(f"checkpoint has no '{prefix}*' weights"
                              + ("" if use_ema else " (a shipped checkpoint keeps only EMA weights)"))
    return state


def write_checkpoint(ckpt: dict[str, Any], path: str | Path) -> Path:
    """Seal (format, hash) and write atomically."""
    return save_file(seal(ckpt), path)


def export_checkpoint(
    src: str | Path,
    dst: str | Path,
    *,
    expect_domain: str | None = None,
    sampler: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    domain: dict[str, Any] | None = None,
) -> Path:
    """Slim a training checkpoint into one to ship: the EMA weights (``ema.shadow.*``) and
    the ``molediff`` entry only, in the current format.

    Args:
        sampler: replaces the config's ``sampler`` entry (``name``, ``steps``, ``options``):
            the default sampling the model ships with, chosen after training.
        training: facts about the training budget stored as ``molediff.training``
            (e.g. ``device``, ``train_seconds``), shown by benchmarks and model cards.
        domain: entries merged into the config's ``domain`` (e.g. a generation default
            chosen on validation data after training).
    """
    from molediff.core.samplers import SamplerSpec

    ckpt = load_checkpoint(src, expect_domain=expect_domain)
    state = {k: v.detach().clone() for k, v in ckpt["state_dict"].items()
             if k.startswith("ema.shadow.")}
    if not state:
        raise CheckpointError(f"{src} holds no EMA weights to export")
    meta = dict(ckpt[META_KEY])
    meta.pop("migrated_from", None)
    if sampler is not None:
        SamplerSpec(sampler["name"], sampler.get("steps", 18), sampler.get("options"))  # fail now
        cfg = checkpoint_config(ckpt)
        cfg.sampler = {"_target_": "molediff.core.samplers.SamplerSpec", **sampler}
        meta["config_yaml"] = config_to_yaml(cfg)
    if domain:
        cfg = checkpoint_config({META_KEY: meta})
        for key, value in domain.items():
            cfg.domain[key] = value
        meta["config_yaml"] = config_to_yaml(cfg)
    if training is not None:
        meta["training"] = dict(meta.get("training") or {}) | dict(training)
    return write_checkpoint({"state_dict": state, META_KEY: meta}, dst)
