"""Models: the paper's MLP and CNN, torchvision architectures by name, checkpoint and
TorchScript files, and `module:function` factories. Checkpoints load with weights_only=True."""

from __future__ import annotations

import difflib
import importlib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from nnvis.data.preprocess import Preprocess
from nnvis.errors import NNVisError
from nnvis.models.trust import check_checkpoint

PAPER_MODELS = ("mlp", "cnn")


class MLP(nn.Module):
    """Rauber et al.'s MLP: ReLU hidden layers (default four of 1000), then a linear output
    (softmax lives in the loss). Hidden layer `hidden<i>` outputs its post-ReLU activations."""

    def __init__(self, in_features: int, n_classes: int, widths: tuple[int, ...] = (1000,) * 4):
        super().__init__()
        self.flatten = nn.Flatten()
        self.hidden_layers = [f"hidden{i + 1}" for i in range(len(widths))]
        previous = in_features
        for name, width in zip(self.hidden_layers, widths):
            self.add_module(name, nn.Sequential(nn.Linear(previous, width), nn.ReLU()))
            previous = width
        self.output = nn.Linear(previous, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.flatten(x)
        for name in self.hidden_layers:
            x = getattr(self, name)(x)
        return self.output(x)


class CNN(nn.Module):
    """Rauber et al.'s CNN: conv, maxpool, conv, maxpool, FC 4096, FC 512, output; all ReLU.
    The paper projects only the fully connected layers; the conv layers are captured by default
    too (as channel means, Shang's alpha) so that conv units reach the explore page and unit lab."""

    hidden_layers = ["conv1", "conv2", "fc1", "fc2"]

    def __init__(self, in_channels: int, image_hw: tuple[int, int], n_classes: int):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(in_channels, 32, 5, padding=2), nn.ReLU())
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Sequential(nn.Conv2d(32, 64, 5, padding=2), nn.ReLU())
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        flat = 64 * (image_hw[0] // 4) * (image_hw[1] // 4)
        self.fc1 = nn.Sequential(nn.Linear(flat, 4096), nn.ReLU())
        self.fc2 = nn.Sequential(nn.Linear(4096, 512), nn.ReLU())
        self.output = nn.Linear(512, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool2(self.conv2(self.pool1(self.conv1(x))))
        return self.output(self.fc2(self.fc1(self.flatten(x))))


@dataclass
class LoadedModel:
    """A model ready for capture: the module, the spec that built it, the input channels it
    expects, the preprocessing between pixels and its input space, and the layouts the user
    named where the model cannot say them (`--layout`)."""

    module: nn.Module
    spec: str
    in_channels: int
    preprocess: Preprocess = field(default_factory=Preprocess)
    layouts: dict = field(default_factory=dict)  # --layout: layer (or "*") -> nnvis.models.layout.Layout

    def input_tensor(self, images: np.ndarray) -> torch.Tensor:
        """uint8 images (N,H,W) or (N,H,W,3) as the model's input (N,C,H,W)."""
        return self.preprocess.to_model(images_to_tensor(images, self.in_channels))

    def pixels_to_input(self, pixels: torch.Tensor) -> torch.Tensor:
        """Float pixels (N,C,H,W) in [0, 1], in the data's channels, as the model's input."""
        if pixels.shape[1] == 1 and self.in_channels == 3:
            pixels = pixels.expand(-1, 3, -1, -1)
        elif pixels.shape[1] != self.in_channels:
            raise NNVisError(f"model expects {self.in_channels} input channels, the image has {pixels.shape[1]}")
        return self.preprocess.to_model(pixels)


def torchvision_names() -> list[str]:
    """Classification architectures torchvision can build by name."""
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def build_model(spec: str, *, image_shape: tuple[int, ...], n_classes: int,
                weights: str | Path | None = None, download: bool = False) -> LoadedModel:
    """Build the model named by `spec` for images of `image_shape` ((H,W) or (H,W,3)) and
    `n_classes`; load `weights` when given: a state_dict file, or for a torchvision
    architecture the name of its pretrained weights (nnvis.models.pretrained; then the model has the
    weights' classes, and they are downloaded only with `download`)."""
    channels = image_shape[2] if len(image_shape) == 3 else 1
    hw = (image_shape[0], image_shape[1])
    if spec == "mlp":
        loaded = LoadedModel(MLP(int(np.prod(image_shape)), n_classes), spec, channels)
    elif spec == "cnn":
        loaded = LoadedModel(CNN(channels, hw, n_classes), spec, channels)
    elif Path(spec).is_file():
        loaded = LoadedModel(load_torchscript(Path(spec)), spec, channels)
    elif spec.startswith("timm:"):
        from nnvis.models.timm_models import build_timm

        loaded, weights = LoadedModel(build_timm(spec, n_classes, weights), spec, 3), None
    elif ":" in spec:
        module = model_from_factory(spec)
        loaded = LoadedModel(module, spec, first_conv_channels(module) or channels)
    elif spec in torchvision_names():
        import torchvision

        from nnvis.models.pretrained import is_weight_name, pretrained_classes, pretrained_state

        named = is_weight_name(spec, weights)
        classes = pretrained_classes(spec, weights) if named else n_classes
        module = torchvision.models.get_model(spec, weights=None, num_classes=classes)
        if named:
            try:
                module.load_state_dict(pretrained_state(spec, weights, download=download))
            except RuntimeError as error:
                raise NNVisError(f"the file of pretrained weights {spec} {weights} does not fit the architecture: "
                                 f"{' '.join(str(error).split())[:200]}") from None
            weights = None
        loaded = LoadedModel(module, spec, 3)
    else:
        raise NNVisError(unknown_model_message(spec))
    if weights is not None:
        load_weights_into(loaded.module, Path(weights), spec)
    return loaded


def first_conv_channels(module: nn.Module) -> int | None:
    """The input channels of the model's first Conv2d (grey data is repeated to 3 for a colour
    network), or None without one."""
    return next((m.in_channels for m in module.modules() if isinstance(m, nn.Conv2d)), None)


def unknown_model_message(spec: str) -> str:
    """What was given and what is allowed, with the closest torchvision names."""
    close = difflib.get_close_matches(spec, list(PAPER_MODELS) + torchvision_names(), n=3)
    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
    return (f"unknown model '{spec}'{hint}; allowed: mlp, cnn, a torchvision architecture "
            "(e.g. resnet18), timm:NAME, or module:function returning an nn.Module")


def model_from_factory(spec: str) -> nn.Module:
    """Call `module:function` (no arguments) and check that it returns an nn.Module."""
    module_name, _, function_name = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as error:
        raise NNVisError(f"cannot load model factory '{spec}': {error}; expected module:function") from None
    model = factory()
    if not isinstance(model, nn.Module):
        raise NNVisError(f"model factory '{spec}' returned {type(model).__name__}, not a torch.nn.Module")
    return model


def is_torchscript(path: Path) -> bool:
    """TorchScript archives are zips with a code/ folder; torch.save files have none."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name for name in archive.namelist())


def load_torchscript(path: Path) -> nn.Module:
    """Load a TorchScript model file on the CPU."""
    if not is_torchscript(path):
        raise NNVisError(f"{path} is not a TorchScript model; a state_dict needs an architecture: "
                         "--model ARCH --weights FILE")
    check_checkpoint(path)
    return torch.jit.load(str(path), map_location="cpu")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state_dict from `path`, loaded with weights_only=True (never unpickles code).
    Accepts a bare state_dict or a dict holding one under 'state_dict' / 'model_state_dict' /
    'model' (a Lightning checkpoint's keys keep their `model.` prefix: see strip_wrapper_prefix)."""
    if not path.is_file():
        raise NNVisError(f"weights file {path} does not exist")
    check_checkpoint(path)  # a size and unpacking limit before torch reads it
    if path.suffix == ".safetensors":
        return read_safetensors(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises many types on junk (IndexError, UnpicklingError, ...)
        reason = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
        raise NNVisError(f"{path} is not a readable PyTorch checkpoint ({reason}); "
                         "expected a state_dict saved with torch.save") from None
    if isinstance(obj, dict):
        for wrapper in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(wrapper), dict):
                obj = obj[wrapper]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise NNVisError(f"{path} holds {type(obj).__name__}, not a state_dict of tensors")
    return obj


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """A .safetensors file's tensors (the safetensors package: no code, no pickle)."""
    try:
        from safetensors import SafetensorError
        from safetensors.torch import load_file
    except ImportError:
        raise NNVisError(f"{path} is a safetensors file: pip install safetensors (or 'nnvis[timm]')") from None
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise NNVisError(f"{path} is not a readable safetensors file ({' '.join(str(error).split())[:160]})") from None


def load_weights_into(model: nn.Module, path: Path, spec: str) -> None:
    """Load a state_dict file into `model`; a checkpoint that does not fit raises NNVisError."""
    state = read_state_dict(path)
    try:
        model.load_state_dict(strip_wrapper_prefix(state, model))
    except RuntimeError as error:
        detail = " ".join(str(error).split())[:300]
        raise NNVisError(f"checkpoint {path} does not fit model '{spec}': {detail}") from None


def strip_wrapper_prefix(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """`state` without the `model.` / `module.` prefix a Lightning module or DataParallel adds,
    when every key has it and the model's own keys do not."""
    own = model.state_dict().keys()
    for prefix in ("model.", "module."):
        if state and all(k.startswith(prefix) for k in state) and not all(k.startswith(prefix) for k in own):
            return {k[len(prefix):]: v for k, v in state.items()}
    return state


def images_to_tensor(images: np.ndarray, in_channels: int) -> torch.Tensor:
    """uint8 images (N,H,W) or (N,H,W,3) to float32 (N,C,H,W) in [0, 1], grey repeated to 3
    channels when the model expects colour."""
    images = np.ascontiguousarray(images)
    x = torch.from_numpy(images if images.flags.writeable else images.copy()).float().div_(255.0)
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
    if x.shape[1] == 1 and in_channels == 3:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] != in_channels:
        raise NNVisError(f"model expects {in_channels} input channels, the data has {x.shape[1]}")
    return x.contiguous()


def weights_hash(model: nn.Module) -> str:
    """Content hash of a model's parameters and buffers (sha256, 16 hex), for cache keys."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
