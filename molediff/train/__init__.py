"""The training engine shared by every modality: one Lightning module over the core's
parameterizations, data glue through the domain interface, checkpoints, sampling glue
and the train / sample / evaluate tasks."""

from molediff.train.builders import Components, build_components, build_denoiser, build_domain
from molediff.train.checkpoint import AtomicCheckpointIO, checkpoint_config, load_checkpoint
from molediff.train.data import DomainDataModule, StepBatchSampler
from molediff.train.module import DiffusionModule
from molediff.train.sampling import ClassifierFreeGuidance, NoGuidance, SamplerSpec, generate

__all__ = [
    "Components",
    "build_components",
    "build_denoiser",
    "build_domain",
    "AtomicCheckpointIO",
    "checkpoint_config",
    "load_checkpoint",
    "DomainDataModule",
    "StepBatchSampler",
    "DiffusionModule",
    "SamplerSpec",
    "NoGuidance",
    "ClassifierFreeGuidance",
    "generate",
]
