"""Sample from a checkpoint: `molediff sample ckpt_path=... [overrides]` (conf/sample.yaml)."""

from __future__ import annotations

from typing import Any

import hydra
from omegaconf import DictConfig

from molediff.cli._hydra import CONFIG_DIR, run_task


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="sample")
def _main(cfg: DictConfig) -> Any:
    from molediff.inference.run import sample

    return run_task(sample, cfg)


def main() -> None:
    """Console-script entry point (``molediff-sample``)."""
    _main()


if __name__ == "__main__":
    main()
