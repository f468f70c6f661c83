"""Evolution sequences over a workspace: aligned frames across layers (one epoch) or across
epochs (one layer), their NH, and their bundled trails, each cached in the store."""

from __future__ import annotations

import numpy as np

from nnvis.analysis import Analysis
from nnvis.metrics import neighborhood_hit
from nnvis.store import Arrays, ArtifactKey
from nnvis.trails import aligned_frames, bundle_trails

SEQUENCES = ("layers", "epochs")


def sequence_key(analysis: Analysis, kind: str, anchor: str | int, method: str) -> ArtifactKey:
    """What a sequence depends on: every frame's weights, its layers, the method and the seed."""
    if kind == "layers":
        return analysis.key("sequence", layer=",".join(analysis.layers), epoch=int(anchor), method=method,
                            seed=analysis.config.seed)
    weights = ",".join(analysis.weights(e) for e in analysis.epochs)
    return analysis.key("sequence", layer=str(anchor), method=method, weights_by_epoch=weights,
                        seed=analysis.config.seed)


def frame_names(analysis: Analysis, kind: str) -> list[str]:
    return list(analysis.layers) if kind == "layers" else [f"epoch {e}" for e in analysis.epochs]


def sequence(analysis: Analysis, kind: str, anchor: str | int, method: str) -> Arrays:
    """Aligned frames (frames, N, 2) and their NH: the hidden layers at epoch `anchor`
    (kind 'layers') or the epochs of layer `anchor` (kind 'epochs')."""
    def compute() -> Arrays:
        if kind == "layers":
            xs = [analysis.activations(layer, int(anchor)) for layer in analysis.layers]
        else:
            xs = [analysis.activations(str(anchor), epoch) for epoch in analysis.epochs]
        frames = aligned_frames(xs, method, seed=analysis.config.seed, progress=analysis.progress)
        nh = np.array([neighborhood_hit(f, analysis.labels).mean() for f in frames], np.float32)
        return {"frames": frames, "nh": nh}
    return analysis.store.get_or_compute(sequence_key(analysis, kind, anchor, method), compute)


def has_sequence(analysis: Analysis, kind: str, anchor: str | int, method: str, bundled: bool = False) -> bool:
    key = sequence_key(analysis, kind, anchor, method)
    return (bundle_key(key) if bundled else key) in analysis.store


def bundle_key(key: ArtifactKey) -> ArtifactKey:
    return ArtifactKey(**{**key.__dict__, "kind": "bundled-trails"})


def bundled_trails(analysis: Analysis, kind: str, anchor: str | int, method: str) -> Arrays:
    """The sequence's trails edge-bundled by hammer_bundle: (N, segments, points, 2)."""
    key = bundle_key(sequence_key(analysis, kind, anchor, method))
    def compute() -> Arrays:
        frames = sequence(analysis, kind, anchor, method)["frames"]
        analysis.progress("bundled trails", 0, 1)
        paths = bundle_trails(frames)
        analysis.progress("bundled trails", 1, 1)
        return {"paths": paths}
    return analysis.store.get_or_compute(key, compute)
