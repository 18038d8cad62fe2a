import pytest
import torch

from molediff.core.oracle import GaussianMixture
from molediff.core.samplers import sample
from molediff.core.schedules import KarrasSchedule
from molediff.core.space import DenseSpace, GraphSpace, sample_seed


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


# --- per-sample noise streams (sample_seeds) ---------------------------------------------

SEEDS = {name: sample_seed(7, name) for name in "ABCD"}
SIZES = {"A": 4, "B": 6, "C": 6, "D": 3}  # C has B's size: streams are told apart by seed


def seeded_graph_space(names, **kwargs) -> GraphSpace:
    return GraphSpace.from_sizes([SIZES[n] for n in names],
                                 sample_seeds=[SEEDS[n] for n in names], **kwargs)


def graph_rows(x, names, name):
    """Rows of graph ``name`` in a batch stored graph after graph."""
    start = sum(SIZES[n] for n in names[: names.index(name)])
    return x[start : start + SIZES[name]]


def test_seeded_graph_noise_is_independent_of_the_batch(float64):
    batches = [["B"], ["A", "B"], ["C", "A", "D", "B"], ["B", "D"]]
    spaces = [seeded_graph_space(b) for b in batches]
    xs = [torch.zeros(sum(SIZES[n] for n in b), 5) for b in batches]
    for call in range(4):
        # A different generator for every batch: it must be ignored.
        noise = [s.randn_like(x, torch.Generator().manual_seed(100 * k + call))
                 for k, (s, x) in enumerate(zip(spaces, xs, strict=True))]
        ref = graph_rows(noise[0], batches[0], "B")
        for b, eps in zip(batches[1:], noise[1:], strict=True):
            assert torch.equal(graph_rows(eps, b, "B"), ref), (b, call)
        if call == 0:
            first = ref
        else:
            assert not torch.allclose(ref, first)  # every call advances the stream
    # B and C have the same shape, so only the seeds make their noise differ.
    eps = spaces[2].randn_like(xs[2])
    assert not torch.allclose(graph_rows(eps, batches[2], "C"), graph_rows(eps, batches[2], "B"))


def test_seeded_graph_noise_with_interleaved_nodes(float64):
    # Nodes of two graphs stored interleaved: each graph still gets its own rows, in its
    # own node order, as when stored graph after graph.
    batch = torch.tensor([1, 0, 1, 1, 0, 1])
    seeds = [SEEDS["A"], SEEDS["B"]]
    mixed = GraphSpace(batch, 2, sample_seeds=seeds)
    plain = GraphSpace.from_sizes([2, 4], sample_seeds=seeds)
    x = torch.zeros(6, 4)
    for _ in range(2):
        a, b = mixed.randn_like(x), plain.randn_like(x)
        assert torch.equal(a[batch == 0], b[:2])
        assert torch.equal(a[batch == 1], b[2:])


def test_seeded_graph_noise_is_projected(float64):
    names = ["A", "B", "D"]
    fixed = torch.zeros(sum(SIZES[n] for n in names), dtype=torch.bool)
    fixed[4:7] = True  # the first three nodes of B are a fixed motif
    space = seeded_graph_space(names, fixed_mask=fixed)
    x = torch.zeros(fixed.numel(), 5)
    for _ in range(3):
        eps = space.randn_like(x)
        assert torch.equal(eps[fixed], torch.zeros(3, 5))  # fixed nodes get no noise
        assert space.centre(eps).abs().max() < 1e-12  # centred on each graph's reference
        assert graph_rows(eps, names, "A")[:, :3].mean(0).abs().max() < 1e-12
        assert graph_rows(eps, names, "D")[:, :3].mean(0).abs().max() < 1e-12
        assert (eps[~fixed] != 0).all()  # free nodes do get noise, features included
    # B with its motif alone draws the same rows as B batched with others.
    alone = GraphSpace.from_sizes([6], fixed_mask=fixed[4:10], sample_seeds=[SEEDS["B"]])
    batched = seeded_graph_space(names, fixed_mask=fixed)
    for _ in range(2):
        assert torch.equal(alone.randn_like(x[4:10]), graph_rows(batched.randn_like(x), names, "B"))


def test_seeded_dense_noise_is_independent_of_the_batch(float64):
    seeds = [sample_seed(3, k) for k in range(5)]
    x_of = {n: torch.zeros(n, 2, 4, 4) for n in (1, 3, 5)}
    # Sample 0 of seeds[2:3], sample 2 of seeds[:3], sample 2 of seeds: the same stream.
    spaces = [DenseSpace(1, 3, sample_seeds=seeds[2:3]),
              DenseSpace.like(x_of[3], sample_seeds=seeds[:3]),
              DenseSpace(5, 3, sample_seeds=torch.tensor(seeds))]
    rows = [0, 2, 2]
    previous = None
    for call in range(3):
        noise = [s.randn_like(x_of[s.num_samples], torch.Generator().manual_seed(k + 10 * call))
                 for k, s in enumerate(spaces)]
        ref = noise[0][rows[0]]
        for eps, r in zip(noise[1:], rows[1:], strict=True):
            assert torch.equal(eps[r], ref), call
        assert not torch.allclose(noise[2][1], noise[2][2])  # different seeds, different noise
        if previous is not None:
            assert not torch.allclose(ref, previous)  # every call advances the stream
        previous = ref
    assert spaces[1].sample_seeds.tolist() == seeds[:3]


