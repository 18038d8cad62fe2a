import pytest
import torch

from molediff.core.space import DenseSpace, GraphSpace


def per_graph_mean(x, space):
    return space.centre(x)


def test_graph_project_centres_coordinates_only(float64):
    space = GraphSpace.from_sizes([2, 4, 1])
    x = torch.randn(7, 5) + 3.0
    y = space.project(x)
    for g, idx in enumerate([range(0, 2), range(2, 6), range(6, 7)]):
        rows = list(idx)
        assert torch.allclose(y[rows, :3].mean(0), torch.zeros(3), atol=1e-12), g
    assert torch.equal(y[:, 3:], x[:, 3:])  # features untouched
    assert torch.allclose(space.project(y), y)  # a projection


def test_graph_noise_is_centred_and_seeded(float64):
    space = GraphSpace.from_sizes([3, 6])
    x = torch.zeros(9, 3)
    a = space.randn_like(x, torch.Generator().manual_seed(1))
    b = space.randn_like(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert space.centre(a).abs().max() < 1e-12


def test_fixed_nodes_define_the_centre_and_get_no_noise(float64):
    batch = torch.tensor([0, 0, 0, 0, 1, 1, 1])
    fixed = torch.tensor([True, True, False, False, False, False, False])
    space = GraphSpace(batch, 2, fixed_mask=fixed)
    x = torch.randn(7, 3)
    x[:2] -= x[:2].mean(0)  # the known motif is centred on itself
    eps = space.randn_like(x, torch.Generator().manual_seed(0))
    assert torch.equal(eps[:2], torch.zeros(2, 3))
    y = space.project(x + eps)
    assert torch.allclose(y[:2], x[:2])  # projecting never moves the fixed motif
    assert torch.allclose(y[4:].mean(0), torch.zeros(3), atol=1e-12)  # graph without motif centred on all
    assert space.loss_mask(x)[:, 0].tolist() == [0, 0, 1, 1, 1, 1, 1]


def test_dof(float64):
    space = GraphSpace.from_sizes([3, 5])
    assert space.dof(torch.zeros(8, 3)).tolist() == [6.0, 12.0]  # 3(n - 1)
    assert space.dof(torch.zeros(8, 5)).tolist() == [6.0 + 6, 12.0 + 10]  # + features per node
    fixed = torch.tensor([True, True, False, False, False, False, False, False])
    fspace = GraphSpace.from_sizes([3, 5], fixed_mask=fixed)
    assert fspace.dof(torch.zeros(8, 3)).tolist() == [3.0, 12.0]  # one free node, frame set by motif
    dense = DenseSpace(4, 3)
    assert dense.dof(torch.zeros(4, 1, 8, 8)).tolist() == [64.0] * 4


def test_expand_collapse_and_reduce(float64):
    space = GraphSpace.from_sizes([2, 3])
    sigma = torch.tensor([0.5, 2.0])
    e = space.expand(sigma)
    assert e.shape == (5, 1) and e[:, 0].tolist() == [0.5, 0.5, 2.0, 2.0, 2.0]
    assert torch.equal(space.collapse(e), sigma)
    v = torch.ones(5, 4)
    assert space.reduce(v).tolist() == [8.0, 12.0]
    dense = DenseSpace(3, 3)
    assert dense.expand(torch.tensor([1.0, 2.0, 3.0])).shape == (3, 1, 1, 1)
    assert dense.reduce(torch.ones(3, 2, 4, 4)).tolist() == [32.0] * 3


def test_multiple_vector_channels_centred_separately(float64):
    space = GraphSpace.from_sizes([4], coord_dims=6)
    x = torch.randn(4, 6)
    x[:, 3:] += 10.0
    y = space.project(x)
    assert torch.allclose(y.mean(0), torch.zeros(6), atol=1e-12)


def test_bad_shapes_raise():
    space = GraphSpace.from_sizes([2, 3])
    with pytest.raises(ValueError, match="GraphSpace expects"):
        space.project(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="per-graph sigmas"):
        space.expand(torch.ones(3))
    with pytest.raises(ValueError, match="multiple of 3"):
        GraphSpace.from_sizes([2], coord_dims=4)
