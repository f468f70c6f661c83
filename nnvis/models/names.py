"""Names shared by the model wing and the readers of a workspace, importable without torch (the
CLI's `summary` reads a store's figures with these and never loads a model)."""

INPUT_LAYER = "input"
"""The pseudo-layer holding the raw pixels of each observation."""

PRECISION_NAMES = ("float32", "bfloat16", "float16")
"""The precisions a capture may run in (`--precision`; nnvis.models.activations.PRECISIONS maps
each to its torch dtype)."""
