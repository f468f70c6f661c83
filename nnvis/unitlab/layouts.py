"""Which layers the unit analyses that read units as channels-first maps (ablation, noise
perturbation, activation maximization) may be asked of: a token sequence or a channels-last map
would be read along the wrong axis, a wrong picture that looks right, so it is refused in one line."""

from __future__ import annotations

from nnvis.errors import NNVisError

CHANNELS_FIRST_READS = ("channels-first", "vector")


def check_channels_first(manifest: dict, layers: list[str], what: str) -> None:
    """NNVisError when one of `layers` is recorded in the workspace's `manifest` with a layout
    other than channels-first maps or vectors."""
    recorded = manifest.get("layouts") or {}
    for layer in layers:
        layout = str(recorded.get(layer, "channels-first"))
        if layout.split(":")[0] not in CHANNELS_FIRST_READS:
            raise NNVisError(f"{what} of {layer} is not available for its {layout} layout yet (it reads a layer's "
                             "units as channels-first maps); choose a convolutional or dense layer")
