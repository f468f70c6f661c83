"""Projections of activations and their measures: t-SNE, UMAP and PCA (on the GPU where there is
one), neighborhood hit, trustworthiness and continuity, density images, trails, and the neuron map's
scores.

Public names below (each loads its module on first use); everything else is the wing's own."""

from nnvis._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "category_image": "density",
    "full_range": "density",
    "nearest_observation": "density",
    "value_image": "density",
    "uses_gpu_engine": "gpu",
    "rank_neurons": "linking",
    "representatives": "linking",
    "top_units": "linking",
    "PROJECTIONS": "methods",
    "check_method": "methods",
    "neuron_projection": "methods",
    "project": "methods",
    "FAITHFULNESS_KS": "metrics",
    "FAITHFULNESS_OBSERVATIONS": "metrics",
    "accuracy": "metrics",
    "drop_self": "metrics",
    "faithfulness": "metrics",
    "neighborhood_hit": "metrics",
    "seeded_sample": "metrics",
    "temporal_preservation": "metrics",
    "DEFAULT_SCORING": "neurons",
    "SCORINGS": "neurons",
    "best_classes": "neurons",
    "check_scoring": "neurons",
    "class_means": "neurons",
    "live_units": "neurons",
    "neuron_scores": "neurons",
    "COHERENCE": "trails",
    "TIE_NEIGHBOURS": "trails",
    "aligned_frames": "trails",
    "bundle_trails": "trails",
    "check_coherence": "trails",
    "project_from": "trails",
    "warm_up_bundling": "trails",
})
