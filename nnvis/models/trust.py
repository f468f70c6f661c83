"""What a workspace may make a server load. A workspace.json names its model; `module:function`
and TorchScript models run code when loaded, so a served workspace may name only the built-in
models (mlp, cnn, a torchvision architecture, a timm architecture by name) or a model on the operator's allow-list
(NNVIS_MODEL_ALLOW): whoever can write to the data folder cannot make a web worker run code.
Checkpoints are read within a size limit, and not when a member unpacks far beyond its size (a zip bomb)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from nnvis.errors import NNVisError

BUILT_IN = ("mlp", "cnn")
MAX_CHECKPOINT_BYTES = 4 * 2**30  # unpacked; the largest torchvision classifier is about 0.6 GB
MAX_RATIO = 100  # a compressed member may unpack to this many times its size (text: about 5x)


def is_built_in(spec: str) -> bool:
    """Whether `spec` names a model that runs no code of its own: mlp, cnn or a torchvision name
    (and no file of that name shadows it)."""
    if spec in BUILT_IN:
        return True
    if spec.startswith("timm:") and "/" not in spec and not Path(spec).exists():
        return timm_name_known(spec)  # library code by name, as a torchvision architecture
    if ":" in spec or "/" in spec or Path(spec).exists():
        return False
    from nnvis.models.zoo import torchvision_names

    return spec in torchvision_names()


def timm_name_known(spec: str) -> bool:
    try:
        import timm
    except ImportError:
        return False
    return spec[len("timm:"):] in timm.list_models()


def check_served_model(spec: str, allowed: tuple[str, ...], workspace: Path) -> None:
    """NNVisError unless a server may load the model `spec` of `workspace`."""
    if is_built_in(spec) or spec in allowed:
        return
    raise NNVisError(f"workspace {workspace} names model {spec!r}, which this server does not load: a served "
                     "workspace may use mlp, cnn or a torchvision architecture; a TorchScript file or "
                     "module:function only when its operator lists it in NNVIS_MODEL_ALLOW")


def check_checkpoint(path: Path, limit: int = MAX_CHECKPOINT_BYTES) -> None:
    """NNVisError when the checkpoint at `path` is larger than `limit` bytes, or is an archive
    that unpacks to more than `limit` bytes or holds a member compressed beyond MAX_RATIO."""
    size = path.stat().st_size
    if size > limit:
        raise NNVisError(f"checkpoint {path} is {size / 2**20:.0f} MB; at most {limit / 2**20:.0f} MB is read")
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise NNVisError(f"checkpoint {path} is a damaged archive ({error})") from None
    for member in members:  # torch.save stores tensors; TorchScript compresses only its code (text)
        if member.compress_type != zipfile.ZIP_STORED and member.file_size > MAX_RATIO * member.compress_size + 2**20:
            raise NNVisError(f"checkpoint {path} holds {member.filename}, packed {member.compress_size} bytes that "
                             f"unpack to {member.file_size}: more than {MAX_RATIO}x, so it is not read (a zip bomb?)")
    unpacked = sum(member.file_size for member in members)
    if unpacked > limit:
        raise NNVisError(f"checkpoint {path} unpacks to {unpacked / 2**20:.0f} MB; at most "
                         f"{limit / 2**20:.0f} MB is read")
