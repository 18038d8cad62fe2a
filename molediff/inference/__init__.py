"""Generation from trained checkpoints without Lightning: read and verify a checkpoint,
build its model, sample through the domain's own generation path.

Layering: imports ``utils``, ``core``, ``nn`` and ``domains`` only (never ``train`` or
``cli``); ``molediff.train`` and the commands build on it.
"""

from molediff.inference.checkpoint import (
    FORMAT_VERSION,
    checkpoint_config,
    export_checkpoint,
    load_checkpoint,
)
from molediff.inference.guidance import ClassifierFreeGuidance, Guidance, NoGuidance
from molediff.inference.model import Model, load_model

__all__ = [
    "FORMAT_VERSION",
    "ClassifierFreeGuidance",
    "Guidance",
    "Model",
    "NoGuidance",
    "checkpoint_config",
    "export_checkpoint",
    "load_checkpoint",
    "load_model",
]
