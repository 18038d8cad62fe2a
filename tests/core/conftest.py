import torch

from molediff.core.oracle import GaussianMixture
from molediff.core.space import DenseSpace, GraphSpace


def dense_mixture(batch: int = 4000, dtype=torch.float64) -> tuple[GaussianMixture, torch.Tensor]:
    """Two well separated isotropic components in 2-D, weights 0.3 / 0.7."""
    space = DenseSpace(batch, 1)
    means = torch.tensor([[-2.0, 0.0], [2.0, 1.0]], dtype=dtype).unsqueeze(1)
    gm = GaussianMixture(means, torch.tensor([0.5, 0.3]), torch.tensor([0.3, 0.7]), space)
    return gm, torch.zeros(batch, 2, dtype=dtype)


def graph_batch(sizes=(3, 5, 8), copies: int = 1, features: int = 0, dtype=torch.float64, seed: int = 0):
    """A GraphSpace over `copies` repetitions of graphs with the given node counts, and two
    centred random templates per graph (a two-component mixture in the centred subspace)."""
    sizes = list(sizes) * copies
    space = GraphSpace.from_sizes(sizes)
    g = torch.Generator().manual_seed(seed)
    base = [torch.randn(n, 3 + features, generator=g, dtype=dtype) for n in sizes[: len(sizes) // copies]]
    t0 = torch.cat(base * copies)
    t1 = torch.cat([b.flip(0) * 1.5 for b in base] * copies)
    means = torch.stack([space.project(t0), space.project(t1)])
    gm = GaussianMixture(means, torch.tensor([0.3, 0.2]), torch.tensor([0.5, 0.5]), space)
    return gm, space, torch.zeros_like(t0)
