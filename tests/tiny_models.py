"""Tiny models with hand-checkable activations, also reachable as `module:function` specs."""

import torch
from torch import nn


class OneHidden(nn.Module):
    """flatten -> hidden = ReLU(Linear) -> output = Linear, with the weights given (an output
    left as None keeps PyTorch's initialisation)."""

    hidden_layers = ["hidden"]

    def __init__(self, hidden_weight, hidden_bias, output_weight=None, output_bias=None):
        super().__init__()
        hidden_weight = torch.tensor(hidden_weight, dtype=torch.float32)
        self.flatten = nn.Flatten()
        self.hidden = nn.Sequential(nn.Linear(hidden_weight.shape[1], hidden_weight.shape[0]), nn.ReLU())
        self.output = nn.Linear(hidden_weight.shape[0], len(output_bias) if output_bias is not None
                                else hidden_weight.shape[0])
        with torch.no_grad():
            self.hidden[0].weight.copy_(hidden_weight)
            self.hidden[0].bias.copy_(torch.tensor(hidden_bias, dtype=torch.float32))
            if output_weight is not None:
                self.output.weight.copy_(torch.tensor(output_weight, dtype=torch.float32))
                self.output.bias.copy_(torch.tensor(output_bias, dtype=torch.float32))

    def forward(self, x):
        return self.output(self.hidden(self.flatten(x)))


class TwoByTwo(OneHidden):
    """x (N,1,1,2) -> flatten -> Linear [[1, -1], [2, 0]] + [0, 1] -> ReLU -> Linear identity."""

    def __init__(self):
        super().__init__([[1.0, -1.0], [2.0, 0.0]], [0.0, 1.0], torch.eye(2).tolist(), [0.0, 0.0])


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


class HandConv(nn.Module):
    """x (N,1,3,3) -> conv: 2x2 kernels [[1, 0], [0, -1]], [[0, 1], [1, 0]] and zeros with bias
    0.5 -> relu -> flatten -> fc: Linear(12, 2), row 0 all ones, row 1 zeros, no bias."""

    KERNELS = [[[1.0, 0.0], [0.0, -1.0]], [[0.0, 1.0], [1.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]]

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 2)
        self.relu = nn.ReLU()
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(12, 2, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor(self.KERNELS)[:, None])
            self.conv.bias.copy_(torch.tensor([0.0, 0.0, 0.5]))
            self.fc.weight.zero_()
            self.fc.weight[0] = 1.0

    def forward(self, x):
        return self.fc(self.flatten(self.relu(self.conv(x))))


def three_layer_mlp():
    """nnvis's MLP on 2x2 grey images with widths (4, 3) and 2 classes, hand-set weights, no biases:
    hidden1.0 W1 (4x4), hidden2.0 W2 (3x4), output W3 (2x3) as in the constants below."""
    from nnvis.models.zoo import MLP

    model = MLP(4, 2, widths=(4, 3))
    with torch.no_grad():
        for layer, weight in ((model.hidden1[0], W1), (model.hidden2[0], W2), (model.output, W3)):
            layer.weight.copy_(torch.tensor(weight))
            layer.bias.zero_()
    return model


W1 = [[1.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0], [0.0, 0.0, -1.0, 1.0], [0.5, 0.5, 0.5, 0.5]]
W2 = [[0.1, -3.0, 2.0, 0.0], [1.0, 0.2, -0.5, 4.0], [0.0, 0.0, 0.0, 1.0]]
W3 = [[1.0, -2.0, 0.5], [0.0, 1.0, 3.0]]


class FunctionalHead(nn.Module):
    """A CNN whose classifier reads `F.relu(fc1(x))`: the activation is a function, not a module,
    so the representation the classifier reads is fc2's input, not fc1's output."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc1 = nn.Linear(4 * 6 * 6, 16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        x = torch.flatten(nn.functional.relu(self.conv(x)), 1)
        return self.fc2(nn.functional.relu(self.fc1(x)))


class TutorialNet(nn.Module):
    """The CIFAR-10 CNN of PyTorch's own tutorial ("Training a classifier"): one `pool` module
    called twice per forward pass, functional ReLUs."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(nn.functional.relu(self.conv1(x)))
        x = self.pool(nn.functional.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = nn.functional.relu(self.fc1(x))
        x = nn.functional.relu(self.fc2(x))
        return self.fc3(x)


def tutorial_net() -> nn.Module:
    return TutorialNet()


def small_vit() -> nn.Module:
    """A torchvision VisionTransformer for 32x32 images: 4x4 patches (64 patch tokens and the
    class token), 4 encoder blocks of hidden size 64, 10 classes."""
    import torchvision

    return torchvision.models.VisionTransformer(image_size=32, patch_size=4, num_layers=4, num_heads=4,
                                                hidden_dim=64, mlp_dim=128, num_classes=10)


# ---- a user's own CIFAR-10 loop (tests of `--checkpoints`, the concept atlas)

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
CIFAR_NORMALIZE = f"{','.join(map(str, CIFAR_MEAN))}/{','.join(map(str, CIFAR_STD))}"


def cifar_normalised(images) -> torch.Tensor:
    """uint8 NHWC images as the loop feeds them: [0, 1], NCHW, per-channel normalised."""
    x = torch.from_numpy(images).float().div(255).permute(0, 3, 1, 2)
    return (x - torch.tensor(CIFAR_MEAN)[:, None, None]) / torch.tensor(CIFAR_STD)[:, None, None]


def cifar_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def train_on_cifar(cifar_npz, folder, model: nn.Module, *, seed: int, train: int, test: int,
                   epochs: int) -> tuple:
    """A plain PyTorch loop as a user writes it: `train` images split off the CIFAR-10 test file
    (a permutation seeded with `seed`) and the next `test` to test, written to FOLDER/cifar.npz;
    Adam (lr 2e-3, batches of 64), a state_dict per epoch in FOLDER/ckpt (epoch 0 the initial
    weights). Returns (the npz path, the loop's test accuracy per epoch)."""
    import numpy as np

    with np.load(cifar_npz) as npz:
        x, y = npz["x"], npz["y"].astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    train_index, test_index = order[:train], order[train:train + test]
    data = folder / "cifar.npz"
    np.savez(data, x_train=x[train_index], y_train=y[train_index], x_test=x[test_index], y_test=y[test_index])
    torch.manual_seed(0)
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    xt, yt = cifar_normalised(x[train_index]), torch.from_numpy(y[train_index])
    xs, ys = cifar_normalised(x[test_index]), torch.from_numpy(y[test_index])
    (folder / "ckpt").mkdir()
    accuracies = {}
    for epoch in range(epochs + 1):
        if epoch:
            model.train()
            for index in torch.randperm(len(yt)).split(64):
                optimiser.zero_grad()
                nn.functional.cross_entropy(model(xt[index]), yt[index]).backward()
                optimiser.step()
        accuracies[epoch] = cifar_accuracy(model, xs, ys)
        torch.save(model.state_dict(), folder / "ckpt" / f"epoch_{epoch}.pt")
    return data, accuracies
