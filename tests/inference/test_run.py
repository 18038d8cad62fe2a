"""``molediff sample`` / ``evaluate`` go through the domain's own generation path: a
conformer checkpoint sampled by ``molediff sample`` gets the same stereo check as
``molediff conformers``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from rdkit import Chem

from molediff.domains.chem.stereo import check_stereo
from molediff.domains.conformers.generate import BUNDLED_CHECKPOINT


def test_sample_on_the_conformer_checkpoint_is_stereo_checked(cli, tmp_path):
    out = tmp_path / "s"
    chiral = ["C[C@H](N)C(=O)O", "C[C@@H](O)C=O", "F/C=C/F", "N[C@@H](C)C#N"]
    code, err = cli("sample", f"ckpt_path={BUNDLED_CHECKPOINT}", f"hydra.run.dir={out}",
                    f"condition=[{','.join(repr(s) for s in chiral)}]", "num_samples=24",
                    "torch_threads=1", "+options.stereo_guidance=false")
    assert code == 0, err
    m = json.loads((out / "metrics.json").read_text())
    assert m["domain"] == "conformers" and m["molecules"] == 4 and m["num_samples"] > 0
    # with four chiral inputs and stereo guidance off, the equivariant model draws both
    # hands: the check must act
    assert m["mirrored"] + m["stereo_rejected"] > 0 and m["sampled"] >= 24
    mols = list(Chem.SDMolSupplier(str(out / "conformers.sdf"), removeHs=False))
    assert len(mols) == m["num_samples"] and len(mols) >= 20
    by_smiles = {s: Chem.AddHs(Chem.MolFromSmiles(s)) for s in chiral}
    for mol in mols:
        ref = by_smiles[mol.GetProp("source_smiles")]
        assert check_stereo(ref, mol).ok  # every returned conformer has the input's stereo
    assert "conformers.sdf" in err and "metrics.json" in err


@pytest.mark.parametrize("args, words, code", [
    (["num_samples=0"], ["num_samples must be >= 1"], 2),
    (["num_samples=-3"], ["num_samples must be >= 1"], 2),
    (["steps=0"], ["steps must be >= 1"], 2),
    (["device=foo"], ["unknown device"], 2),
    (["condition='not a smiles'", "num_samples=2"], [], 1),
])
def test_sample_bad_requests(cli, tmp_path, args, words, code):
    out = tmp_path / "bad"
    got, err = cli("sample", f"ckpt_path={BUNDLED_CHECKPOINT}", f"hydra.run.dir={out}", *args)
    assert got == code, err
    assert err.count("\n") == 1 and err.startswith("molediff: error:"), err
    for w in words:
        assert w in err
    assert not (out / "metrics.json").exists() and not (out / "conformers.sdf").exists()


def test_sample_output_that_is_a_file_fails_before_loading(cli, tmp_path, monkeypatch):
    import molediff.inference.run as run

    monkeypatch.setattr(run, "load_model", lambda *a, **k: pytest.fail("model loaded"))
    blocker = tmp_path / "taken"
    blocker.write_text("keep me")
    code, err = cli("sample", f"ckpt_path={BUNDLED_CHECKPOINT}", f"hydra.run.dir={blocker}")
    assert code != 0 and blocker.read_text() == "keep me"


MOLECULES = BUNDLED_CHECKPOINT.with_name("molecules_qm9.pt")


@pytest.mark.parametrize("condition, words", [
    ('{fragment:"xyz",num_atoms:16}', "cannot parse fragment SMILES 'xyz'"),
    ('{fragment:"c1ccccc1CCCCCCCCCC",num_atoms:12}', "only 12 atoms were requested"),
    ("{bogus:1}", "unknown condition keys"),
])
def test_molecule_requests_checked_before_sampling(cli, tmp_path, condition, words):
    out = tmp_path / "m"
    code, err = cli("sample", f"ckpt_path={MOLECULES}", f"condition={condition}",
                    "num_samples=2", f"hydra.run.dir={out}")
    assert code == 2 and err.count("\n") == 1 and words in err, err
    assert not out.exists()


def test_ctrl_c_in_sample_writes_nothing(cli, tmp_path, monkeypatch):
    from molediff.inference.model import Model

    def interrupted(self, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(Model, "generate", interrupted)
    out = tmp_path / "s"
    code, err = cli("sample", f"ckpt_path={BUNDLED_CHECKPOINT}", "condition=CCO",
                    f"hydra.run.dir={out}")
    assert code == 130 and err.strip() == "molediff: interrupted; nothing written"
    assert not out.exists()


def test_sample_passes_the_domains_generation_options(cli, tmp_path, digit_png):
    """``+options.*`` reach the domain: an images checkpoint inpaints the bottom half of a
    PNG; an option the domain does not take is one clear error, with nothing written."""
    from molediff.domains.images.classifier import CHECKPOINT_DIR

    ckpt = CHECKPOINT_DIR / "images_mnist.pt"
    out = tmp_path / "inpainted"
    code, err = cli("sample", f"ckpt_path={ckpt}", f"hydra.run.dir={out}", "num_samples=3",
                    "steps=4", "torch_threads=1", f"+options.inpaint={digit_png}",
                    "+options.mask=bottom", "condition=7")
    assert code == 0, err
    images = np.load(out / "samples.npz")["images"]
    kept = np.asarray(Image.open(digit_png))[:14]
    assert images.shape == (3, 28, 28) and (images[:, :14] == kept).all()
    bad = tmp_path / "bad"
    code, err = cli("sample", f"ckpt_path={ckpt}", f"hydra.run.dir={bad}", "+options.strength=2")
    assert code == 2 and "takes the options inpaint and mask" in err, err
    assert not (bad / "samples.npz").exists()


@pytest.fixture
def digit_png(tmp_path):
    path = tmp_path / "digit.png"
    pixels = np.zeros((28, 28), np.uint8)
    pixels[4:24, 12:16] = 255  # a bar: a one
    Image.fromarray(pixels).save(path)
    return path
