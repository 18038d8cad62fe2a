"""The audibility check that every clip passes before it is written, and the same check
on audio a user hands in.

A clip is *audible* when it is finite, not silent (RMS at least ``min_rms_dbfs`` dB full
scale) and not clipped (at most ``max_clipped_fraction`` of its samples at or beyond full
scale, ``|x| >= 0.999``: written as 16-bit PCM they would be cut flat).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FULL_SCALE = 0.999

#: failure reasons, in the order they are tested
REASONS = ("non_finite", "silent", "clipped")


@dataclass(frozen=True)
class AudibilityCheck:
    """Thresholds of the check.

    Args:
        min_rms_dbfs: quietest accepted RMS, dB full scale (training clips sit at -20).
        max_clipped_fraction: largest accepted fraction of samples at full scale.
    """

    min_rms_dbfs: float = -45.0
    max_clipped_fraction: float = 0.001

    def failure(self, wave: np.ndarray) -> str | None:
        """``None`` for an audible clip, else the first failed reason of :data:`REASONS`."""
        wave = np.asarray(wave)
        if wave.size == 0 or not np.isfinite(wave).all():
            return "non_finite"
        if rms_dbfs(wave) < self.min_rms_dbfs:
            return "silent"
        if float(np.mean(np.abs(wave) >= FULL_SCALE)) > self.max_clipped_fraction:
            return "clipped"
        return None


def rms_dbfs(wave: np.ndarray) -> float:
    """RMS level in dB full scale (``-inf`` for digital silence)."""
    rms = float(np.sqrt(np.mean(np.asarray(wave, dtype=np.float64) ** 2)))
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")


def describe(reason: str, wave: np.ndarray, check: AudibilityCheck) -> str:
    """One sentence saying why ``wave`` failed ``check``."""
    if reason == "non_finite":
        return "the audio is empty or contains NaN / infinite samples"
    if reason == "silent":
        level = rms_dbfs(wave)
        shown = "digital silence" if level == float("-inf") else f"RMS {level:.1f} dBFS"
        return f"the audio is silent ({shown}; at least {check.min_rms_dbfs:g} dBFS needed)"
    frac = float(np.mean(np.abs(wave) >= FULL_SCALE))
    return (f"the audio is clipped ({100 * frac:.2f} % of samples at full scale; at most "
            f"{100 * check.max_clipped_fraction:g} % allowed)")
