"""User-facing errors: the command-line entry points print their message (no traceback)
and exit with status 2."""

from __future__ import annotations


class MolediffError(Exception):
    """An error the user can fix (bad option, bad file); printed as one clear line."""


class ConfigError(MolediffError):
    """A configuration that cannot be built or does not fit together."""


class CheckpointError(MolediffError):
    """A checkpoint that is missing, corrupted, or from another domain / format."""