def test_unseeded_noise_is_unchanged(float64):
    x = torch.zeros(4, 2, 3)
    dense = DenseSpace.like(x)
    assert dense.sample_seeds is None
    a = dense.randn_like(x, torch.Generator().manual_seed(5))
    assert torch.equal(a, torch.randn(x.shape, generator=torch.Generator().manual_seed(5)))
    fixed = torch.tensor([True, False, False, False, False, False, False])
    space = GraphSpace.from_sizes([3, 4], fixed_mask=fixed)
    assert space.sample_seeds is None
    x = torch.zeros(7, 4)
    g, g_ref = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    for _ in range(2):  # the shared generator's state advances as before
        eps = space.randn_like(x, g)
        ref = torch.randn(x.shape, generator=g_ref) * (~fixed).unsqueeze(-1)
        assert torch.equal(eps, space.project(ref))


def test_seeded_spaces_reject_bad_seeds():
    with pytest.raises(ValueError, match="one sample seed per sample"):
        GraphSpace.from_sizes([2, 3], sample_seeds=[1])
    with pytest.raises(ValueError, match="one sample seed per sample"):
        DenseSpace(3, sample_seeds=[1, 2])
    with pytest.raises(TypeError, match="integers"):
        DenseSpace(2, sample_seeds=[1.5, 2.5])
    with pytest.raises(ValueError, match="DenseSpace expects"):
        DenseSpace(3, sample_seeds=[1, 2, 3]).randn_like(torch.zeros(2, 4))


@pytest.mark.parametrize("name,options,steps", [("heun", {"s_churn": 20.0}, 10), ("ddpm", {}, 25)])
def test_stochastic_sampler_output_of_a_graph_is_independent_of_the_batch(name, options, steps,
                                                                          float64):
    g = torch.Generator().manual_seed(0)
    # Two centred templates per graph: a two-component Gaussian mixture per graph.
    templates = {n: [torch.randn(SIZES[n], 5, generator=g) for _ in range(2)] for n in "ABC"}
    sigmas = KarrasSchedule(sigma_max=20.0).sigmas(steps)

    def run(names, seeded=True):
        space = (seeded_graph_space(names) if seeded
                 else GraphSpace.from_sizes([SIZES[n] for n in names]))
        means = torch.stack([space.project(torch.cat([templates[n][k] for n in names]))
                             for k in range(2)])
        gm = GaussianMixture(means, torch.tensor([0.3, 0.2]), torch.tensor([0.5, 0.5]), space)
        x, _ = sample(name, gm, torch.zeros_like(means[0]), sigmas, space=space,
                      generator=torch.Generator().manual_seed(len(names)), **options)
        return graph_rows(x, names, "B")

    alone = run(["B"])
    assert torch.isfinite(alone).all()
    for names in (["A", "B"], ["C", "B"]):
        assert torch.allclose(run(names), alone, atol=1e-5), names
    # The check has teeth: with one shared generator, B depends on what is batched before it.
    assert not torch.allclose(run(["A", "B"], seeded=False), run(["B"], seeded=False), atol=1e-5)


def test_sample_seed_is_stable_and_separates_keys():
    assert sample_seed(0, "CCO", 0) == sample_seed(0, "CCO", 0)
    # Pinned values: a change here changes every seeded run, across processes and versions.
    assert sample_seed(0) == 4901328146804394918
    assert sample_seed(0, "CCO", 0) == 1996405580129950924
    assert sample_seed(42, "c1ccccc1", 3) == 7619949082305983534
    keys = [(0, "CCO", 0), (0, "CCO", 1), (1, "CCO", 0), (0, "CCC", 0), (0, "CCO"), (0, 1),
            (0, "1"), (0, "ab", "c"), (0, "a", "bc")]
    seeds = [sample_seed(*k) for k in keys]
    assert len(set(seeds)) == len(seeds)
    assert all(0 <= s < 2**63 for s in seeds)
    torch.Generator().manual_seed(seeds[0])  # a valid torch seed
    with pytest.raises(TypeError, match="key 0"):
        sample_seed(0, 1.5)
    with pytest.raises(TypeError, match="base_seed"):
        sample_seed("0", "CCO")
