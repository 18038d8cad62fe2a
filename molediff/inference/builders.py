"""Config -> objects: the domain, its network inside a core parameterization, the
schedule, the sampler spec and the guidance. Used by training, sampling and evaluation
alike, so a checkpoint's saved config rebuilds exactly the trained model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig

from molediff.core.denoisers import Denoiser
from molediff.core.samplers import SamplerSpec
from molediff.core.schedules import Schedule
from molediff.domains.base import Domain
from molediff.inference.guidance import Guidance, NoGuidance
from molediff.utils.errors import ConfigError
from molediff.utils.instantiate import instantiate


@dataclass
class Components:
    """Everything built from one config."""

    domain: Domain
    denoiser: Denoiser
    schedule: Schedule
    sampler: SamplerSpec
    guidance: Guidance


def build_domain(cfg: DictConfig) -> Domain:
    """The domain of ``cfg.domain`` (not yet set up)."""
    domain = instantiate(cfg.domain, what="domain")
    if not isinstance(domain, Domain):
        raise ConfigError(f"domain config builds {type(domain).__name__}, not a molediff Domain")
    return domain


def build_denoiser(cfg: DictConfig, domain: Domain) -> Denoiser:
    """``cfg.parameterization`` (a partial ``Denoiser``) around ``domain.build_net(cfg.model)``."""
    net = domain.build_net(cfg.model)
    denoiser = instantiate(cfg.parameterization, what="parameterization", net=net)
    if not isinstance(denoiser, Denoiser):
        raise ConfigError(
            f"parameterization config builds {type(denoiser).__name__}, not a core Denoiser"
        )
    return denoiser


def build_components(cfg: DictConfig, domain: Domain | None = None) -> Components:
    """Build domain (unless given), denoiser, schedule, sampler spec and guidance."""
    domain = domain if domain is not None else build_domain(cfg)
    denoiser = build_denoiser(cfg, domain)
    schedule = instantiate(cfg.schedule, what="schedule")
    sampler = instantiate(cfg.sampler, what="sampler")
    guidance_cfg: Any = cfg.get("guidance")
    guidance = instantiate(guidance_cfg, what="guidance") if guidance_cfg else NoGuidance()
    return Components(domain, denoiser, schedule, sampler, guidance)
