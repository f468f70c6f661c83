"""timm models by name (`--model timm:vit_small_patch16_224`), an optional extra
(`pip install 'nnvis[timm]'`; the README's setup installs it). Nothing downloads: weights come
from a local file (`--weights model.safetensors`, read with the safetensors package, or a
`.pth` / `.bin` state_dict read with weights_only=True), and the model's own preprocessing
(input size, crop, mean/std) from its pretrained config unless the user gives their own."""

from __future__ import annotations

import difflib
import math
from pathlib import Path

from torch import nn

from nnvis.errors import NNVisError

PREFIX = "timm:"


def is_timm_spec(spec: str) -> bool:
    return isinstance(spec, str) and spec.startswith(PREFIX)


def timm_module():
    try:
        import timm
    except ImportError:
        raise NNVisError("timm models need the timm package: pip install 'nnvis[timm]' (or pip install timm "
                         "safetensors)") from None
    return timm


def check_name(spec: str) -> str:
    """The timm architecture of `timm:NAME`, or NNVisError with the closest names."""
    name = spec[len(PREFIX):]
    names = timm_module().list_models()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise NNVisError(f"unknown timm model '{name}'{hint}; allowed: a name of timm.list_models(), e.g. "
                         "timm:vit_small_patch16_224")
    return name


def build_timm(spec: str, n_classes: int, weights: str | Path | None = None) -> nn.Module:
    """The timm architecture of `spec` with random weights (nothing is downloaded), with the
    classes of `weights` when given (their classifier's rows), else `n_classes`."""
    name = check_name(spec)
    state = read_weights(Path(weights), name) if weights is not None else None
    classes = n_classes
    if state is not None:
        model = timm_module().create_model(name, pretrained=False)
        heads = model.pretrained_cfg.get("classifier") or ()
        for head in (heads,) if isinstance(heads, str) else heads:
            if f"{head}.weight" in state:
                classes = int(state[f"{head}.weight"].shape[0])
                break
    model = timm_module().create_model(name, pretrained=False, num_classes=classes)
    if state is not None:
        try:
            model.load_state_dict(state)
        except RuntimeError as error:
            raise NNVisError(f"weights file {weights} does not fit timm model '{name}': "
                             f"{' '.join(str(error).split())[:200]}") from None
    return model


def read_weights(path: Path, name: str) -> dict:
    """A state_dict from a .safetensors file (the safetensors package) or a torch.save file."""
    from nnvis.models.zoo import read_state_dict

    if not path.is_file():
        raise NNVisError(f"weights file {path} does not exist; place the weights of timm model '{name}' there (e.g. "
                         f"model.safetensors of the Hugging Face repository timm/{name}): nothing is downloaded")
    return read_state_dict(path)


def timm_preprocessing(spec: str) -> dict:
    """The model's own preprocessing from its pretrained config, as RunConfig values:
    normalize, image_size (the shorter side before the crop) and crop."""
    cfg = timm_module().create_model(check_name(spec), pretrained=False).pretrained_cfg
    found = {}
    if cfg.get("mean") and cfg.get("std"):
        found["normalize"] = f"{','.join(f'{v:g}' for v in cfg['mean'])}/{','.join(f'{v:g}' for v in cfg['std'])}"
    size = cfg.get("input_size")
    if size:
        found["crop"] = int(size[-1])
        found["image_size"] = int(math.floor(size[-1] / float(cfg.get("crop_pct") or 1.0)))
    return found
