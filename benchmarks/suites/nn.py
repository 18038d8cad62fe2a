"""Graph denoiser networks: speed and memory of EGNN and the e3nn tensor-field network.

    python -m benchmarks.suites.nn [--quick]        # prints the markdown table
    python -m benchmarks.run --only nn [--quick]    # writes benchmarks/results/nn.json

Every timing is one training step, forward + backward + Adam update, on random inputs of
realistic shape, float32, ``torch.get_num_threads()`` threads; the median over the timed
steps after one warm-up step. Memory is the peak resident-set increase during the timed
steps: ``VmHWM`` from ``/proc/self/status`` after resetting it through
``/proc/self/clear_refs`` (Linux), measured from the RSS just before the steps; this is
process memory (torch's CPU allocator returns large blocks to the OS), not
``tracemalloc``. Where the reset is unavailable, ``resource.getrusage`` max-RSS deltas
are reported instead (a lower bound after an earlier, larger peak).

Cases: (a) QM9-sized batch, 64 graphs of 9-29 atoms, fully connected, hidden 256 x 9
layers (EDM's configuration; fewer layers in quick mode), with EDM's published layout
as the baseline and two ablations that separate its two costs (padding; the
concatenated first edge layer); (b) one 500-residue backbone (N, CA, C, O as four vector
channels), kNN k=16; (c) one 2048-point cloud, kNN k=16; (d) time vs nodes for kNN
graphs; (e) aggregation kernels on the QM9 edge set.
"""

from __future__ import annotations

import ctypes
import os
import re
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data

from molediff.nn.egnn import EGNN
from molediff.nn.graphs import fully_connected_edges, knn_edges
from molediff.nn.reference_edm_egnn import EDMEGNN, EDMDynamics, pad_graph_batch
from molediff.nn.tensorfield import TensorFieldNetwork

# ---------------------------------------------------------------------------- memory


def _status_kb(key: str) -> int | None:
    try:
        m = re.search(rf"{key}:\s+(\d+)", Path("/proc/self/status").read_text())
    except OSError:
        return None
    return int(m.group(1)) if m else None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class PeakRSS:
    """Context manager: ``.mib`` = peak RSS increase inside the block."""

    def __enter__(self) -> PeakRSS:
        self.hwm = _reset_peak() and _status_kb("VmHWM") is not None
        self.start = _status_kb("VmRSS") if self.hwm else resource.getrusage(
            resource.RUSAGE_SELF).ru_maxrss
        self.method = "VmHWM" if self.hwm else "ru_maxrss"
        return self

    def __exit__(self, *exc) -> None:
        end = _status_kb("VmHWM") if self.hwm else resource.getrusage(
            resource.RUSAGE_SELF).ru_maxrss
        self.mib = max(end - self.start, 0) / 1024


# ---------------------------------------------------------------------------- inputs


def qm9_like(num_graphs: int = 64, seed: int = 0, lo: int = 9, hi: int = 29):
    """Random molecules of ``lo..hi`` atoms: coordinates in a ball of QM9 density (Å),
    5 one-hot atom types + charge (EDM's 6 node features)."""
    g = torch.Generator().manual_seed(seed)
    sizes = torch.randint(lo, hi + 1, (num_graphs,), generator=g)
    batch = torch.repeat_interleave(torch.arange(num_graphs), sizes)
    n = batch.numel()
    radius = 1.1 * sizes[batch].float().pow(1 / 3)[:, None]
    x = torch.randn(n, 3, generator=g)
    x = x / x.norm(dim=1, keepdim=True) * radius * torch.rand(n, 1, generator=g).pow(1 / 3)
    types = torch.nn.functional.one_hot(torch.randint(0, 5, (n,), generator=g), 5).float()
    charge = torch.randint(1, 10, (n, 1), generator=g).float() / 9
    cond = Batch.from_data_list([Data(num_nodes=int(s)) for s in sizes])
    return torch.cat([x, types, charge], 1), batch, cond


