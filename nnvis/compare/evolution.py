"""Evolution sequences over a workspace: aligned frames across layers (one epoch) or across
epochs (one layer), their NH, their stability, and their bundled trails, each cached in the
store per coherence setting (`nnvis.projection.trails`)."""

from __future__ import annotations

import numpy as np

from nnvis.projection.metrics import faithfulness, neighborhood_hit, seeded_sample, temporal_preservation
from nnvis.projection.trails import aligned_frames, bundle_trails, check_coherence
from nnvis.workspace import keys
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.store import Arrays, ArtifactKey

SEQUENCES = ("layers", "epochs")
STABILITY = ("nh_independent", "temporal", "trustworthiness", "continuity")  # added to sequences in this order


def sequence_key(analysis: Analysis, kind: str, anchor: str | int, method: str,
                 coherence: str | None = None) -> ArtifactKey:
    """What a sequence depends on (nnvis.workspace.keys.sequence)."""
    return keys.sequence(analysis, kind, anchor, method, coherence)


def frame_names(analysis: Analysis, kind: str) -> list[str]:
    return list(analysis.layers) if kind == "layers" else [f"epoch {e}" for e in analysis.epochs]


def frame_views(analysis: Analysis, kind: str, anchor: str | int) -> list[tuple[str, int]]:
    """(layer, epoch) of each frame of the sequence."""
    if kind == "layers":
        return [(layer, int(anchor)) for layer in analysis.layers]
    return [(str(anchor), epoch) for epoch in analysis.epochs]


def sequence(analysis: Analysis, kind: str, anchor: str | int, method: str, coherence: str | None = None) -> Arrays:
    """Aligned frames (frames, N, 2) and their NH: the hidden layers at epoch `anchor`
    (kind 'layers') or the epochs of layer `anchor` (kind 'epochs'), tied by `coherence`; with
    their stability (`sequence_stability`). A sequence stored before the stability measures
    existed gets them on first read."""
    views = frame_views(analysis, kind, anchor)
    key = sequence_key(analysis, kind, anchor, method, coherence)

    def compute() -> Arrays:
        xs = [analysis.activations(layer, epoch) for layer, epoch in views]
        independent = [analysis.projection(layer, epoch, method)["points"] for layer, epoch in views]
        graphs = None if method == "pca" else [analysis.knn_graph(layer, epoch) for layer, epoch in views]
        frames = aligned_frames(xs, method, seed=analysis.config.seed, progress=analysis.progress,
                                coherence=check_coherence(coherence, method), independent=independent, graphs=graphs,
                                labels=analysis.labels)
        nh = np.array([neighborhood_hit(f, analysis.labels).mean() for f in frames], np.float32)
        return {"frames": frames, "nh": nh, **sequence_stability(analysis, views, frames, method)}
    found = analysis.store.get_or_compute(key, compute)
    if any(name not in found for name in STABILITY):
        found = {**found, **sequence_stability(analysis, views, found["frames"], method)}
        analysis.store.put(key, found)
    return found


def sequence_stability(analysis: Analysis, views: list[tuple[str, int]], frames: np.ndarray, method: str) -> Arrays:
    """How far to trust a sequence: per frame, the NH of its independent projection (to compare
    with the aligned frame's), its trustworthiness and continuity (k = 7); per step, the
    temporal preservation (DVI/TimeVis: Spearman correlation between each observation's change
    of its 15 nearest neighbours in activation space and its displacement in 2-D)."""
    analysis.progress("stability", 0, len(views))
    xs = [analysis.activations(layer, epoch) for layer, epoch in views]
    cap = analysis.faithfulness_sample()
    measured = [faithfulness(x, f, seed=analysis.config.seed, device=analysis.device, max_observations=cap)
                for x, f in zip(xs, frames)]
    temporal = [temporal_sample(analysis, xs[i], xs[i + 1], frames[i], frames[i + 1]) for i in range(len(xs) - 1)]
    analysis.progress("stability", len(views), len(views))
    return {"nh_independent": np.array([analysis.neighborhood_hit(layer, epoch, method) for layer, epoch in views],
                                       np.float32),
            "temporal": np.array(temporal, np.float32),
            "trustworthiness": np.array([m["trustworthiness"][0] for m in measured], np.float32),
            "continuity": np.array([m["continuity"][0] for m in measured], np.float32)}


def temporal_sample(analysis: Analysis, x_before, x_after, y_before, y_after) -> float:
    """Temporal preservation of one step, on the same seeded sample as trustworthiness on the CPU."""
    cap = analysis.faithfulness_sample()
    if cap is not None and len(y_before) > cap:
        chosen = seeded_sample(len(y_before), cap, analysis.config.seed)
        x_before, x_after, y_before, y_after = x_before[chosen], x_after[chosen], y_before[chosen], y_after[chosen]
    return temporal_preservation(x_before, x_after, y_before, y_after)


def has_sequence(analysis: Analysis, kind: str, anchor: str | int, method: str, bundled: bool = False,
                 coherence: str | None = None) -> bool:
    key = (keys.bundled_trails if bundled else keys.sequence)(analysis, kind, anchor, method, coherence)
    return key in analysis.store


def bundled_trails(analysis: Analysis, kind: str, anchor: str | int, method: str,
                   coherence: str | None = None) -> Arrays:
    """The sequence's trails edge-bundled by hammer_bundle: (N, segments, points, 2)."""
    key = keys.bundled_trails(analysis, kind, anchor, method, coherence)

    def compute() -> Arrays:
        frames = sequence(analysis, kind, anchor, method, coherence)["frames"]
        analysis.progress("bundled trails", 0, 1)
        paths = bundle_trails(frames)
        analysis.progress("bundled trails", 1, 1)
        return {"paths": paths}
    return analysis.store.get_or_compute(key, compute)
