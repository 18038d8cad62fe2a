"""Which bundled conformer model serves which molecule (``molediff conformers --model auto``).

Two models ship. ``conformers_qm9.pt`` draws from pure noise and is ahead of ETKDGv3 on
QM9, but it has only seen QM9 (at most 9 heavy atoms; H C N O F): outside that range its
draws mostly fail the geometry gate. ``conformers_drugs.pt`` (H C N O F P S Cl Br I, up
to 64 heavy atoms) runs ETKDG-seeded partial diffusion, so its torsions come from
distance geometry and the network only re-places atoms locally. ``auto`` sends each
molecule to the first when it lies inside QM9's training range, to the second otherwise;
an input that cannot be read as a molecule at all (invalid SMILES, unreadable SDF record)
goes to neither: it loads no model and gets its one-line error from
:func:`generate_by_model`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rdkit import rdBase

from molediff.domains.chem.featurize import DEFAULT_MAX_HEAVY_ATOMS
from molediff.domains.conformers.domain import QM9_ELEMENTS
from molediff.domains.conformers.generate import (
    BUNDLED_CHECKPOINT,
    BUNDLED_DRUGS_CHECKPOINT,
    ConformerResult,
    failed_result,
    prepare_input,
    read_error,
)

#: bundled models by ``--model`` name
BUNDLED = {"qm9": BUNDLED_CHECKPOINT, "drugs": BUNDLED_DRUGS_CHECKPOINT}
#: QM9's training range: the largest QM9 molecule has 9 heavy atoms
QM9_MAX_HEAVY_ATOMS = 9


def in_qm9_range(item: Any) -> bool:
    """True if the input (SMILES, RDKit molecule or
    :class:`~molediff.domains.chem.inputs.MoleculeInput`) has at most
    :data:`QM9_MAX_HEAVY_ATOMS` heavy atoms (its largest fragment, as generation uses)
    and only H C N O F. Unreadable inputs are outside (:func:`route` sends them nowhere)."""
    quiet = rdBase.BlockLogs()
    try:
        mol = prepare_input(item, DEFAULT_MAX_HEAVY_ATOMS)
    except ValueError:
        return False
    finally:
        del quiet
    return (mol.GetNumHeavyAtoms() <= QM9_MAX_HEAVY_ATOMS
            and all(a.GetSymbol() in QM9_ELEMENTS for a in mol.GetAtoms()))


def readable(inputs: Sequence[Any]) -> list[int]:
    """Indices of the inputs that parse as molecules (:func:`read_error` is ``None``):
    the only ones worth a model (and counted as its molecules)."""
    return [k for k, item in enumerate(inputs) if read_error(item) is None]


def route(inputs: Sequence[Any]) -> dict[str, list[int]]:
    """Input indices per bundled model name for ``--model auto`` (names with no input
    are left out). Unreadable inputs are in no group: a model would only report them, yet
    loading it costs seconds and it would count them as its molecules;
    :func:`generate_by_model` reports them instead."""
    groups: dict[str, list[int]] = {"qm9": [], "drugs": []}
    for k in readable(inputs):
        groups["qm9" if in_qm9_range(inputs[k]) else "drugs"].append(k)
    return {name: idx for name, idx in groups.items() if idx}


def model_label(model: Any) -> str:
    """``conformers_drugs.pt (ETKDG-seeded, sigma 0.03 A)``: what produced a conformer
    (the SDF's ``model`` property)."""
    name = model.path.name if model.path is not None else "model"
    start = getattr(model.domain, "start_sigma", None)
    return f"{name} (ETKDG-seeded, sigma {start:g} A)" if start else name


def generate_by_model(models: Sequence[tuple[Any, Sequence[int]]], inputs: Sequence[Any],
                      num_confs: int, **options: Any) -> list[ConformerResult]:
    """``num_confs`` conformers of every input, each model (a loaded
    :class:`~molediff.inference.Model`) over its input indices; one result per input, in
    input order, labelled with its model (:func:`model_label`). Failed molecules come
    back as failed results (``strict=False``): the caller reports them all at once. An
    input given to no model must be unreadable (:func:`route` leaves those out): it gets
    its read error, with no model label. ``options``: the conformer domain's generation
    options.

    Raises:
        ValueError: a readable input was given to no model.
    """
    results: list[ConformerResult | None] = [None] * len(inputs)
    for model, idx in models:
        if not idx:
            continue
        part = model.generate(num_confs * len(idx), condition=[inputs[k] for k in idx],
                              strict=False, **options)
        label = model_label(model)
        for k, r in zip(idx, part, strict=True):
            r.model = label
            results[k] = r
    for k, r in enumerate(results):
        if r is None:
            error = read_error(inputs[k])
            if error is None:
                raise ValueError(f"input {k + 1} ({inputs[k]!r}) was given to no model")
            results[k] = failed_result(inputs[k], error)
    return results  # type: ignore[return-value]
