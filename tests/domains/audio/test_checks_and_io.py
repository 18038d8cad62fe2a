"""The audibility check, WAV writing and reading user audio (one clear error each)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from molediff.domains.audio.checks import AudibilityCheck, describe, rms_dbfs
from molediff.domains.audio.data import load_clips
from molediff.domains.audio.io import read_user_audio, write_wav
from molediff.utils.errors import InputError

CHECK = AudibilityCheck()


@pytest.fixture(scope="module")
def seven():
    return load_clips("real").waves[7]


def test_check_accepts_speech_and_names_each_failure(seven):
    assert CHECK.failure(seven) is None
    assert CHECK.failure(np.full(100, np.nan)) == "non_finite"
    assert CHECK.failure(np.zeros(0)) == "non_finite"
    assert CHECK.failure(np.zeros(800)) == "silent"
    assert CHECK.failure(seven * 10 ** (-40 / 20)) == "silent"  # ~-60 dBFS
    loud = np.clip(seven * 20, -1, 1)
    assert CHECK.failure(loud) == "clipped"
    assert "silent" in describe("silent", np.zeros(10), CHECK)
    assert "clipped" in describe("clipped", loud, CHECK) and "%" in describe("clipped", loud, CHECK)
    assert rms_dbfs(np.full(10, 0.1)) == pytest.approx(-20.0)


def test_wav_reloads_with_rate_and_length(tmp_path, seven):
    path = write_wav(tmp_path / "seven.wav", seven, 8000)
    wave, sr = sf.read(path)
    info = sf.info(path)
    assert sr == 8000 and info.channels == 1 and info.subtype == "PCM_16"
    assert len(wave) == len(seven)
    assert np.abs(wave - seven).max() <= 1 / 32768 + 1e-7


def test_user_audio_is_resampled_and_trimmed(tmp_path, seven):
    import librosa

    stereo = np.stack([seven, seven], axis=1)
    padded = np.concatenate([np.zeros((4000, 2)), stereo, np.zeros((4000, 2))])
    up = librosa.resample(padded.T, orig_sr=8000, target_sr=16000).T
    sf.write(tmp_path / "user.flac", up, 16000)
    wave = read_user_audio(tmp_path / "user.flac", 8000)
    # the second of added silence is gone, the word is kept, back at 8 kHz
    assert 0.7 * len(seven) < len(wave) < len(seven) + 0.1 * 8000


@pytest.mark.parametrize(("content", "message"), [
    ("silent", "silent"), ("clipped", "clipped"), ("garbage", "cannot read audio")])
def test_bad_user_audio_is_one_clear_error(tmp_path, seven, content, message):
    path = tmp_path / "bad.wav"
    if content == "silent":
        sf.write(path, np.zeros(8000), 8000)
    elif content == "clipped":
        sf.write(path, np.clip(seven * 30, -1, 1), 8000)
    else:
        path.write_bytes(b"RIFF not really a wave file")
    with pytest.raises(InputError, match=message) as err:
        read_user_audio(path, 8000)
    assert "\n" not in str(err.value) and str(path) in str(err.value)