def backbone_like(n_res: int = 500, seed: int = 0):
    """A random-walk chain of CA atoms 3.8 Å apart with N, C, O placed around each CA."""
    g = torch.Generator().manual_seed(seed)
    steps = torch.randn(n_res, 3, generator=g)
    steps = steps / steps.norm(dim=1, keepdim=True) * 3.8
    ca = torch.cumsum(steps, 0)
    ca = ca - ca.mean(0)
    offs = torch.tensor([[-1.2, 0.8, 0.0], [0.0, 0.0, 0.0], [1.3, 0.6, 0.3], [2.0, 1.5, 0.2]])
    coords = ca[:, None] + offs[None] + 0.1 * torch.randn(n_res, 4, 3, generator=g)
    cond = Batch.from_data_list([Data(num_nodes=n_res)])
    cond.h = torch.nn.functional.one_hot(torch.randint(0, 20, (n_res,), generator=g), 20).float()
    return coords.reshape(n_res, 12), cond


def cloud_like(n: int = 2048, seed: int = 0):
    """Points on a noisy unit-ish sphere surface scaled to Å-like units."""
    g = torch.Generator().manual_seed(seed)
    p = torch.randn(n, 3, generator=g)
    p = p / p.norm(dim=1, keepdim=True) * 10 + 0.2 * torch.randn(n, 3, generator=g)
    return p, Batch.from_data_list([Data(num_nodes=n)])


# ---------------------------------------------------------------------------- timing


def _trim() -> None:
    # give freed heap memory back to the OS so that RSS deltas of the next case are honest
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def time_steps(step: Callable[[], None], timed: int, warmup: int = 1) -> dict:
    """Median wall and CPU seconds per step; peak RSS increase over warm-up + timed steps."""
    _trim()
    walls, cpus = [], []
    with PeakRSS() as mem:
        for i in range(warmup + timed):
            t, c = time.perf_counter(), time.process_time()
            step()
            if i >= warmup:
                walls.append(time.perf_counter() - t)
                cpus.append(time.process_time() - c)
    med = statistics.median
    return {"s_per_step": med(walls) if walls else None,
            "cpu_s_per_step": med(cpus) if cpus else None,
            "peak_mib": mem.mib, "mem_method": mem.method, "steps": timed}


def time_interleaved(steps: dict[str, Callable[[], None]], timed: dict[str, int]) -> dict:
    """Like :func:`time_steps` for several models, alternating them step by step so that
    load from other processes on the machine hits every model alike."""
    out = {}
    for name, step in steps.items():  # warm-up + memory, one model at a time
        out[name] = time_steps(step, 0)
    walls: dict[str, list[float]] = {k: [] for k in steps}
    cpus: dict[str, list[float]] = {k: [] for k in steps}
    for r in range(max(timed.values())):
        for name, step in steps.items():
            if r < timed[name]:
                t, c = time.perf_counter(), time.process_time()
                step()
                walls[name].append(time.perf_counter() - t)
                cpus[name].append(time.process_time() - c)
    for name in steps:
        out[name].update(s_per_step=statistics.median(walls[name]),
                         cpu_s_per_step=statistics.median(cpus[name]), steps=timed[name])
    return out


def net_step(net: nn.Module, x: Tensor, cond) -> Callable[[], None]:
    """One Adam step of ``net(x, c_noise, cond)`` against a random target."""
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    c = torch.full((x.shape[0], 1), -0.5)
    target = torch.randn_like(x)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = (net(x, c, cond) - target).square().mean()
        loss.backward()
        opt.step()

    return step


def edm_step(dyn: EDMDynamics, x: Tensor, batch: Tensor, num_graphs: int) -> Callable[[], None]:
    xh, node_mask, edge_mask = pad_graph_batch(x, batch, num_graphs)
    opt = torch.optim.Adam(dyn.parameters(), lr=1e-4)
    t = torch.rand(num_graphs)
    target = torch.randn_like(xh) * node_mask

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        out = dyn(t, xh, node_mask, edge_mask)
        loss = ((out - target) * node_mask).square().mean()
        loss.backward()
        opt.step()

    return step


