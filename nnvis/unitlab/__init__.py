"""Unit-level analyses: top-k images, rule-based neuron selection, activation maximization,
ablation, class cosine similarity, sparsity and noise perturbation.

Public names below (each loads its module on first use); everything else is the wing's own."""

from nnvis._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "fraction_to_count": "ablation",
    "ActMaxParams": "actmax",
    "actmax_for": "actmax",
    "ablation_sweep": "lab",
    "activations": "lab",
    "class_similarity": "lab",
    "first_drop": "lab",
    "layer_sparsity": "lab",
    "resolve_epoch": "lab",
    "run_unit_job": "lab",
    "select": "lab",
    "top_examples": "lab",
})
