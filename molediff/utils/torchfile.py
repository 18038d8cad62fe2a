"""Torch files written atomically and read without unpickling arbitrary objects, and a
content hash of tensor dictionaries (what checkpoints use to refuse damaged weights)."""

from __future__ import annotations

import hashlib
import io
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from molediff.utils.errors import CheckpointError
from molediff.utils.io import atomic_write_bytes


def save_file(obj: dict[str, Any], path: str | Path) -> Path:
    """``torch.save`` into memory, then an atomic temp-file + ``os.replace`` write."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_file(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """``torch.load(weights_only=True)`` with one clear error for a missing, unreadable,
    corrupted or unsafe file.

    Raises:
        CheckpointError: the file cannot be read as a safe torch dictionary.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a directory, not a file")
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # keep torch's reason (which global is refused, and why that matters) on one line
        reason = " ".join(str(exc).split())
        raise CheckpointError(
            f"checkpoint {path} is not a safe molediff checkpoint: loading it would execute "
            f"code from the file, which molediff refuses ({reason[:300]})") from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, KeyError,
            IndexError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        # a text file or random bytes make the unpickler fail with many different errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"checkpoint {path} is not a readable torch file (damaged, truncated or not a "
            f"checkpoint: {type(exc).__name__}: {first[:160]})") from exc
    if not isinstance(obj, dict):
        raise CheckpointError(f"checkpoint {path} does not hold a dictionary")
    return obj


def tensors_sha256(state: Mapping[str, Any]) -> str:
    """SHA-256 over a tensor dictionary: keys (sorted), dtypes, shapes and raw bytes."""
    h = hashlib.sha256()
    for key in sorted(state):
        v = state[key]
        h.update(key.encode())
        if isinstance(v, torch.Tensor):
            t = v.detach().cpu().contiguous().reshape(-1)
            h.update(f"{t.dtype}{tuple(v.shape)}".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        else:
            h.update(repr(v).encode())
    return h.hexdigest()
