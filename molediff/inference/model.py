"""Loading a trained model for generation, without Lightning.

::

    from molediff.inference import load_model

    model = load_model("molediff/checkpoints/conformers_qm9.pt")          # EMA weights
    results = model.generate(10, condition="CC(=O)Oc1ccccc1C(=O)O", seed=0)
    model = load_model(path, sampler="dpmpp_2m", steps=20)                # overrides

:func:`load_model` reads and verifies the checkpoint (format, weights hash; see
:mod:`molediff.inference.checkpoint`), builds the domain, the denoiser with its (EMA)
weights, the schedule, the sampler and the guidance from the stored config with any
overrides applied, and :meth:`Model.generate` runs the domain's own generation path
(:meth:`molediff.domains.base.Domain.generate`), so every command that generates applies
the same checks.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf, open_dict
from torch import Tensor

from molediff.core.denoisers import Denoiser
from molediff.core.samplers import DenoiserFn, SamplerSpec, sample
from molediff.core.schedules import Schedule
from molediff.core.space import Space
from molediff.domains.base import Domain
from molediff.inference.builders import build_components
from molediff.inference.checkpoint import (
    META_KEY,
    checkpoint_config,
    load_checkpoint,
    network_weights,
)
from molediff.inference.guidance import Guidance, NoGuidance
from molediff.utils.device import resolve_device
from molediff.utils.errors import CheckpointError, UsageError
from molediff.utils.instantiate import instantiate


@dataclass
class Model:
    """A denoiser ready to sample, with everything its domain needs.

    Attributes:
        domain, denoiser, schedule, sampler, guidance: the built components.
        config: the effective run config (the checkpoint's, overrides applied).
        meta: the checkpoint's ``molediff`` entry (``global_step``, ``training``, ...).
        path: the checkpoint file (``None`` for a model built in memory).
        stats: counters of the last :meth:`generate` call (``nfe``, ``sampling_seconds``).
    """

    domain: Domain
    denoiser: Denoiser
    schedule: Schedule
    sampler: SamplerSpec
    guidance: Guidance = field(default_factory=NoGuidance)
    config: DictConfig | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    stats: dict[str, float] = field(default_factory=dict)

    @property
    def trained_steps(self) -> int:
        """Optimizer steps the weights were trained for (-1 when unknown)."""
        return int(self.meta.get("global_step", -1))

    def draw(self, template: Tensor, cond: Any, space: Space,
             generator: torch.Generator | None = None, *,
             start_sigma: float | None = None,
             transform: Callable[[DenoiserFn], DenoiserFn] | None = None,
             callback: Callable[[dict[str, Any]], None] | None = None) -> Tensor:
        """One sampler run from noise on ``space`` to clean samples (the domain's
        ``template`` values are kept where ``space`` fixes elements).

        ``start_sigma`` (data units, e.g. Å): partial diffusion. The run starts from the
        whole ``template`` noised to this level (``template + start_sigma · noise``) and
        takes only the grid's steps below it, instead of starting from pure noise.

        ``transform``: a core guidance transform applied over the model's own guidance
        (e.g. ``lambda d: inpaint(d, known, mask)``), for runs a domain asks of one batch.

        ``callback``: called after every network evaluation with the core samplers'
        ``{"step", "x", "sigma", "denoised"}`` (e.g. to record a trajectory)."""
        sigmas = self.schedule.sigmas(self.sampler.steps).to(template.device).float()
        fn = self.guidance.wrap(self.denoiser, self.domain, cond)
        if transform is not None:
            fn = transform(fn)
        template = template.float()
        if start_sigma is not None:
            below = sigmas[sigmas < float(start_sigma)]
            sigmas = torch.cat([sigmas.new_tensor([float(start_sigma)]), below])
            template = space.project(template)
        with torch.no_grad():
            x, nfe = sample(self.sampler.fn, fn, template, sigmas, space=space, cond=cond,
                            generator=generator, callback=callback,
                            from_template=start_sigma is not None,
                            **self.sampler.options)
        self.stats["nfe"] = float(nfe)
        return x

    def generate(
        self,
        num_samples: int,
        *,
        condition: Any = None,
        seed: int = 0,
        batch_size: int = 256,
        progress: bool | Callable[..., None] | None = None,
        **options: Any,
    ) -> Any:
        """``num_samples`` samples through the domain's own generation path
        (:meth:`~molediff.domains.base.Domain.generate`): checks, resampling and
        post-processing included. ``options`` are the domain's generation options.

        Args:
            condition: the domain's condition (a SMILES, a class label, ...).
            seed: all sampling noise derives from it.
            batch_size: samples per network batch.
            progress: ``True`` for a progress bar on stderr (rate, ETA and the current stage;
                quiet when stderr is not a terminal), or a callable
                ``progress(k, stage=None)`` receiving the count of finished samples.
        """
        if int(num_samples) < 1:
            raise UsageError(f"the number of samples must be >= 1, got {num_samples}")
        if int(batch_size) < 1:
            raise UsageError(f"the batch size must be >= 1, got {batch_size}")
        self.stats = {}
        bar = None
        callback: Callable[..., None] | None = progress if callable(progress) else None
        if progress is True:
            from tqdm import tqdm

            bar = tqdm(total=int(num_samples), unit="sample", desc=f"sampling {self.domain.name}",
                       file=sys.stderr, disable=None, dynamic_ncols=True)

            def callback(k: int, stage: str | None = None) -> None:
                if stage is not None:
                    bar.set_description(f"{self.domain.name}: {stage}")
                if bar.n + k > bar.total:  # resampling draws more than first planned
                    bar.total = bar.n + k
                bar.update(k)
        start = time.perf_counter()
        was_training = self.denoiser.training
        self.denoiser.eval()
        try:
            samples = self.domain.generate(
                self.draw, int(num_samples), condition=condition, seed=int(seed),
                batch_size=int(batch_size), device=self.device, progress=callback, **options)
        finally:
            self.denoiser.train(was_training)
            if bar is not None:
                bar.close()
        self.stats["sampling_seconds"] = time.perf_counter() - start
        return samples

    def to(self, device: torch.device | str) -> Model:
        """Move the denoiser (and where it samples) to ``device``."""
        self.device = torch.device(device)
        self.denoiser.to(self.device)
        return self


def _sampler_override(current: SamplerSpec, sampler: Any, steps: int | None,
                      options: Mapping[str, Any] | None) -> SamplerSpec:
    """``sampler``: ``None`` (keep the checkpoint's, options merged over its own), a name
    (the core's defaults plus ``options``), a :class:`SamplerSpec` or a config node."""
    try:
        if sampler is None:
            spec = SamplerSpec(current.name, current.steps, {**current.options, **(options or {})})
        elif isinstance(sampler, str):
            spec = SamplerSpec(sampler, current.steps, dict(options or {}))
        elif isinstance(sampler, SamplerSpec):
            spec = SamplerSpec(sampler.name, sampler.steps, {**sampler.options, **(options or {})})
        else:
            spec = instantiate(sampler, what="sampler")
            spec = SamplerSpec(spec.name, spec.steps, {**spec.options, **(options or {})})
        if steps is not None:
            spec = SamplerSpec(spec.name, int(steps), spec.options)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return spec


def load_model(
    path: str | Path,
    *,
    expect_domain: str | None = None,
    sampler: str | SamplerSpec | DictConfig | None = None,
    steps: int | None = None,
    sampler_options: Mapping[str, Any] | None = None,
    schedule: DictConfig | None = None,
    guidance: DictConfig | None = None,
    use_ema: bool = True,
    device: str | torch.device | None = "cpu",
    setup: bool = False,
) -> Model:
    """Read, verify and build a checkpoint's model for generation.

    Args:
        path: a molediff checkpoint (training ``last.ckpt`` or a shipped ``.pt``).
        expect_domain: refuse checkpoints of another domain.
        sampler, steps, sampler_options: sampling overrides (see :func:`_sampler_override`).
        schedule, guidance: config nodes replacing the stored ones.
        use_ema: sample with the EMA weights (default) or the raw ones.
        device: torch device (``auto``: CUDA when available).
        setup: also load the domain's data (needed to sample without a condition).

    Raises:
        CheckpointError: unreadable, damaged, other domain, or weights that do not fit.
        UsageError: an invalid override or device.
    """
    dev = resolve_device(device)
    ckpt = load_checkpoint(path, expect_domain=expect_domain)
    cfg = checkpoint_config(ckpt)
    with open_dict(cfg):
        if schedule is not None:
            cfg.schedule = schedule
        if guidance is not None:
            cfg.guidance = guidance
    comps = build_components(cfg)
    meta = ckpt[META_KEY]
    if comps.domain.name != meta.get("domain"):
        raise CheckpointError(f"checkpoint {path} says domain {meta.get('domain')!r} but its "
                              f"config builds {comps.domain.name!r}")
    try:
        comps.denoiser.load_state_dict(network_weights(ckpt, use_ema))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(f"checkpoint weights do not fit the model of its config: "
                              f"{first}") from exc
    spec = _sampler_override(comps.sampler, sampler, steps, sampler_options)
    with open_dict(cfg):
        cfg.sampler = {"_target_": "molediff.core.samplers.SamplerSpec", "name": spec.name,
                       "steps": spec.steps, "options": dict(spec.options)}
    comps.denoiser.eval().requires_grad_(False)
    if setup:
        comps.domain.setup()
    model = Model(comps.domain, comps.denoiser, comps.schedule, spec, comps.guidance,
                  config=cfg, meta=dict(meta), path=Path(path))
    return model.to(dev)


def config_yaml(model: Model) -> str:
    """The effective config of ``model`` as YAML (what a run writes as config_used.yaml)."""
    return OmegaConf.to_yaml(model.config) if model.config is not None else ""
