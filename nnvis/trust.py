"""What a workspace may make a server load. A workspace.json names its model; `module:function`
and TorchScript models run code when loaded, so a served workspace may name only the built-in
models (mlp, cnn, a torchvision architecture) or a model on the operator's allow-list
(NNVIS_MODEL_ALLOW): whoever can write to the data folder cannot make a web worker run code.
Checkpoints are read within a size limit, and never as compressed archives (a zip bomb)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from nnvis.errors import NNVisError

BUILT_IN = ("mlp", "cnn")
MAX_CHECKPOINT_BYTES = 4 * 2**30  # unpacked; the largest torchvision classifier is about 0.6 GB


def is_built_in(spec: str) -> bool:
    """Whether `spec` names a model that runs no code of its own: mlp, cnn or a torchvision name
    (and no file of that name shadows it)."""
    if spec in BUILT_IN:
        return True
    if ":" in spec or "/" in spec or Path(spec).exists():
        return False
    from nnvis.models import torchvision_names

    return spec in torchvision_names()


def check_served_model(spec: str, allowed: tuple[str, ...], workspace: Path) -> None:
    """NNVisError unless a server may load the model `spec` of `workspace`."""
    if is_built_in(spec) or spec in allowed:
        return
    raise NNVisError(f"workspace {workspace} names model {spec!r}, which this server does not load: a served "
                     "workspace may use mlp, cnn or a torchvision architecture; a TorchScript file or "
                     "module:function only when its operator lists it in NNVIS_MODEL_ALLOW")


def check_checkpoint(path: Path, limit: int = MAX_CHECKPOINT_BYTES) -> None:
    """NNVisError when the checkpoint at `path` is larger than `limit` bytes, or is an archive
    with compressed members or more than `limit` bytes unpacked (torch.save stores, never compresses)."""
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
    if any(member.compress_type != zipfile.ZIP_STORED for member in members):
        raise NNVisError(f"checkpoint {path} holds compressed members; torch.save writes none, so it was not "
                         "written by PyTorch and is not read (a compressed archive can unpack to any size)")
    unpacked = sum(member.file_size for member in members)
    if unpacked > limit:
        raise NNVisError(f"checkpoint {path} unpacks to {unpacked / 2**20:.0f} MB; at most "
                         f"{limit / 2**20:.0f} MB is read")