def edm_unpadded_step(egnn: EDMEGNN, x: Tensor, batch: Tensor) -> Callable[[], None]:
    """EDM's concatenating layer on our unpadded edge list (ablation: padding only)."""
    ei = fully_connected_edges(batch)
    edges = (ei[1], ei[0])  # EDM aggregates at row
    opt = torch.optim.Adam(egnn.parameters(), lr=1e-4)
    h = torch.cat([x[:, 3:], torch.full((x.shape[0], 1), 0.5)], 1)
    target = torch.randn_like(x)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        hf, xf = egnn(h, x[:, :3], edges)
        loss = (torch.cat([xf - x[:, :3], hf[:, :-1]], 1) - target).square().mean()
        loss.backward()
        opt.step()

    return step


def _params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


# ---------------------------------------------------------------------------- cases


def bench_qm9(quick: bool) -> list[dict]:
    layers = 2 if quick else 9
    hidden = 256
    x, batch, cond = qm9_like(64)
    n_graphs = 64
    n_edges = fully_connected_edges(batch).shape[1]
    n_max = int(torch.bincount(batch).max())
    models, steps, timed, edges = {}, {}, {}, {}

    torch.manual_seed(0)
    name = "EGNN (ours: unpadded, split first layer)"
    models[name] = EGNN(9, hidden=hidden, layers=layers, edges="full")
    steps[name], timed[name], edges[name] = net_step(models[name], x, cond), 3 if quick else 5, n_edges
    name = "EDM EGNN (padded n_max^2, concat, scatter_add) [baseline]"
    models[name] = EDMDynamics(6, hidden, layers)
    steps[name] = edm_step(models[name], x, batch, n_graphs)
    timed[name], edges[name] = 2 if quick else 3, n_graphs * n_max * n_max
    name = "ablation: EDM layer on unpadded edges"
    models[name] = EDMEGNN(7, hidden, layers)
    steps[name], timed[name], edges[name] = edm_unpadded_step(models[name], x, batch), 2 if quick else 3, n_edges
    name = "TensorFieldNetwork (64x0e+16x1o+8x2e, 4+1 convs)"
    models[name] = TensorFieldNetwork(9, scalars=64, vectors=16, tensors=8, layers=4,
                                      edges="full")
    steps[name], timed[name], edges[name] = net_step(models[name], x, cond), 2 if quick else 3, n_edges
    res = time_interleaved(steps, timed)
    rows = []
    base = res["EDM EGNN (padded n_max^2, concat, scatter_add) [baseline]"]
    for name, r in res.items():
        rows.append({"case": f"QM9 64 graphs, {layers} layers x {hidden}", "model": name,
                     "edges": edges[name], "params": _params(models[name]),
                     "graphs_per_s": n_graphs / r["s_per_step"], **r,
                     "speedup_vs_edm": base["s_per_step"] / r["s_per_step"],
                     "cpu_speedup_vs_edm": base["cpu_s_per_step"] / r["cpu_s_per_step"]})
    return rows


def bench_big(quick: bool) -> list[dict]:
    layers = 2 if quick else 9
    convs = 2 if quick else 4
    rows = []
    xb, condb = backbone_like(500)
    xc, condc = cloud_like(2048)
    cases = [
        ("backbone 500 res (N,CA,C,O), kNN 16", xb, condb,
         lambda: EGNN(12, cond_features=20, vector_channels=4, hidden=256, layers=layers,
                      edges="knn", k=16, sequence_neighbours=1),
         lambda: TensorFieldNetwork(12, cond_features=20, vector_channels=4, layers=convs,
                                    edges="knn", k=16, sequence_neighbours=1)),
        ("point cloud 2048, kNN 16", xc, condc,
         lambda: EGNN(3, hidden=256, layers=layers, edges="knn", k=16),
         lambda: TensorFieldNetwork(3, layers=convs, edges="knn", k=16)),
    ]
    for case, x, cond, mk_egnn, mk_tfn in cases:
        for name, mk, note in ((f"EGNN {layers} layers x 256", mk_egnn, ""),
                               (f"TensorFieldNetwork {convs}+1 convs", mk_tfn, "")):
            torch.manual_seed(0)
            net = mk()
            r = time_steps(net_step(net, x, cond), 1 if quick else 3)
            centre = x.reshape(x.shape[0], -1, 3).mean(1)
            n_e = net.edge_builder(centre, cond.batch, 1, cond)[0].shape[1]
            rows.append({"case": case, "model": name, "edges": n_e, "params": _params(net),
                         "graphs_per_s": 1 / r["s_per_step"], **r, "note": note})
    return rows


