"""A workspace on disk: its manifest, the store of computed artifacts (one key function per
artifact kind in `keys`), the analysis that computes and caches them, the per-process cache of
loaded models, the training pipeline, integrity checks, the Recorder and exports.

Public names below (each loads its module on first use); everything else is the wing's own."""

from nnvis._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "Analysis": "analysis",
    "faithfulness_summary": "analysis",
    "projection_csv": "export",
    "check": "integrity",
    "MODELS": "model_cache",
    "patch_projection": "patch_tokens",
    "prepare": "pipeline",
    "run": "pipeline",
    "StoredWorkspace": "stored",
    "Recorder": "recorder",
    "Arrays": "store",
    "ArtifactKey": "store",
    "DEFAULT_SUBSET": "workspace",
    "DEVICES": "workspace",
    "OBSERVATIONS": "workspace",
    "RunConfig": "workspace",
    "SUBSET_ALL": "workspace",
    "Workspace": "workspace",
})
