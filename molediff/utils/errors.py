"""User-facing errors and the exit status each one maps to.

A :class:`MolediffError` is an error the user can fix. Command-line entry points (see
:func:`molediff.utils.entry.run_entry`) print its message as one line,
``<prog>: error: <message>``, with no traceback, and exit with the class's
:attr:`~MolediffError.exit_code`:

====================  ======  ===============================================================
class                 status  meaning
====================  ======  ===============================================================
``InputError``        1       the data given cannot be processed: an unreadable or empty
                              input file, a molecule that cannot be handled
``UsageError``        2       the command was asked for something invalid: a bad option
                              value, an unknown device, an invalid argument
``ConfigError``       2       a configuration that cannot be built or does not fit together
``OutputError``       2       the output destination cannot be used (missing directory,
                              not writable, would overwrite without permission)
``CheckpointError``   2       the checkpoint named is missing, corrupted, or of another
                              domain / format
``MolediffError``     2       anything else the user can fix (the historical status)
====================  ======  ===============================================================

Status 1 therefore means "the command was fine but the data was not", status 2 "fix the
command line". A checkpoint is *data*, but it is chosen by an option (``ckpt_path=``,
``--checkpoint``) and the usual fix is to point that option at the right file; it has
always exited 2 and scripts and tests rely on that, so it stays 2. Argparse's own errors
also exit 2, so every "fix your command" error shares one status. Unexpected exceptions
(bugs) exit 1 through the entry-point handler, 130 on Ctrl-C.
"""

from __future__ import annotations


class MolediffError(Exception):
    """An error the user can fix (bad option, bad file); printed as one clear line.

    Subclasses set :attr:`exit_code`; the entry-point handler exits with it.
    """

    #: exit status of a command that stops on this error (2: the pre-convention default,
    #: kept so every existing ``MolediffError`` keeps exiting 2)
    exit_code: int = 2


class UsageError(MolediffError):
    """An invalid request: a bad option value, an unknown device, an invalid argument."""

    exit_code = 2


class InputError(MolediffError):
    """Input data that cannot be processed: an unreadable file, an unusable molecule."""

    exit_code = 1


class OutputError(MolediffError):
    """An output destination that cannot be used (missing directory, not writable)."""

    exit_code = 2


class ConfigError(MolediffError):
    """A configuration that cannot be built or does not fit together."""

    exit_code = 2


class CheckpointError(MolediffError):
    """A checkpoint that is missing, corrupted, or from another domain / format.

    Exits 2, not 1: the checkpoint is chosen by an option, and existing scripts rely on 2
    (see the module docstring).
    """

    exit_code = 2
