"""What changed: two snapshots compared side by side, and sequences of frames across layers and epochs.

Public names below (each loads its module on first use); everything else is the wing's own."""

from nnvis._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "bundled_trails": "evolution",
    "frame_names": "evolution",
    "has_sequence": "evolution",
    "sequence": "evolution",
    "K_NEIGHBOURS": "snapshots",
    "Snapshot": "snapshots",
    "TOP_MOVERS": "snapshots",
    "aligned_projections": "snapshots",
    "class_nh": "snapshots",
    "class_verdict": "snapshots",
    "comparison": "snapshots",
    "compute_comparison": "snapshots",
    "has_aligned_projections": "snapshots",
    "mover_order": "snapshots",
    "neighbourhood_change": "snapshots",
    "open_pair": "snapshots",
})
