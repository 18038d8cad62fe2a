"""WAV files in and out (soundfile): clips are written as 16-bit PCM mono, atomically;
user audio is read, mixed to mono, resampled to the model's rate and checked."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from molediff.domains.audio.checks import AudibilityCheck, describe
from molediff.utils.errors import InputError
from molediff.utils.io import atomic_write_bytes


def wav_bytes(wave: np.ndarray, sample_rate: int) -> bytes:
    """A mono float waveform in [-1, 1] as the bytes of a 16-bit PCM WAV file."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.asarray(wave, dtype=np.float32), int(sample_rate), format="WAV",
             subtype="PCM_16")
    return buf.getvalue()


def write_wav(path: str | Path, wave: np.ndarray, sample_rate: int) -> Path:
    """Write ``wave`` (float, mono, [-1, 1]) as a 16-bit PCM WAV file, atomically."""
    return atomic_write_bytes(path, wav_bytes(wave, sample_rate))


def read_user_audio(path: str | Path, sample_rate: int,
                    check: AudibilityCheck | None = None) -> np.ndarray:
    """Read a user's audio file (any format soundfile reads: WAV, FLAC, OGG, ...) as a
    mono float32 clip at ``sample_rate`` Hz, trimmed of leading / trailing silence.

    Raises:
        InputError: unreadable file, or audio that is silent, clipped or not finite
            (checked on the file as given, before resampling).
    """
    import soundfile as sf

    check = check or AudibilityCheck()
    try:
        wave, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise InputError(f"{path}: cannot read audio ({exc})") from None
    wave = wave.mean(axis=1)
    reason = check.failure(wave)
    if reason is not None:
        raise InputError(f"{path}: {describe(reason, wave, check)}")
    import librosa

    if sr != sample_rate:
        wave = librosa.resample(wave, orig_sr=sr, target_sr=sample_rate)
    wave, _ = librosa.effects.trim(wave, top_db=40, frame_length=512, hop_length=128)
    return wave.astype(np.float32)
