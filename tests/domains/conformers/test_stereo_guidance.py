"""Stereo guidance: its targets agree with RDKit's embedded geometry (known answers), it
turns a mirror-image prediction into the requested stereo, and it cuts the draws the
stereo check throws away."""

from __future__ import annotations

import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem

from molediff.domains.chem.stereo import check_stereo
from molediff.domains.conformers.stereo_guidance import (
    batch_targets,
    cis_products,
    signed_volumes,
    stereo_guidance,
    stereo_targets,
)

SMILES = ["C[C@H](N)O", "C[C@@H](N)O", "F[C@](Cl)(Br)I", "N[C@@H](C)C(=O)O",
          "O[C@H]1CC[C@@H](C)O1", "C/C=C/C", "C/C=C\\C", "F/C(Cl)=C(/Br)I",
          "C[C@H](O)/C=C/[C@@H](N)C"]


def embedded(smiles: str, seed: int = 0) -> Chem.Mol:
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    assert AllChem.EmbedMolecule(mol, randomSeed=seed) == 0
    return mol


@pytest.mark.parametrize("smiles", SMILES)
def test_target_signs_match_rdkit_geometry(smiles):
    mol = embedded(smiles)
    t = stereo_targets(mol)
    assert len(t) == sum(1 for a in mol.GetAtoms() if a.GetChiralTag() != Chem.ChiralType.CHI_UNSPECIFIED) \
        + sum(1 for b in mol.GetBonds() if b.GetStereo() != Chem.BondStereo.STEREONONE) >= 1
    pos = torch.as_tensor(mol.GetConformer().GetPositions(), dtype=torch.float32)
    vol = signed_volumes(pos, torch.as_tensor(t.centres))
    cis = cis_products(pos, torch.as_tensor(t.bonds))
    assert torch.all(torch.as_tensor(t.centre_signs) * vol > 0.5)
    assert torch.all(torch.as_tensor(t.bond_signs) * cis > 0.2)


def test_guidance_turns_a_mirror_image_into_the_requested_stereo():
    smiles = "C[C@H](O)/C=C/[C@@H](N)C"
    mol = embedded(smiles, seed=3)
    pos = torch.as_tensor(mol.GetConformer().GetPositions(), dtype=torch.float32)
    mirror = pos * torch.tensor([-1.0, 1.0, 1.0])  # both centres wrong, E/Z unchanged
    wrong = Chem.Mol(mol)
    wrong.GetConformer().SetPositions(mirror.double().numpy())
    assert not check_stereo(mol, wrong).ok
    targets = batch_targets([stereo_targets(mol)], [0])
    guided = stereo_guidance(lambda x, s, c: x, targets, iterations=40)
    out = guided(mirror, torch.full((len(pos), 1), 1.0), None)
    fixed = Chem.Mol(mol)
    fixed.GetConformer().SetPositions(out.double().numpy())
    assert check_stereo(mol, fixed).ok
    assert (out - mirror).norm(dim=-1).max() < 3.0  # moved atoms, not rebuilt the molecule
    # outside its noise window the prediction passes through unchanged
    assert torch.equal(guided(mirror, torch.full((len(pos), 1), 0.1), None), mirror)


def test_batch_targets_offset_each_molecule():
    a, b = stereo_targets(embedded("C[C@H](N)O")), stereo_targets(embedded("C/C=C/C"))
    t = batch_targets([a, None, b], [0, 7, 20])
    assert torch.equal(t.centres, torch.as_tensor(a.centres))
    assert torch.equal(t.bonds, torch.as_tensor(b.bonds) + 20)
    assert len(t.centre_signs) == 4 * len(a) and len(t.bond_signs) == len(b) == 1


def test_generation_wastes_fewer_draws_with_guidance():
    """The bundled model on three molecules with several stereo elements: guided sampling
    needs fewer network draws (mirrored + rejected) and returns only correct stereo."""
    from molediff.domains.conformers.generate import BUNDLED_CHECKPOINT
    from molediff.inference import load_model

    torch.set_num_threads(1)
    model = load_model(BUNDLED_CHECKPOINT)
    mols = ["C[C@@H]1C[C@H](O)[C@@H](N)C1", "O[C@@H]1[C@H](O)CC[C@@H]1O",
            "C[C@H](O)/C=C/[C@@H](N)C"]
    waste = {}
    for guided in (False, True):
        res = model.generate(8 * len(mols), condition=mols, seed=0, batch_size=24,
                             stereo_guidance=guided)
        waste[guided] = sum(r.stats["stereo_rejected"] + r.stats["mirrored"] for r in res)
        for r, smi in zip(res, mols, strict=True):
            assert r.ok
            query = Chem.AddHs(Chem.MolFromSmiles(smi))
            for conf in r.mol.GetConformers():
                assert check_stereo(query, r.mol, conf.GetId()).ok
    assert waste[True] < 0.6 * waste[False], waste
