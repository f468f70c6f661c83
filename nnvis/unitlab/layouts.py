"""How the unit analyses read a layer's units, whatever its layout (nnvis.models.layout decides
it): a unit is a channel of a channels-first map (axis 1), a channel of a channels-last map or a
hidden unit of a token sequence (the last axis), a neuron of a vector. Ablation zeroes it
everywhere it lives (every position of a map, every token, the prefix tokens included);
activation maximization, saliency and the per-image alpha read it as the workspace's
observations do (a map's spatial mean; for tokens, `--tokens`: the class token, or the mean
of the patch tokens)."""

from __future__ import annotations

from nnvis.models.layout import CHANNELS_FIRST, CHANNELS_LAST, TOKEN_KINDS, VECTOR, Layout, parse_layouts


def given_layouts(analysis) -> dict[str, Layout]:
    """The layouts the workspace's run named with --layout (none: the model decides)."""
    return parse_layouts(getattr(analysis.config, "layout", None))


def workspace_tokens(analysis) -> str | None:
    """Which tokens stand for an image in the workspace (`--tokens`), or None (the default)."""
    return getattr(analysis.config, "tokens", None)


def recorded_layout(analysis, layer: str) -> Layout:
    """`layer`'s layout as the workspace's run recorded it (channels-first for a workspace from
    before layouts were recorded)."""
    text = str((analysis.manifest.get("layouts") or {}).get(layer, CHANNELS_FIRST))
    kind, _, prefix = text.partition(":")
    return Layout(kind, int(prefix) if prefix.isdigit() else 0)


def unit_axis(layout: Layout, ndim: int) -> int:
    """The axis of an `ndim`-axis output that holds the units."""
    return 1 if layout.kind == CHANNELS_FIRST or ndim <= 2 else ndim - 1


def what_a_unit_is(layout: Layout, tokens: str | None) -> str:
    """One phrase: what one unit's value per image is (what activation maximization maximizes,
    what saliency explains, what alpha is)."""
    if layout.kind in TOKEN_KINDS:
        tokens = tokens or ("cls" if layout.prefix else "mean")
        if tokens == "cls":
            return ("the unit's mean over the class and distillation tokens" if layout.distilled
                    else "the unit's value at the class token")
        return "the unit's mean over the patch tokens (prefix tokens left out)"
    if layout.kind == CHANNELS_LAST:
        return "the channel's mean over its map (channels last)"
    if layout.kind == VECTOR:
        return "the neuron's value"
    return "the channel's mean over its map"

