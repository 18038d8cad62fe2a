"""Equivariant graph denoiser networks and graph construction (see docs/nn.md).

Submodules are imported lazily so that ``import molediff.nn`` does not pull in e3nn.
"""

from __future__ import annotations

from molediff.utils.lazy import lazy_exports

_EXPORTS = {
    "EGNN": "molediff.nn.egnn",
    "EGNNLayer": "molediff.nn.egnn",
    "TensorFieldNetwork": "molediff.nn.tensorfield",
    "TensorFieldConv": "molediff.nn.tensorfield",
    "EdgeBuilder": "molediff.nn.edge_builder",
    "NoiseEmbedding": "molediff.nn.embeddings",
    "ConditionEmbedding": "molediff.nn.embeddings",
    "FourierEmbedding": "molediff.nn.embeddings",
    "fully_connected_edges": "molediff.nn.graphs",
    "radius_edges": "molediff.nn.graphs",
    "knn_edges": "molediff.nn.graphs",
    "sequence_edges": "molediff.nn.graphs",
    "union_edges": "molediff.nn.graphs",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
