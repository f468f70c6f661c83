"""Pretrained torchvision weights by name (`--weights IMAGENET1K_V1` or `DEFAULT`), read from the
local torch hub cache ($TORCH_HOME/hub/checkpoints, torchvision's own download folder) without a
network; downloaded only when asked (`--download`). The weights bring their preprocessing
(resize, centre crop, mean/std) unless the user gives their own."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import torch

from nnvis.errors import NNVisError

WEIGHT_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def is_weight_name(spec: str, weights) -> bool:
    """Whether `weights` names torchvision weights (IMAGENET1K_V1, DEFAULT) rather than a file."""
    return isinstance(weights, str) and bool(WEIGHT_NAME.match(weights)) and not Path(weights).exists() \
        and ":" not in spec and not Path(spec).is_file()


def weight_enum(spec: str, name: str):
    """torchvision's weights enum member `name` of architecture `spec`."""
    import torchvision

    try:
        members = torchvision.models.get_model_weights(spec)
    except (ValueError, KeyError):
        raise NNVisError(f"--weights {name}: model '{spec}' has no pretrained weights in torchvision; "
                         "allowed: a state_dict file") from None
    allowed = list(members.__members__)
    if name not in allowed:
        raise NNVisError(f"--weights {name} is not a torchvision weight of '{spec}'; allowed: {', '.join(allowed)} "
                         "or a state_dict file")
    return members[name]


def weights_file(spec: str, name: str) -> Path:
    """Where torchvision keeps the file of these weights: $TORCH_HOME/hub/checkpoints/<file of the URL>."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weight_enum(spec, name).url).path).name


def pretrained_classes(spec: str, name: str) -> int:
    """How many classes the pretrained classifier outputs (ImageNet's 1000 for most)."""
    return len(weight_enum(spec, name).meta.get("categories") or []) or 1000


def pretrained_state(spec: str, name: str, *, download: bool = False) -> dict[str, torch.Tensor]:
    """The weights' state_dict from the hub cache (weights_only), downloaded there only with `download`."""
    from nnvis.models.zoo import read_state_dict

    path = weights_file(spec, name)
    if not path.is_file():
        url = weight_enum(spec, name).url
        if not download:
            raise NNVisError(f"pretrained weights {spec} {name} are not in the local torch hub cache: put {path.name} "
                             f"(from {url}) in {path.parent} (set TORCH_HOME to use another folder), or pass "
                             "--download where there is internet")
        torch.hub.download_url_to_file(url, str(path), progress=False)
    return read_state_dict(path)


def pretrained_preprocessing(spec: str, name: str) -> dict:
    """The weights' own transforms as RunConfig values: normalize, image_size and crop."""
    transforms = weight_enum(spec, name).transforms()
    found = {}
    if getattr(transforms, "mean", None) and getattr(transforms, "std", None):
        found["normalize"] = (f"{','.join(f'{v:g}' for v in transforms.mean)}/"
                              f"{','.join(f'{v:g}' for v in transforms.std)}")
    if getattr(transforms, "resize_size", None):
        found["image_size"] = int(transforms.resize_size[0])
    if getattr(transforms, "crop_size", None):
        found["crop"] = int(transforms.crop_size[0])
    return found
