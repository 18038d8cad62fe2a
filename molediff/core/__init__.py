"""The diffusion core: spaces, schedules, denoiser parameterizations, samplers, guidance, EMA.

Pure torch: nothing here imports torch_geometric or a domain.
"""

from molediff.core.denoisers import (
    Denoiser,
    EDMDenoiser,
    EpsDenoiser,
    NFECounter,
    VDenoiser,
    X0Denoiser,
    get_parameterization,
)
from molediff.core.ema import EMA
from molediff.core.guidance import classifier_free, gradient_guidance, inpaint, repaint
from molediff.core.samplers import NonFiniteError, SamplerSpec, get_sampler, sample
from molediff.core.schedules import LogNormal, Schedule, check_sigmas, get_schedule
from molediff.core.space import DenseSpace, GraphSpace, Space

__all__ = [
    "DenseSpace",
    "GraphSpace",
    "Space",
    "Schedule",
    "LogNormal",
    "get_schedule",
    "check_sigmas",
    "Denoiser",
    "EpsDenoiser",
    "X0Denoiser",
    "VDenoiser",
    "EDMDenoiser",
    "NFECounter",
    "get_parameterization",
    "get_sampler",
    "SamplerSpec",
    "sample",
    "NonFiniteError",
    "classifier_free",
    "gradient_guidance",
    "inpaint",
    "repaint",
    "EMA",
]
