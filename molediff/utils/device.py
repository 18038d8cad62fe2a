"""Turn a ``--device`` value into a :class:`torch.device`, or a clear :class:`UsageError`.

Torch accepts ``torch.device("cuda")`` on a machine without CUDA and only fails later,
deep inside the first tensor transfer, with a message about "Torch not compiled with
CUDA enabled" or an invalid device ordinal. Checking up front gives one line that says
what to type instead.

Torch is imported inside :func:`resolve_device` so that importing ``molediff.utils``
stays cheap (``--help`` should not wait for torch).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from molediff.utils.errors import UsageError

if TYPE_CHECKING:
    import torch

#: the forms :func:`resolve_device` accepts, for messages
VALID_DEVICES = "auto, cpu, cuda, cuda:N (N = GPU index) or mps"

_DEVICE_RE = re.compile(r"(?P<kind>cpu|cuda|mps)(?::(?P<index>\d+))?")


def resolve_device(name: str | torch.device | None) -> torch.device:
    """The device ``name`` asks for, checked against this machine and this torch build.

    Args:
        name: ``None`` or ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"``,
            ``"cuda:N"``, ``"mps"``, or a :class:`torch.device`. Case and surrounding
            spaces are ignored.

    Returns:
        The :class:`torch.device`; a bare ``"cuda"`` stays index-less (torch's current
        device), as torch itself treats it.

    Raises:
        UsageError: an unknown form; CUDA asked for where this torch build has none or no
            GPU is visible; a GPU index beyond the visible GPUs; MPS where it is not
            available.
    """
    import torch

    text = "auto" if name is None else str(name).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    match = _DEVICE_RE.fullmatch(text)
    if match is None:
        raise UsageError(f"unknown device {str(name)!r}; use {VALID_DEVICES}")
    kind, index = match["kind"], match["index"]
    if kind == "cpu":
        return torch.device("cpu")
    if kind == "cuda":
        _check_cuda(text, None if index is None else int(index))
    else:
        _check_mps(text, None if index is None else int(index))
    return torch.device(text)


def _check_cuda(text: str, index: int | None) -> None:
    import torch as _torch  # already imported by resolve_device: a dictionary look-up

    version = _torch.__version__
    if not _torch.cuda.is_available():
        if _torch.version.cuda is None:
            raise UsageError(f"CUDA requested but this torch build has no CUDA "
                             f"(torch {version}); use --device cpu")
        # a CUDA build without a usable GPU: driver missing, or CUDA_VISIBLE_DEVICES empty
        raise UsageError(f"CUDA requested but no GPU is visible (torch {version}, CUDA "
                         f"{_torch.version.cuda}); check the NVIDIA driver and "
                         f"CUDA_VISIBLE_DEVICES, or use --device cpu")
    count = _torch.cuda.device_count()
    if index is not None and index >= count:
        valid = "cuda:0" if count == 1 else f"cuda:0 to cuda:{count - 1}"
        raise UsageError(f"device {text!r} requested but only {count} GPU"
                         f"{'' if count == 1 else 's'} visible; use {valid}")


def _check_mps(text: str, index: int | None) -> None:
    import torch as _torch

    mps = getattr(_torch.backends, "mps", None)
    if mps is None or not mps.is_available():
        raise UsageError("MPS requested but not available (it needs Apple silicon, macOS "
                         f"12.3+ and a torch build with MPS; torch {_torch.__version__}); "
                         "use --device cpu")
    if index not in (None, 0):  # there is only ever one MPS device
        raise UsageError(f"device {text!r} requested but MPS has only one device; use mps")
