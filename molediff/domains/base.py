"""The domain interface: everything the generic trainer and sampler need from a modality.

The training engine (:mod:`molediff.train`) and the command-line tools never look at a
domain's name; they only call the methods below. A new modality (conformers, molecules,
images, ...) subclasses :class:`Domain`, gets a ``conf/domain/<name>.yaml`` with its
``_target_`` and options, and from then on trains, samples, evaluates and sweeps like
every other.

Life cycle::

    domain = instantiate(cfg.domain)            # cheap: store options only
    domain.setup()                              # load / featurise data (idempotent)
    net = domain.build_net(cfg.model)           # network with the domain's sizes filled in
    batch = domain.collate([domain.train_dataset()[i] for i in idx])
    x0, cond, space = domain.batch_to(batch)    # what the core's Denoiser.loss takes
    cond = domain.drop_condition(cond, generator)   # classifier-free-guidance training
    samples = domain.generate(draw, n, condition=..., seed=...)   # sampling, which by default
        template, cond, space = domain.template(k, condition=..., generator=g)  # per chunk
        x0 = draw(template, cond, space, g)     # the sampler (molediff.inference supplies it)
        part = domain.decode(x0, cond, space)   # domain objects (images, molecules, ...)
        samples = domain.merge_samples([part, ...])
    domain.metrics(samples) -> {"name": float}
    domain.export(samples, out_dir) -> [paths]
    domain.reference_metrics(model, num_references=..., seed=...)  # held-out references

:meth:`generate` is the one generation path of a domain: every command that samples a
checkpoint (``molediff sample``, ``evaluate``, a domain's own command, the benchmarks) goes
through it, so a domain's checks and post-processing (stereo for conformers, validity
gates, ...) run whichever way it is reached.

Constructors must be cheap (tests build every ``conf/domain/*.yaml``): load data in
:meth:`setup`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset, default_collate

from molediff.core.space import Space
from molediff.utils.errors import UsageError
from molediff.utils.instantiate import instantiate

#: ``draw(template, cond, space, generator) -> x0``: one sampler run (with guidance) from
#: noise on ``space`` to clean samples; supplied by :mod:`molediff.inference`
#: (:meth:`~molediff.inference.model.Model.draw`). Keywords a domain may pass:
#: ``start_sigma`` (partial diffusion from ``template``), ``transform`` (a core guidance
#: transform over the model's denoiser, e.g. :func:`molediff.core.guidance.inpaint`) and
#: ``callback`` (called after every network evaluation with the core samplers'
#: ``{"step", "x", "sigma", "denoised"}``, e.g. to record a trajectory).
Draw = Callable[..., Tensor]

#: ``progress(k, stage=None)``: ``k`` more samples are finished; ``stage`` names what the
#: generation is doing now (``"sampling round 2"``, ``"MMFF relaxation"``), for progress bars.
Progress = Callable[..., None]


class Generator(Protocol):
    """What :meth:`Domain.reference_metrics` needs of a loaded model
    (:class:`molediff.inference.Model`): its own generation path, overrides applied."""

    def generate(self, num_samples: int, *, condition: Any = None, seed: int = 0,
                 batch_size: int = 256, progress: Any = None, **options: Any) -> Any: ...


class Domain(abc.ABC):
    """Base class of a modality.

    Args:
        sigma_data: standard deviation of the training data in data units; the
            parameterization configs read it as ``${domain.sigma_data}``.
        cond_dropout: probability of replacing a training condition by the null
            condition (classifier-free guidance); 0 disables it.
    """

    #: Short unique name, stored in every checkpoint and checked when it is loaded.
    name: str = "base"

    def __init__(self, sigma_data: float = 1.0, cond_dropout: float = 0.0) -> None:
        if not 0.0 <= cond_dropout <= 1.0:
            raise ValueError(f"cond_dropout must be in [0, 1], got {cond_dropout}")
        self.sigma_data = float(sigma_data)
        self.cond_dropout = float(cond_dropout)

    # ----------------------------------------------------------------- data
    def setup(self) -> None:  # noqa: B027 - optional hook
        """Load or featurise the data. Called once before any data method; idempotent."""

    def config_entries(self) -> dict[str, Any]:
        """Domain config values the data decided (e.g. class names), written into a
        training run's stored ``domain`` config after :meth:`setup`, so its checkpoints
        rebuild the domain without the data. Default: none."""
        return {}

    @abc.abstractmethod
    def train_dataset(self) -> Dataset:
        """Training items (any type :meth:`collate` understands)."""

    def val_dataset(self) -> Dataset | None:
        """Held-out items for the validation loss and reference metrics (or ``None``)."""
        return None

    def collate(self, items: Sequence[Any]) -> Any:
        """Items -> one batch. Dense domains use ``default_collate``; graph domains
        return ``torch_geometric.data.Batch.from_data_list(items)``."""
        return default_collate(list(items))

    @abc.abstractmethod
    def batch_to(self, batch: Any) -> tuple[Tensor, Any, Space]:
        """A collated batch (already on the training device) -> ``(x0, cond, space)`` as
        the core's ``Denoiser.loss(x0, cond, space)`` takes them."""

    def drop_condition(self, cond: Any, generator: torch.Generator | None = None) -> Any:
        """Training-time condition dropout for classifier-free guidance: replace each
        sample's condition by the null one with probability ``cond_dropout``. Default:
        no conditioning, return ``cond`` unchanged."""
        return cond

    def null_cond(self, cond: Any) -> Any:
        """The unconditional counterpart of ``cond`` (what classifier-free guidance
        evaluates for the unconditional branch). Default: ``cond`` itself."""
        return cond

    # ---------------------------------------------------------------- model
    def net_kwargs(self) -> dict[str, Any]:
        """Sizes the network needs from the data (channels, classes, feature counts),
        passed to the model config's ``_target_`` next to its own options."""
        return {}

    def build_net(self, model_cfg: Any) -> nn.Module:
        """The network ``net(x_in, c_noise, cond) -> F`` (see docs/CONTRACTS.md)."""
        return instantiate(model_cfg, what="model", **self.net_kwargs())

    # ------------------------------------------------------------- sampling
    @abc.abstractmethod
    def template(
        self,
        n: int,
        *,
        condition: Any = None,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
    ) -> tuple[Tensor, Any, Space]:
        """Shapes for ``n`` new samples: ``(template x, cond, space)``. The template's
        values matter only where ``space.loss_mask`` is 0 (fixed elements); elsewhere the
        sampler starts from noise. ``condition`` is the user's request (a class label,
        a molecule, ...), ``None`` for the domain's default (e.g. all classes in turn)."""

    @abc.abstractmethod
    def decode(self, x: Tensor, cond: Any, space: Space) -> Any:
        """Sampled ``x0`` -> domain samples (images, molecules, ...), on the CPU."""

    def merge_samples(self, parts: Sequence[Any]) -> Any:
        """Concatenate decoded chunks: lists are chained, tensors concatenated, dicts
        merged key by key."""
        return _merge(list(parts))

    def generate(
        self,
        draw: Draw,
        num_samples: int,
        *,
        condition: Any = None,
        seed: int = 0,
        batch_size: int = 256,
        device: torch.device | str = "cpu",
        progress: Progress | None = None,
        **options: Any,
    ) -> Any:
        """Draw ``num_samples`` samples, chunk by chunk, and return them decoded and merged.

        Override to add the domain's own checks and post-processing (resample what fails,
        count it); keyword ``options`` are the domain's generation options (the default
        takes none). Deterministic for a fixed ``seed``.
        """
        if options:
            raise UsageError(f"{self.name} generation takes no options "
                             f"(got {', '.join(sorted(options))})")
        gen = torch.Generator(device=device).manual_seed(int(seed))
        parts, done = [], 0
        while done < num_samples:
            n = min(batch_size, num_samples - done)
            template, cond, space = self.template(n, condition=condition, generator=gen,
                                                  device=device)
            parts.append(self.decode(draw(template, cond, space, gen), cond, space))
            done += n
            if progress is not None:
                progress(n)
        return self.merge_samples(parts)

    # ---------------------------------------------------- metrics and export
    @abc.abstractmethod
    def metrics(self, samples: Any) -> dict[str, float]:
        """Quality metrics of decoded samples (names without prefixes, float values)."""

    def reference_metrics(self, model: Generator, *, num_references: int,
                          seed: int = 0) -> dict[str, float]:
        """Scores of ``model`` (a loaded model, its sampler / schedule / guidance overrides
        applied) against ``num_references`` held-out reference structures, generated through
        ``model.generate``; ``molediff evaluate`` reports them as ``reference_*``. Domains
        without references return nothing."""
        return {}

    @abc.abstractmethod
    def export(self, samples: Any, out_dir: str | Path) -> list[Path]:
        """Write the samples as files (PNG / SDF / PDB / ...) into ``out_dir``; return the
        paths. Implementations must write atomically (:func:`molediff.utils.io.atomic_write_bytes`)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, sigma_data={self.sigma_data:.4g})"


def _merge(parts: list[Any]) -> Any:
    if not parts:
        return []
    first = parts[0]
    if isinstance(first, Tensor):
        return torch.cat(parts, dim=0)
    if isinstance(first, dict):
        return {k: _merge([p[k] for p in parts]) for k in first}
    if isinstance(first, list | tuple):
        return [item for p in parts for item in p]
    raise TypeError(f"cannot merge samples of type {type(first).__name__}; override merge_samples")
