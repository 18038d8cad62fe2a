"""``molediff speak``: bad input is one clear message before any model work; recordings
are classified; the bundled checkpoint writes checked WAV files."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from molediff.domains.audio.command import BUNDLED_CHECKPOINT, main
from molediff.domains.audio.data import load_clips


@pytest.mark.parametrize(("argv", "message"), [
    (["eleven", "-o", "OUT"], "unknown spoken-digit label 'eleven'"),
    (["3"], "-o"),
    ([], "at least one digit"),
    (["3", "-o", "OUT", "-n", "0"], "-n/--num"),
    (["3", "-o", "OUT", "--steps", "-2"], "--steps"),
    (["--classify", "x.wav", "-o", "OUT"], "--classify takes recordings only"),
])
def test_bad_requests_fail_before_the_model_loads(argv, message, tmp_path, capsys):
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("molediff speak: error:")
    assert not (tmp_path / "out").exists()


def test_classify_real_recordings_and_refuse_silence(tmp_path, capsys):
    real = load_clips("real")
    sf.write(tmp_path / "eight.wav", real.waves[8], 8000)
    sf.write(tmp_path / "silence.wav", np.zeros(8000), 8000)
    assert main(["--classify", str(tmp_path / "eight.wav")]) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'eight.wav'}\t8\n"
    assert main(["--classify", str(tmp_path / "eight.wav"), str(tmp_path / "silence.wav")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # every file is checked before anything is printed
    assert "silence.wav: the audio is silent (digital silence" in captured.err


@pytest.mark.skipif(not BUNDLED_CHECKPOINT.exists(), reason="bundled audio checkpoint not built")
def test_bundled_checkpoint_speaks(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["4", "two", "-o", str(out), "--steps", "8", "-q"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["digit2_000.wav", "digit4_000.wav", "spectrograms.npz"]
    wave, sr = sf.read(out / "digit4_000.wav")
    assert sr == 8000 and len(wave) == 7750 and np.abs(wave).max() < 1.0
