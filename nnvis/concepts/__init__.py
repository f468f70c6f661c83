"""Concepts of a layer: directions in its activation space that recur over many images,
found by scikit-learn's NMF of the activations at spatial positions (CRAFT, ACE), each with its
exemplars, heat-maps, share of the layer and causal importance per class, and matched from one
epoch to the next by their strengths over the same images (Hungarian assignment).

Public names below (each loads its module on first use); everything else is the wing's own."""

from nnvis._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "Request": "atlas",
    "across_epochs": "atlas",
    "atlas": "atlas",
    "has_atlas": "atlas",
    "heat_maps": "atlas",
    "matching": "atlas",
    "summary": "atlas",
    "check_k": "factor",
    "fit_concepts": "factor",
    "match": "factor",
    "strengths": "factor",
    "explained_variance": "factor",
})
