"""A spoken-digit classifier: a small CNN on log-mel spectrograms, trained here on the
synthesised training voices (``scripts/train_audio_classifier.py``) and shipped as
``molediff/checkpoints/audio_digit_classifier.pt``.

It judges generated audio the way a listener would: it hears the *waveform* (a generated
spectrogram after Griffin-Lim inversion), analysed with its own fixed spectrogram settings,
so it scores any audio model whatever its spectrogram size. Its accuracies on held-out
voices and on the real recordings are stored in the file (see
docs/model_card_audio.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from molediff.domains.audio.data import NUM_CLASSES
from molediff.domains.audio.features import SpectrogramConfig, fit_window, log_mel, set_level

BUNDLED = Path(__file__).resolve().parents[2] / "checkpoints" / "audio_digit_classifier.pt"


class DigitCNN(nn.Module):
    """Three conv blocks (3×3 conv, batch norm, ReLU, 2×2 max-pool) and a linear layer
    on the time- and frequency-averaged features; input ``[B, 1, F, T]`` in [-1, 1]."""

    def __init__(self, channels: Sequence[int] = (16, 32, 64), num_classes: int = NUM_CLASSES,
                 dropout: float = 0.2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 1
        for c in channels:
            layers += [nn.Conv2d(cin, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(),
                       nn.MaxPool2d(2)]
            cin = c
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(cin, num_classes)

    def embed(self, x: Tensor) -> Tensor:
        """``[B, channels[-1]]`` pooled features."""
        return self.features(x).mean(dim=(2, 3))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.dropout(self.embed(x)))


class SpokenDigitClassifier:
    """A trained :class:`DigitCNN` with the spectrogram settings it was trained on."""

    def __init__(self, net: DigitCNN, config: SpectrogramConfig,
                 info: dict[str, Any] | None = None) -> None:
        self.net = net.eval()
        self.config = config
        self.info = dict(info or {})

    def features(self, waves: Sequence[np.ndarray]) -> Tensor:
        """Clips (any lengths, at ``config.sample_rate``) -> ``[N, 1, F, T]`` log-mels."""
        return torch.from_numpy(log_mel(list(waves), self.config)).unsqueeze(1)

    @torch.no_grad()
    def predict(self, waves: Sequence[np.ndarray], batch_size: int = 256) -> np.ndarray:
        """Predicted digit of every clip ``[N]``."""
        if len(waves) == 0:
            return np.zeros(0, dtype=np.int64)
        x = self.features(waves)
        logits = torch.cat([self.net(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
        return logits.argmax(dim=1).numpy()

    def accuracy(self, waves: Sequence[np.ndarray], digits: np.ndarray) -> float:
        """Fraction of clips classified as ``digits``; NaN when there are none."""
        if len(waves) == 0:
            return float("nan")
        return float((self.predict(waves) == np.asarray(digits)).mean())

    def save(self, path: str | Path) -> Path:
        import io

        from molediff.utils.io import atomic_write_bytes

        buf = io.BytesIO()
        torch.save({"state_dict": self.net.state_dict(), "config": asdict(self.config),
                    "channels": [m.out_channels for m in self.net.features
                                 if isinstance(m, nn.Conv2d)],
                    "info": self.info}, buf)
        return atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | Path | None = None) -> SpokenDigitClassifier:
        """The classifier in ``path`` (default: the bundled one)."""
        blob = torch.load(str(path or BUNDLED), map_location="cpu", weights_only=True)
        net = DigitCNN(channels=blob["channels"])
        net.load_state_dict(blob["state_dict"])
        return cls(net, SpectrogramConfig(**blob["config"]), blob.get("info"))


def augment(wave: np.ndarray, rng: np.random.Generator, cfg: SpectrogramConfig) -> np.ndarray:
    """One training variant of a clip: speed (and with it pitch) changed by up to ±15 %,
    passed through a random telephone-like channel (Butterworth band-pass, low edge
    50-400 Hz, high edge 2.8-3.9 kHz), placed at a random position in the analysis window,
    with white noise at 15-45 dB SNR. The channel is there because the synthesised voices
    are full-band and real recordings rarely are."""
    import librosa
    from scipy import signal

    factor = float(rng.uniform(0.85, 1.15))
    w = librosa.resample(wave, orig_sr=cfg.sample_rate, target_sr=int(cfg.sample_rate * factor))
    band = (float(rng.uniform(50.0, 400.0)), float(rng.uniform(2800.0, 3900.0)))
    sos = signal.butter(int(rng.integers(2, 5)), band, btype="bandpass", fs=cfg.sample_rate,
                        output="sos")
    w = signal.sosfilt(sos, w).astype(np.float32)
    w = set_level(w)
    n = cfg.num_samples
    if len(w) < n:
        out = np.zeros(n, dtype=np.float32)
        start = int(rng.integers(0, n - len(w) + 1))
        out[start : start + len(w)] = w
    else:
        out = fit_window(w, n)
    snr = float(rng.uniform(15.0, 45.0))
    noise = rng.standard_normal(n).astype(np.float32) * 10 ** ((-20.0 - snr) / 20.0)
    return out + noise


def train_classifier(waves: Sequence[np.ndarray], digits: np.ndarray, *,
                     val: tuple[Sequence[np.ndarray], np.ndarray] | None = None,
                     config: SpectrogramConfig | None = None, epochs: int = 30,
                     augmentations: int = 4, batch_size: int = 64, lr: float = 2e-3,
                     seed: int = 0, log: Any = None) -> SpokenDigitClassifier:
    """Train a :class:`DigitCNN` on clips (plus ``augmentations`` augmented copies of each,
    and time / frequency masking of the log-mels); with ``val`` the epoch with the best
    validation accuracy is kept."""
    cfg = config or SpectrogramConfig()
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    clips = list(waves)
    for _ in range(augmentations):
        clips += [augment(w, rng, cfg) for w in waves]
    x = torch.from_numpy(log_mel(clips, cfg)).unsqueeze(1)
    y = torch.from_numpy(np.tile(np.asarray(digits), augmentations + 1)).long()
    net = DigitCNN()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * (
        (len(x) + batch_size - 1) // batch_size))
    clf = SpokenDigitClassifier(net, cfg)
    val_x = clf.features(val[0]) if val is not None else None
    best, best_state = -1.0, None
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for i in range(0, len(x), batch_size):
            idx = order[i : i + batch_size]
            xb = _mask(x[idx].clone(), gen)
            loss = F.cross_entropy(net(xb), y[idx], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        net.eval()
        if val_x is not None:
            with torch.no_grad():
                acc = float((net(val_x).argmax(1).numpy() == np.asarray(val[1])).mean())
            if acc >= best:
                best, best_state = acc, {k: v.clone() for k, v in net.state_dict().items()}
        if log is not None:
            log(f"epoch {epoch + 1}/{epochs}: loss {total / len(x):.3f}"
                + (f", val accuracy {acc:.3f}" if val_x is not None else ""))
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    clf.info["val_accuracy"] = best
    return clf


def _mask(x: Tensor, gen: torch.Generator, max_width: int = 4) -> Tensor:
    """SpecAugment-style masking: one band of up to ``max_width`` mel bins and one of up to
    ``max_width`` frames per clip set to the floor (-1)."""
    b, _, f, t = x.shape
    for axis, size in ((2, f), (3, t)):
        width = torch.randint(0, max_width + 1, (b,), generator=gen)
        start = (torch.rand(b, generator=gen) * (size - width)).long()
        pos = torch.arange(size)
        m = (pos[None] >= start[:, None]) & (pos[None] < (start + width)[:, None])
        m = m[:, None, :, None] if axis == 2 else m[:, None, None, :]
        x = x.masked_fill(m, -1.0)
    return x
