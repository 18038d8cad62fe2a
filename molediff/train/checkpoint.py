"""Training checkpoints: Lightning's checkpoint IO over the molediff file format
(:mod:`molediff.inference.checkpoint`: atomic writes, ``weights_only`` reads, registry
names, a weights hash), and weight loading for fine-tuning (``init_from``).

A training checkpoint is a Lightning checkpoint (model, EMA, optimiser, LR scheduler and
loop state, so ``trainer.fit(ckpt_path=...)`` resumes exactly) plus the ``"molediff"``
entry that sampling and evaluation rebuild the model from.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from molediff.inference.checkpoint import META_KEY, load_checkpoint, seal
from molediff.utils.errors import CheckpointError
from molediff.utils.torchfile import save_file


def load_weights(module: Any, path: str | Path, expect_domain: str | None = None) -> int:
    """Copy a checkpoint's network weights into ``module`` (a ``DiffusionModule``) for
    fine-tuning: the raw weights (``denoiser.*``) and their EMA (``ema.shadow.*``); a slim
    bundled checkpoint (EMA only) initialises both from the EMA. Optimizer, schedule and step
    count are not touched. Returns the checkpoint's training step.

    Raises:
        CheckpointError: unreadable checkpoint, other domain, or weights that do not fit.
    """
    ckpt = load_checkpoint(path, expect_domain=expect_domain)
    state = ckpt["state_dict"]
    ema = {k[len("ema.shadow."):]: v for k, v in state.items() if k.startswith("ema.shadow.")}
    raw = {k[len("denoiser."):]: v for k, v in state.items() if k.startswith("denoiser.")} or ema
    if not raw:
        raise CheckpointError(f"{path} holds no network weights")
    try:
        module.denoiser.load_state_dict(raw)
        module.ema.shadow.load_state_dict(ema or raw)
    except RuntimeError as exc:
        raise CheckpointError(f"weights of {path} do not fit this model: "
                              f"{str(exc).splitlines()[0]}") from exc
    return int(ckpt[META_KEY].get("global_step", 0))


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint IO: atomic writes, ``weights_only=True`` reads."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        save_file(seal(checkpoint), path)

    def load_checkpoint(
        self,
        path: str | Path,
        map_location: Callable | Any = None,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        # verified (weights hash) and migrated like every other read
        return load_checkpoint(path, map_location=map_location if map_location is not None else "cpu")

    def remove_checkpoint(self, path: str | Path) -> None:
        Path(path).unlink(missing_ok=True)
