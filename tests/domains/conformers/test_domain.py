"""ConformerDomain: batching, graph decoding, and a short real training run through the
Lightning module / Hydra config path."""

from __future__ import annotations

import math

import pytest
import torch
from rdkit import Chem

from molediff.cli.testing import compose_config
from molediff.domains.chem.featurize import NUM_EDGE_FEATURES, NUM_NODE_FEATURES, smiles_to_data
from molediff.domains.conformers.domain import ConformerDomain, graph_to_mol


def test_constructor_is_cheap_and_net_kwargs():
    d = ConformerDomain(limit_train=10)
    assert d._train is None  # nothing loaded yet
    assert d.net_kwargs() == {"in_features": 3, "cond_features": NUM_NODE_FEATURES,
                              "edge_features": NUM_EDGE_FEATURES}


def test_graph_to_mol_keeps_connectivity():
    smi = "CC(=O)Oc1ccccc1C(=O)O"
    data = smiles_to_data(smi)
    mol = graph_to_mol(data.z, data.edge_index, data.edge_attr, data.h, torch.randn(data.num_nodes, 3))
    ref = Chem.AddHs(Chem.MolFromSmiles(smi))
    assert Chem.MolToSmiles(Chem.RemoveHs(mol)) == Chem.MolToSmiles(Chem.MolFromSmiles(smi))
    assert mol.GetNumAtoms() == ref.GetNumAtoms() and mol.GetNumConformers() == 1


def test_batch_template_decode_roundtrip():
    d = ConformerDomain(limit_train=40, limit_val=8)
    d.setup()
    items = [d.train_dataset()[i] for i in range(4)]
    batch = d.collate(items)
    x0, cond, space = d.batch_to(batch)
    assert x0.shape == (batch.num_nodes, 3) and space.num_samples == 4
    # centred per molecule (Å)
    assert torch.allclose(space.project(x0), x0, atol=1e-4)
    mols = d.decode(x0, cond, space)
    for item, mol in zip(items, mols, strict=True):
        assert mol.GetNumAtoms() == item.num_nodes
        assert mol.GetNumBonds() * 2 == item.edge_index.shape[1]
    # the domain's samples are one ConformerResult per molecule
    from molediff.domains.conformers.generate import ConformerResult

    m = d.metrics([ConformerResult(smiles=mol.GetProp("source_smiles"), mol=mol) for mol in mols])
    assert m["connectivity_match"] == 1.0  # DFT geometries give back their own bonds
    assert m["num_samples"] == m["molecules"] == m["succeeded"] == 4
    x, cond2, space2 = d.template(3, condition="C[C@H](N)C(=O)O")
    assert x.shape == (3 * 13, 3) and space2.num_samples == 3


def test_short_training_lowers_loss_and_decodes(tmp_path):
    """~40 steps on a few hundred QM9 molecules with the real experiment config."""
    from molediff.inference.builders import build_components
    from molediff.inference.validation import val_x0_mse
    from molediff.train.run import train

    overrides = [
        "experiment=conformers_qm9_cpu", "logger=none", "torch_threads=1",
        "domain.limit_train=300", "data.limit_val_items=32", "data.batch_size=32",
        "model.hidden=32", "model.layers=2", "trainer.max_steps=40", "trainer.max_time=null",
        "trainer.val_check_interval=1000000", "checkpoint.every_n_steps=0",
        "lr_scheduler.warmup_steps=5", "optim.lr=3e-3", "ema.decay=0.9",
        "sampling.num_samples=6", "sampling.batch_size=6", "sampler.steps=4",
    ]
    cfg = compose_config("train", overrides, tmp_path)
    torch.manual_seed(0)
    comps = build_components(cfg)
    comps.domain.setup()
    before = val_x0_mse(comps.denoiser, comps.domain, seed=0)
    result = train(cfg)
    assert result["domain"] == "conformers" and result["global_step"] == 40
    assert math.isfinite(result["train_loss"])
    assert result["val_x0_mse"] < 0.9 * before
    # samples decoded to RDKit molecules keep the input graph
    from molediff.inference import load_model
    from molediff.inference.checkpoint import export_checkpoint
    from molediff.utils.errors import InputError, UsageError

    ckpt = export_checkpoint(tmp_path / "checkpoints" / "last.ckpt", tmp_path / "slim.pt")
    model = load_model(ckpt, steps=4)
    assert model.trained_steps == 40 and model.sampler.steps == 4
    x, cond, space = model.domain.template(2, condition=["CCO", "C1CC1N"])
    samples = model.domain.decode(torch.randn_like(x), cond, space)
    assert [Chem.MolToSmiles(Chem.RemoveHs(m)) for m in samples] == ["CCO", "NC1CC1"]
    # 40 training steps cannot place atoms yet: the geometry gate refuses every draw
    with pytest.raises(InputError, match="geometry check"):
        model.generate(2, condition=["CCO"], seed=0, max_rounds=2)
    assert model.stats["nfe"] > 0  # it did sample before refusing
    # the exported sampling default is what the loaded model then uses
    restart = {"name": "restart", "steps": 5, "options": {"restarts": 1}}
    model = load_model(export_checkpoint(ckpt, tmp_path / "restart.pt", sampler=restart))
    assert (model.sampler.name, model.sampler.steps, model.sampler.options) == (
        "restart", 5, {"restarts": 1})
    # options go over the checkpoint's; naming a sampler starts from the core defaults
    model = load_model(tmp_path / "restart.pt", sampler_options={"restart_sigma_max": 2.0})
    assert model.sampler.options == {"restarts": 1, "restart_sigma_max": 2.0}
    model = load_model(tmp_path / "restart.pt", sampler="restart")
    assert model.sampler.options == {}
    with pytest.raises(UsageError, match="has no option s_churn"):
        load_model(tmp_path / "restart.pt", sampler_options={"s_churn": 1.0})
    with pytest.raises(ValueError, match="unknown sampler"):
        export_checkpoint(ckpt, tmp_path / "bad.pt", sampler={"name": "nope"})
    assert not (tmp_path / "bad.pt").exists()
    # a generation default chosen after training goes into the domain config
    assert load_model(ckpt).domain.start_sigma is None
    seeded = load_model(export_checkpoint(ckpt, tmp_path / "seeded.pt", domain={"start_sigma": 0.2}))
    assert seeded.domain.start_sigma == 0.2 and seeded.trained_steps == 40


@pytest.mark.parametrize("limit", [None])
def test_experiment_configs_compose(limit, tmp_path):
    for name in ("conformers_qm9_cpu", "conformers_qm9_gpu",
                 "conformers_drugs_cpu", "conformers_drugs_gpu"):
        cfg = compose_config("train", [f"experiment={name}"], tmp_path)
        assert cfg.domain._target_.endswith("ConformerDomain")
        assert cfg.model._target_ == "molediff.nn.egnn.EGNN"
        if "drugs" in name:
            # the drug-like recipes: CCD elements and local edges on top of the QM9 ones
            assert {"P", "S", "Cl", "Br", "I"} <= set(cfg.domain.elements)
            assert cfg.domain.ccd_repeats >= 1
            assert cfg.model.edges == "radius" and cfg.model.cutoff > 0
