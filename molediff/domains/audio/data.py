"""The spoken-digit clips in ``data/audio`` (built by ``scripts/build_audio_data.py``).

One FLAC file holds every clip end to end (8 kHz, 16-bit, trimmed of silence); one CSV row
per clip gives its offset, length, digit and split:

- ``train`` / ``val`` / ``test``: English digits synthesised by espeak-ng, split by voice
  variant (the val and test voices are never heard in training);
- ``real``: the recorded digits 0-9 of Allison Smith (Debian ``asterisk-core-sounds-en-wav``,
  CC BY-SA 3.0), held out from training and tuning.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

NUM_CLASSES = 10
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SPLITS = ("train", "val", "test", "real")


def data_dir() -> Path:
    """``data/audio`` of the repository."""
    return Path(__file__).resolve().parents[3] / "data" / "audio"


@dataclass(frozen=True)
class Clips:
    """Variable-length float32 clips in [-1, 1] at ``sample_rate`` Hz with their labels."""

    waves: tuple[np.ndarray, ...]
    digits: np.ndarray
    voices: tuple[str, ...]
    sample_rate: int

    def __len__(self) -> int:
        return len(self.waves)


@lru_cache(maxsize=1)
def _read(directory: str) -> tuple[np.ndarray, int, tuple[dict[str, str], ...]]:
    import soundfile as sf

    path = Path(directory)
    audio, sr = sf.read(path / "spoken_digits.flac", dtype="float32")
    with open(path / "spoken_digits.csv", newline="") as fh:
        rows = tuple(csv.DictReader(fh))
    return audio, int(sr), rows


def load_clips(split: str, directory: str | Path | None = None) -> Clips:
    """The clips of one split (``train``, ``val``, ``test`` or ``real``)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    audio, sr, rows = _read(str(directory or data_dir()))
    chosen = [r for r in rows if r["split"] == split]
    waves = tuple(audio[int(r["offset"]) : int(r["offset"]) + int(r["length"])] for r in chosen)
    return Clips(waves, np.array([int(r["digit"]) for r in chosen], dtype=np.int64),
                 tuple(r["voice"] for r in chosen), sr)
