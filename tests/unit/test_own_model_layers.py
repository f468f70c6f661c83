"""Default layers for any nn.Module: the input of the last Linear always, the model's blocks
(activations inside a top-level Sequential), never the logits; torchvision's stage outputs."""

import torch
import torchvision
from torch import nn

from nnvis.models.layers import default_layer_reasons, default_layers
from tests.integration.test_own_model import UserNet
from tests.tiny_models import HandConv, OnesConv, three_layer_mlp


def test_a_users_cnn_gets_its_activations_and_the_penultimate_layer():
    reasons = default_layer_reasons(UserNet())
    assert list(reasons) == ["features.2", "features.6", "head.2"]
    assert "input of the last Linear" in reasons["head.2"]


def test_torchvision_families_get_their_stage_outputs():
    with torch.device("meta"):  # structure only: no memory, no initialisation
        resnet18, vgg11, mobilenet = (torchvision.models.resnet18(), torchvision.models.vgg11(),
                                      torchvision.models.mobilenet_v2())
    resnet = default_layer_reasons(resnet18)
    assert list(resnet) == ["layer1", "layer2", "layer3", "layer4", "avgpool"]
    assert "input of the last Linear" in resnet["avgpool"]
    vgg = default_layers(vgg11)
    assert vgg == ["features.2", "features.5", "features.10", "features.15", "features.20",
                   "classifier.1", "classifier.4"]
    # a Sequential of blocks without activations of its own: the blocks; the penultimate is the
    # last block (its last activation), not listed twice
    mobile = default_layer_reasons(mobilenet)
    assert list(mobile) == [f"features.{i}" for i in range(19)]
    assert "input of the last Linear" in mobile["features.18"]


def test_plain_models_never_get_their_logits():
    assert default_layers(HandConv()) == ["conv", "relu"]  # not the flatten, not the fc
    assert default_layers(OnesConv()) == ["conv"]  # its head holds the classifier
    assert default_layers(three_layer_mlp()) == ["hidden1", "hidden2"]  # declared by the model
    plain = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    assert default_layers(nn.Sequential(plain)) == ["0.2"]
    convs_only = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3))
    assert default_layers(convs_only) == ["1"]  # the activations inside the model's own Sequential
