"""Ablation, noise perturbation and activation maximization read a layer's units as channels-first
maps: asked of a token or channels-last layer they refuse in one line, never draw the wrong axis."""

import pytest

from nnvis.errors import NNVisError
from nnvis.unitlab.layouts import check_channels_first

MANIFEST = {"layouts": {"encoder.layers.encoder_layer_3": "tokens:1", "features.1": "channels-last",
                        "conv2": "channels-first", "heads.head:input": "vector"}}


def test_channels_first_maps_and_vectors_pass():
    check_channels_first(MANIFEST, ["conv2", "heads.head:input", "fc1"], "low-activation ablation")  # fc1: not recorded
    check_channels_first({}, ["conv2"], "noise perturbation")  # a workspace from before layouts were recorded


@pytest.mark.parametrize("layer, layout", [("encoder.layers.encoder_layer_3", "tokens:1"),
                                           ("features.1", "channels-last")])
def test_token_and_channels_last_layers_are_refused_in_one_line(layer, layout):
    with pytest.raises(NNVisError, match=f"^activation maximization of {layer} is not available for its {layout} "):
        check_channels_first(MANIFEST, ["conv2", layer], "activation maximization")
