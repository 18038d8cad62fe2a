"""Log-mel spectrograms of speech and their inversion to waveforms (Griffin-Lim).

The diffusion model sees a clip as one normalised log-mel image ``[1, F, T]`` (``F`` mel
bands, ``T`` frames) with values in [-1, 1]: power in dB, clipped to the ``db_range`` dB
below ``db_max`` and mapped linearly (``db_max`` -> +1, ``db_max - db_range`` -> -1).
The dB reference is fixed (not per clip), so a spectrogram carries the clip's level and an
inverted clip comes back as loud as the training clips were (their RMS is set to
``LEVEL_DBFS`` before analysis).

Analysis and inversion go through librosa (STFT, Slaney mel filters, non-negative
least-squares mel -> linear, Griffin-Lim phase retrieval); nothing here is hand-written
signal processing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: RMS level (dB relative to full scale) that every clip is set to before analysis.
LEVEL_DBFS = -20.0


@dataclass(frozen=True)
class SpectrogramConfig:
    """How a clip becomes a log-mel image.

    Args:
        sample_rate: Hz.
        n_fft: STFT window length in samples (also the FFT size).
        hop_length: samples between frames.
        n_mels: mel bands ``F`` (Slaney mel scale, 0 Hz .. ``sample_rate / 2``).
        n_frames: frames ``T``; a clip covers ``hop_length * (n_frames - 1)`` samples.
        db_max: dB (power, reference 1) that maps to +1.
        db_range: dB below ``db_max`` kept; quieter bins are clipped to -1.
    """

    sample_rate: int = 8000
    n_fft: int = 512
    hop_length: int = 250
    n_mels: int = 32
    n_frames: int = 32
    db_max: float = 20.0
    db_range: float = 80.0

    @property
    def num_samples(self) -> int:
        """Samples in one analysed clip (``hop_length * (n_frames - 1)``)."""
        return self.hop_length * (self.n_frames - 1)

    @property
    def seconds(self) -> float:
        """Length of one analysed clip in s."""
        return self.num_samples / self.sample_rate

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def set_level(wave: np.ndarray, dbfs: float = LEVEL_DBFS) -> np.ndarray:
    """Scale a float waveform to an RMS of ``dbfs`` dB full scale (silence stays silence)."""
    wave = np.asarray(wave, dtype=np.float32)
    rms = float(np.sqrt(np.mean(wave.astype(np.float64) ** 2))) if wave.size else 0.0
    if rms <= 0.0:
        return wave
    return (wave * (10.0 ** (dbfs / 20.0) / rms)).astype(np.float32)


def fit_window(wave: np.ndarray, num_samples: int) -> np.ndarray:
    """Centre a clip in a window of ``num_samples``: zero-padded when shorter, the middle
    kept when longer (speech was trimmed of silence, so the middle holds the word)."""
    wave = np.asarray(wave, dtype=np.float32)
    n = len(wave)
    if n >= num_samples:
        start = (n - num_samples) // 2
        return wave[start : start + num_samples].copy()
    out = np.zeros(num_samples, dtype=np.float32)
    start = (num_samples - n) // 2
    out[start : start + n] = wave
    return out


def mel_power(wave: np.ndarray, cfg: SpectrogramConfig) -> np.ndarray:
    """Mel power spectrogram ``[..., n_mels, n_frames]`` of windowed clips
    ``[..., cfg.num_samples]``."""
    import librosa

    return librosa.feature.melspectrogram(
        y=np.asarray(wave, dtype=np.float32), sr=cfg.sample_rate, n_fft=cfg.n_fft,
        hop_length=cfg.hop_length, n_mels=cfg.n_mels, power=2.0, center=True)


def power_to_unit(power: np.ndarray, cfg: SpectrogramConfig) -> np.ndarray:
    """Mel power -> normalised log-mel in [-1, 1]."""
    db = 10.0 * np.log10(np.maximum(power, 1e-20))
    lo = cfg.db_max - cfg.db_range
    return (2.0 * (np.clip(db, lo, cfg.db_max) - lo) / cfg.db_range - 1.0).astype(np.float32)


def unit_to_power(x: np.ndarray, cfg: SpectrogramConfig) -> np.ndarray:
    """Normalised log-mel (any values; clipped to [-1, 1]) -> mel power."""
    db = (np.clip(x, -1.0, 1.0) + 1.0) / 2.0 * cfg.db_range + cfg.db_max - cfg.db_range
    return (10.0 ** (db / 10.0)).astype(np.float32)


def log_mel(wave: np.ndarray, cfg: SpectrogramConfig, *, level: bool = True) -> np.ndarray:
    """Clip(s) -> normalised log-mel ``[..., n_mels, n_frames]`` in [-1, 1]: level set
    to ``LEVEL_DBFS`` (unless ``level=False``), centred in the analysis window, analysed.
    ``wave`` is one 1-D clip or a list of clips of any lengths."""
    if isinstance(wave, np.ndarray) and wave.ndim == 1:
        clips = [wave]
    else:
        clips = list(wave)
    fitted = np.stack([fit_window(set_level(c) if level else c, cfg.num_samples) for c in clips])
    out = power_to_unit(mel_power(fitted, cfg), cfg)
    return out[0] if isinstance(wave, np.ndarray) and wave.ndim == 1 else out


def griffin_lim(x: np.ndarray, cfg: SpectrogramConfig, *, n_iter: int = 64,
                seed: int = 0) -> np.ndarray:
    """Normalised log-mel ``[..., n_mels, n_frames]`` -> waveform(s)
    ``[..., cfg.num_samples]`` (float32): mel -> linear magnitude by non-negative least
    squares, then ``n_iter`` Griffin-Lim iterations (fast variant, momentum 0.99) from
    random phases drawn with ``seed``."""
    import librosa

    power = unit_to_power(np.asarray(x, dtype=np.float32), cfg)
    magnitude = librosa.feature.inverse.mel_to_stft(
        power, sr=cfg.sample_rate, n_fft=cfg.n_fft, power=2.0)
    return librosa.griffinlim(
        magnitude, n_iter=n_iter, hop_length=cfg.hop_length, n_fft=cfg.n_fft, center=True,
        length=cfg.num_samples, random_state=np.random.default_rng(seed)).astype(np.float32)
