"""Small shared utilities: errors, the one ``instantiate`` helper, atomic file writes."""

from molediff.utils.errors import CheckpointError, ConfigError, MolediffError
from molediff.utils.instantiate import instantiate

__all__ = ["MolediffError", "ConfigError", "CheckpointError", "instantiate"]
