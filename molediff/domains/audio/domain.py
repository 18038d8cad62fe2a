"""The audio domain: spoken digits as normalised log-mel spectrograms ``[B, 1, F, T]`` on
a :class:`~molediff.core.space.DenseSpace`, conditional on the digit (label ``10`` is the
null class of classifier-free guidance); generated spectrograms become WAV files through
Griffin-Lim, and every clip passes the audibility check before it is kept."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, TensorDataset

from molediff.core.space import DenseSpace
from molediff.domains.audio import data as audio_data
from molediff.domains.audio.checks import REASONS, AudibilityCheck, rms_dbfs
from molediff.domains.audio.features import SpectrogramConfig, griffin_lim, log_mel
from molediff.domains.audio.io import write_wav
from molediff.domains.base import Draw, Progress
from molediff.domains.labelled import LabelledDenseDomain
from molediff.utils.errors import InputError, UsageError
from molediff.utils.io import atomic_write_bytes


def parse_digits(condition: Any) -> list[int]:
    """A user's condition -> digits 0-9: an int, a digit word (``"seven"``), a string of
    digits (``"314"``) or a list of those. Anything else is one :class:`UsageError`."""
    items = list(condition) if isinstance(condition, list | tuple) else [condition]
    out: list[int] = []
    for item in items:
        if isinstance(item, bool):
            raise UsageError(f"unknown spoken-digit label {item!r}: use digits 0-9")
        if isinstance(item, int | np.integer):
            value = int(item)
            if not 0 <= value < audio_data.NUM_CLASSES:
                raise UsageError(f"unknown spoken-digit label {value}: use digits 0-9")
            out.append(value)
        elif isinstance(item, str) and item.strip().lower() in audio_data.WORDS:
            out.append(audio_data.WORDS.index(item.strip().lower()))
        elif isinstance(item, str) and item.strip().isdigit():
            out.extend(int(c) for c in item.strip())
        else:
            raise UsageError(f"unknown spoken-digit label {item!r}: use digits 0-9 or the "
                             f"words {', '.join(audio_data.WORDS)}")
    if not out:
        raise UsageError("the condition names no digit: use digits 0-9")
    return out


class AudioDomain(LabelledDenseDomain):
    """Spoken digits 0-9 (synthesised training voices, held-out voices and real
    recordings; ``data/audio``) as log-mel images.

    Args:
        n_mels, n_frames, hop_length, n_fft, db_max, db_range: the spectrogram
            (:class:`~molediff.domains.audio.features.SpectrogramConfig`; ``F = n_mels``,
            ``T = n_frames``, both divisible by the U-Net's total down-sampling).
        conditional: train and sample with digit labels (else ``cond = None``).
        cond_dropout: probability of the null label in training (classifier-free guidance).
        sigma_data: standard deviation of the normalised log-mels.
        griffin_lim_iters: Griffin-Lim iterations per generated clip.
        min_rms_dbfs, max_clipped_fraction: the audibility check
            (:class:`~molediff.domains.audio.checks.AudibilityCheck`).
        max_rounds: sampling rounds; clips failing the check are resampled, and dropped
            (counted) after the last round.
        data_dir: where ``spoken_digits.flac`` / ``.csv`` are (default: ``data/audio``).
    """

    name = "audio"
    num_classes = audio_data.NUM_CLASSES

    def __init__(
        self,
        n_mels: int = 32,
        n_frames: int = 32,
        hop_length: int = 250,
        n_fft: int = 512,
        db_max: float = 20.0,
        db_range: float = 80.0,
        conditional: bool = True,
        cond_dropout: float = 0.1,
        sigma_data: float = 0.5,
        griffin_lim_iters: int = 64,
        min_rms_dbfs: float = -45.0,
        max_clipped_fraction: float = 0.001,
        max_rounds: int = 4,
        data_dir: str | None = None,
    ) -> None:
        super().__init__(sigma_data=sigma_data, cond_dropout=cond_dropout if conditional else 0.0)
        self.spec = SpectrogramConfig(sample_rate=8000, n_fft=int(n_fft),
                                      hop_length=int(hop_length), n_mels=int(n_mels),
                                      n_frames=int(n_frames), db_max=float(db_max),
                                      db_range=float(db_range))
        self.conditional = conditional
        self.griffin_lim_iters = int(griffin_lim_iters)
        self.check = AudibilityCheck(float(min_rms_dbfs), float(max_clipped_fraction))
        if int(max_rounds) < 1:
            raise ValueError(f"max_rounds must be >= 1, got {max_rounds}")
        self.max_rounds = int(max_rounds)
        self.data_dir = data_dir
        self._data: dict[str, tuple[Tensor, Tensor]] = {}
        self._classifier = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return (1, self.spec.n_mels, self.spec.n_frames)

    @property
    def null_label(self) -> int:
        return self.num_classes

    # ----------------------------------------------------------------- data
    def features(self, split: str) -> tuple[Tensor, Tensor]:
        """``(log-mels [N, 1, F, T], digits [N])`` of one split of ``data/audio``."""
        if split not in self._data:
            clips = audio_data.load_clips(split, self.data_dir)
            x = torch.from_numpy(log_mel(list(clips.waves), self.spec)).unsqueeze(1)
            self._data[split] = (x, torch.from_numpy(clips.digits))
        return self._data[split]

    def setup(self) -> None:
        self.features("train")
        self.features("val")

    def train_dataset(self) -> Dataset:
        return TensorDataset(*self.features("train"))

    def val_dataset(self) -> Dataset:
        return TensorDataset(*self.features("val"))

    # ---------------------------------------------------------------- model
    def net_kwargs(self) -> dict[str, Any]:
        return {"in_channels": 1, "num_classes": self.num_classes if self.conditional else 0}

    # ------------------------------------------------------------- sampling
    def parse_labels(self, condition: Any) -> list[int]:
        return parse_digits(condition)

    def template_labels(self, n: int, condition: Any = None) -> Tensor | None:
        if self.conditional and isinstance(condition, Tensor):  # chosen already (resampling)
            return condition.long()
        return super().template_labels(n, condition)

    def decode(self, x: Tensor, cond: Any, space: DenseSpace) -> dict[str, Any]:
        """Log-mels -> clips: Griffin-Lim inversion of every sample (64 iterations by
        default, seeded per sample index)."""
        spec = x.detach().float().clamp(-1, 1).cpu()
        labels = (cond.detach().long().cpu() if cond is not None
                  else torch.full((x.shape[0],), self.null_label))
        waves = griffin_lim(spec[:, 0].numpy(), self.spec, n_iter=self.griffin_lim_iters)
        return {"spectrograms": spec, "waves": torch.from_numpy(np.asarray(waves)),
                "labels": labels}

    def generate(self, draw: Draw, num_samples: int, *, condition: Any = None, seed: int = 0,
                 batch_size: int = 256, device: torch.device | str = "cpu",
                 progress: Progress | None = None, **options: Any) -> dict[str, Any]:
        """Draw ``num_samples`` clips; a clip that fails the audibility check is redrawn
        (same label) for up to ``max_rounds`` rounds, then dropped. Returns
        ``spectrograms [N, 1, F, T]``, ``waves [N, L]`` (float, at 8 kHz), ``labels [N]``
        and ``counts`` (failures per reason, ``resampled``, ``dropped``)."""
        if options:
            raise UsageError(f"audio generation takes no options (got {', '.join(sorted(options))})")
        if not self.conditional and condition is not None:
            raise UsageError("this audio model is unconditional: give no condition")
        labels = self.labels_for(int(num_samples), condition)  # bad labels: before sampling
        gen = torch.Generator(device=device).manual_seed(int(seed))
        counts = dict.fromkeys(REASONS, 0) | {"resampled": 0, "dropped": 0}
        kept: list[dict[str, Any]] = []
        slots = torch.arange(int(num_samples))  # output position of every pending clip
        pending = labels
        for round_ in range(self.max_rounds):
            if round_ > 0:
                counts["resampled"] += len(pending)
                if progress is not None:
                    progress(0, stage=f"resampling {len(pending)} clips, round {round_ + 1}")
            failed_slots, failed_labels = [], []
            for i in range(0, len(pending), batch_size):
                part_labels = pending[i : i + batch_size]
                cond_arg = part_labels if self.conditional else None
                template, cond, space = self.template(len(part_labels), condition=cond_arg,
                                                      generator=gen, device=device)
                part = self.decode(draw(template, cond, space, gen), cond, space)
                ok = []
                for j, wave in enumerate(part["waves"].numpy()):
                    reason = self.check.failure(wave)
                    if reason is None:
                        ok.append(j)
                    else:
                        counts[reason] += 1
                        failed_slots.append(int(slots[i + j]))
                        failed_labels.append(int(part_labels[j]))
                idx = torch.as_tensor(ok, dtype=torch.long)
                kept.append({"slot": slots[i : i + batch_size][idx],
                             **{k: part[k][idx] for k in ("spectrograms", "waves")},
                             "labels": part_labels[idx]})
                if progress is not None:
                    progress(len(ok))
            if not failed_slots:
                break
            slots = torch.as_tensor(failed_slots)
            pending = torch.as_tensor(failed_labels)
        else:
            counts["dropped"] = len(pending)
        order = torch.argsort(torch.cat([k["slot"] for k in kept]))
        out = {k: torch.cat([p[k] for p in kept])[order] for k in ("spectrograms", "waves", "labels")}
        failures = sum(counts[r] for r in REASONS)
        if failures:
            print(f"[audio] {failures} generated clips failed the audibility check ("
                  + ", ".join(f"{counts[r]} {r.replace('_', '-')}" for r in REASONS if counts[r])
                  + f"); {counts['resampled']} redrawn, {counts['dropped']} dropped",
                  file=sys.stderr, flush=True)
        if len(out["labels"]) == 0:
            raise InputError(f"no generated clip passed the audibility check in "
                             f"{self.max_rounds} rounds ({num_samples} dropped)")
        out["counts"] = counts
        return out

    # ---------------------------------------------------- metrics and export
    def classifier(self):
        """The bundled spoken-digit classifier (loaded once)."""
        if self._classifier is None:
            from molediff.domains.audio.classifier import SpokenDigitClassifier

            self._classifier = SpokenDigitClassifier.load()
        return self._classifier

    def metrics(self, samples: dict[str, Any]) -> dict[str, float]:
        """``accuracy`` (the bundled classifier hears each generated clip as the digit it was
        sampled for; chance 0.1), ``rms_dbfs`` (mean level), ``num_samples`` and the
        audibility counts (``non_finite``, ``silent``, ``clipped``, ``resampled``,
        ``dropped``)."""
        waves, labels = samples["waves"].numpy(), samples["labels"].numpy()
        out: dict[str, float] = {"num_samples": float(len(waves))}
        out |= {k: float(v) for k, v in samples.get("counts", {}).items()}
        labelled = labels < self.num_classes
        if labelled.any():
            out["accuracy"] = self.classifier().accuracy(list(waves[labelled]), labels[labelled])
        if len(waves):
            out["rms_dbfs"] = float(np.mean([rms_dbfs(w) for w in waves]))
        return out

    def export(self, samples: dict[str, Any], out_dir: str | Path) -> list[Path]:
        """One 16-bit 8 kHz WAV per clip (``digit<d>_<k>.wav``, ``k`` counting per digit)
        and ``spectrograms.npz`` (normalised log-mels, labels, the spectrogram settings)."""
        import io

        out_dir = Path(out_dir)
        paths = []
        seen: dict[int, int] = {}
        for wave, label in zip(samples["waves"].numpy(), samples["labels"].tolist(), strict=True):
            k = seen.get(label, 0)
            seen[label] = k + 1
            name = f"digit{label}_{k:03d}.wav" if label < self.num_classes else f"clip_{k:03d}.wav"
            paths.append(write_wav(out_dir / name, wave, self.spec.sample_rate))
        buf = io.BytesIO()
        np.savez_compressed(buf, spectrograms=samples["spectrograms"].numpy().astype(np.float32),
                            labels=samples["labels"].numpy(),
                            **{f"config_{k}": v for k, v in self.spec.as_dict().items()})
        paths.append(atomic_write_bytes(out_dir / "spectrograms.npz", buf.getvalue()))
        return paths