def bench_scaling(quick: bool) -> list[dict]:
    sizes = [256, 512, 1024, 2048, 4096]
    rows = []
    torch.manual_seed(0)
    hidden, layers = (32, 2) if quick else (64, 4)
    net = EGNN(3, hidden=hidden, layers=layers, edges="knn", k=16)
    for n in sizes:
        x, cond = cloud_like(n, seed=1)
        t = time.perf_counter()
        for _ in range(3):
            ei = knn_edges(x, cond.batch, 16)
        build = (time.perf_counter() - t) / 3
        r = time_steps(net_step(net, x, cond), 1 if quick else 3)
        rows.append({"model": f"EGNN {layers} x {hidden}", "nodes": n, "edges": ei.shape[1], "knn_build_ms": build * 1e3,
                     "step_ms": r["s_per_step"] * 1e3,
                     "us_per_edge": r["s_per_step"] / ei.shape[1] * 1e6,
                     "peak_mib": r["peak_mib"]})
    return rows


def bench_aggregation(quick: bool) -> list[dict]:
    _, batch, _ = qm9_like(64)
    n = batch.numel()
    ei = fully_connected_edges(batch)
    dst = ei[1]
    e, h = dst.numel(), 256
    counts = torch.bincount(dst, minlength=n)
    idx_exp = dst[:, None].expand(-1, h)
    crow = torch.zeros(n + 1, dtype=torch.long)
    crow[1:] = torch.cumsum(counts, 0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adj = torch.sparse_csr_tensor(crow, torch.arange(e), torch.ones(e), size=(n, e))
    # dense per graph: messages laid out as [B, n_max, n_max, H] (EDM-style padding)
    gcounts = torch.bincount(batch)
    n_max = int(gcounts.max())
    b_count = gcounts.numel()

    kernels = {
        "index_add_": lambda m: m.new_zeros(n, h).index_add_(0, dst, m),
        "scatter_add_ (expanded index, EDM)": lambda m: m.new_zeros(n, h).scatter_add_(
            0, idx_exp, m),
        "segment_reduce (sorted, lengths)": lambda m: torch.segment_reduce(m, "sum",
                                                                           lengths=counts),
        "CSR sparse matmul": lambda m: adj @ m,
    }
    rows = []
    reps = 5 if quick else 30
    for name, f in kernels.items():
        m = torch.randn(e, h, requires_grad=True)
        for _ in range(2):
            f(m).sum().backward()
        t = time.perf_counter()
        for _ in range(reps):
            f(m).sum().backward()
        rows.append({"kernel": name, "edges": e, "ms_fwd_bwd": (time.perf_counter() - t) / reps
                     * 1e3})
    m = torch.randn(b_count, n_max, n_max, h, requires_grad=True)
    for _ in range(2):
        m.sum(2).sum().backward()
    t = time.perf_counter()
    for _ in range(reps):
        m.sum(2).sum().backward()
    rows.append({"kernel": "dense per graph (padded [B, n_max, n_max, H].sum)",
                 "edges": b_count * n_max * n_max,
                 "ms_fwd_bwd": (time.perf_counter() - t) / reps * 1e3})
    w = torch.randn(h, h)
    mm = torch.randn(e, h)
    t = time.perf_counter()
    for _ in range(reps):
        mm @ w
    rows.append({"kernel": "(reference) one [E,256]x[256,256] matmul, forward only", "edges": e,
                 "ms_fwd_bwd": (time.perf_counter() - t) / reps * 1e3})
    return rows


# ---------------------------------------------------------------------------- report


def _table(rows: list[dict], cols: list[tuple[str, str, str]]) -> str:
    head = "| " + " | ".join(c[1] for c in cols) + " |"
    sep = "|" + "|".join("---" for _ in cols) + "|"
    body = []
    for r in rows:
        cells = []
        for key, _, fmt in cols:
            v = r.get(key, "")
            cells.append(format(v, fmt) if fmt and isinstance(v, int | float) else str(v))
        body.append("| " + " | ".join(cells) + " |")
    return "\n".join([head, sep, *body])


def run(quick: bool) -> dict:
    """Run every case; returns JSON-serialisable rows plus a markdown ``table``."""
    torch.manual_seed(0)
    t0 = time.perf_counter()
    load0 = os.getloadavg()
    qm9 = bench_qm9(quick)
    big = bench_big(quick)
    scaling = bench_scaling(quick)
    agg = bench_aggregation(quick)
    load1 = os.getloadavg()
    step_cols = [("case", "case", ""), ("model", "model", ""), ("edges", "edges", "d"),
                 ("params", "params", ","), ("s_per_step", "wall s / step", ".3f"),
                 ("cpu_s_per_step", "CPU s / step", ".3f"),
                 ("graphs_per_s", "graphs / s", ".2f"), ("peak_mib", "peak RSS MiB", ".0f"),
                 ("steps", "timed steps", "d")]
    mode = ("QUICK mode: QM9 and big-graph EGNNs use 2 layers, TFN 2+1 convs on big graphs, "
            "scaling net 2 x 32, 1-3 timed steps (full mode: EDM's 9 layers x 256)"
            if quick else "full mode: EDM's 9 layers x 256")
    lines = [
        f"Forward + backward + Adam step, float32, {torch.get_num_threads()} threads; median "
        f"of timed steps after 1 warm-up. {mode}. CPU s = process CPU time (all threads). "
        f"Peak RSS = increase of VmHWM (/proc/self/status, reset via clear_refs after "
        f"malloc_trim) over warm-up + timed steps. Load average at start / end: "
        f"{load0[0]:.1f} / {load1[0]:.1f} (other processes share the machine, so QM9 models "
        f"are timed interleaved, step by step).",
        "",
        "**(a) QM9-sized batch** (64 graphs, 9-29 atoms, fully connected; EDM layer design: "
        "attention, tanh, normalised differences, sum aggregation)",
        "",
        _table(qm9, step_cols + [("speedup_vs_edm", "wall speed-up vs EDM", ".1f"),
                                 ("cpu_speedup_vs_edm", "CPU speed-up vs EDM", ".1f")]),
        "",
        "**(b, c) one large graph** (EGNN hidden 256; TFN 64x0e+16x1o+8x2e)",
        "",
        _table(big, step_cols),
        "",
        "EDM's padded all-pairs layout is not run on (b, c): 250k / 4.2M edges per layer.",
        "",
        "**(d) time vs nodes**, kNN k=16 point clouds (kNN build = graph construction alone, "
        "blockwise brute force, included in the step)",
        "",
        _table(scaling, [("model", "model", ""), ("nodes", "nodes", "d"),
                         ("edges", "edges", "d"),
                         ("knn_build_ms", "kNN build ms", ".1f"),
                         ("step_ms", "step ms", ".1f"), ("us_per_edge", "us / edge", ".2f"),
                         ("peak_mib", "peak RSS MiB", ".0f")]),
        "",
        "**(e) aggregation kernels** on the QM9 edge set, [E, 256] messages, forward+backward",
        "",
        _table(agg, [("kernel", "kernel", ""), ("edges", "rows", "d"),
                     ("ms_fwd_bwd", "ms", ".2f")]),
    ]
    return {"quick": quick, "qm9": qm9, "big_graphs": big, "scaling": scaling,
            "aggregation": agg, "load_average": [load0, load1],
            "seconds": time.perf_counter() - t0, "table": "\n".join(lines)}


if __name__ == "__main__":
    res = run("--quick" in sys.argv)
    print(res["table"])
    print(f"\n({res['seconds']:.0f} s)")
