"""Tiny models with hand-checkable activations, also reachable as `module:function` specs."""

import torch
from torch import nn


class TwoByTwo(nn.Module):
    """x (N,1,1,2) -> flatten -> Linear [[1, -1], [2, 0]] + [0, 1] -> ReLU -> Linear identity."""

    hidden_layers = ["hidden"]

    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.hidden = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
        self.output = nn.Linear(2, 2)
        with torch.no_grad():
            self.hidden[0].weight.copy_(torch.tensor([[1.0, -1.0], [2.0, 0.0]]))
            self.hidden[0].bias.copy_(torch.tensor([0.0, 1.0]))
            self.output.weight.copy_(torch.eye(2))
            self.output.bias.zero_()

    def forward(self, x):
        return self.output(self.hidden(self.flatten(x)))


class OnesConv(nn.Module):
    """A 3x3 all-ones kernel on a 1-channel image (no padding), two channels: ones and minus ones."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, bias=False)
        with torch.no_grad():
            self.conv.weight[0].fill_(1.0)
            self.conv.weight[1].fill_(-1.0)
        self.head = nn.Sequential(nn.Flatten(), nn.LazyLinear(2))

    def forward(self, x):
        return self.head(self.conv(x))


def two_by_two() -> nn.Module:
    return TwoByTwo()


def not_a_module():
    return "nope"
