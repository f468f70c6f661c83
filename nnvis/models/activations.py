"""Activation capture by module path: forward hooks registered in `try`, removed in `finally`,
conv outputs reduced on the device to channel means (Shang's alpha), stored as float16.

Made to run at the speed of the forward pass: reductions stay on the device, results go into
pinned host buffers with non-blocking copies (on CUDA), conv models run channels-last on the
GPU, mixed precision (bf16/fp16 autocast) when the caller allows it, and the batch size on a
GPU comes from its free memory."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from nnvis.data.npy import load_npy, start_npy
from nnvis.errors import NNVisError
from nnvis.models.hooks import eval_mode, forward_hooks
from nnvis.models.layout import CHANNELS_FIRST, Layout, layout_of
from nnvis.models.zoo import LoadedModel
from nnvis.progress import Progress, no_progress
from nnvis.validation import one_of

PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}
CPU_BATCH = 256


def check_precision(precision: str) -> torch.dtype | None:
    """The autocast dtype of `precision` (None for float32), else NNVisError listing them."""
    return PRECISIONS[one_of(precision, PRECISIONS, "precision")]


def reduce_output(output, layout: Layout | None = None, tokens: str | None = None) -> torch.Tensor:
    """One row per observation, float32, as `layout` says (nnvis.models.layout): a map's spatial
    mean per channel, the chosen tokens of a sequence; without a layout, channels-first."""
    if isinstance(output, (tuple, list)):
        output = output[0]
    return (layout or Layout(CHANNELS_FIRST)).units(output, tokens)


class LayerReader:
    """Each captured layer's rows: its layout decided at its first output (nnvis.models.layout),
    then the chosen tokens or the spatial mean; an output whose first axis is not the batch's
    images is refused in one line naming the layer."""

    def __init__(self, model: torch.nn.Module, tokens: str | None = None, given: dict[str, Layout] | None = None):
        self.model, self.tokens, self.given = model, tokens, given or {}
        self.layouts: dict[str, Layout] = {}
        self.batch = 0

    def __call__(self, name: str, output) -> torch.Tensor:
        output = output[0] if isinstance(output, (tuple, list)) else output
        if not isinstance(output, torch.Tensor):
            raise NNVisError(f"layer '{name}' gives {type(output).__name__}, not a tensor; choose another layer "
                             "(list them with `nnvis layers`)")
        layout = self.layouts.get(name)
        if layout is None:
            layout = self.layouts[name] = layout_of(self.model, name, output.ndim, self.given)
        rows = layout.units(output, self.tokens if layout.is_tokens else None)
        if self.batch and len(rows) != self.batch:
            raise NNVisError(f"layer '{name}' outputs {len(rows)} rows for {self.batch} images (shape "
                             f"{tuple(output.shape)}): its first axis is not the images; name its layout with "
                             "--layout or choose another layer")
        return rows


def auto_batch_size(module: torch.nn.Module, sample: torch.Tensor, device: str, *, share: float = 0.5,
                    probe: int = 8, limit: int = 4096) -> int:
    """Batch size for `device`: CPU_BATCH on the CPU; on a GPU, as many images as fit in `share`
    of its free memory, from the peak memory of a probe batch."""
    if not device.startswith("cuda"):
        return CPU_BATCH
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    module(sample[:probe].to(device))
    per_image = max((torch.cuda.max_memory_allocated(device) - before) / probe, 1.0)
    free, _ = torch.cuda.mem_get_info(device)
    return int(max(32, min(limit, share * free / per_image)))


class HostBuffers:
    """Per-layer host arrays filled batch by batch: pinned and copied without blocking on CUDA.
    With `spill_to` (a folder), an array of more than `spill_bytes` is a .npy file there instead,
    its rows written batch by batch (never held in memory) and returned memory-mapped."""

    def __init__(self, total: int, pinned: bool, spill_to: Path | None = None, spill_bytes: int = 0):
        self.total, self.pinned = total, pinned
        self.spill_to, self.spill_bytes = spill_to, spill_bytes
        self.arrays: dict[str, torch.Tensor] = {}
        self.files: dict[str, NpyRows] = {}

    def put(self, name: str, start: int, rows: torch.Tensor, dtype: torch.dtype, spills: bool = True) -> None:
        rows = rows.reshape(len(rows), -1)
        if name not in self.arrays and name not in self.files:
            width = rows.shape[1]
            if spills and self.spill_to is not None and self.total * width * dtype.itemsize > self.spill_bytes:
                self.files[name] = NpyRows(self.spill_to / f"{len(self.files)}.npy", (self.total, width), dtype)
            else:
                self.arrays[name] = torch.empty((self.total, width), dtype=dtype, pin_memory=self.pinned)
        if name in self.files:
            self.files[name].write(start, rows.to("cpu", dtype))
        else:
            self.arrays[name][start:start + len(rows)].copy_(rows.to(dtype), non_blocking=self.pinned)

    def numpy(self, name: str, width: int = 0) -> np.ndarray:
        if name in self.files:
            return self.files[name].mapped()
        found = self.arrays.get(name)
        return found.numpy() if found is not None else np.zeros((self.total, width), np.float32)


class NpyRows:
    """A .npy file of `shape` written by rows at their place (`os.pwrite`: written, not mapped,
    so that none of it stays resident in this process)."""

    def __init__(self, path: Path, shape: tuple[int, int], dtype: torch.dtype):
        self.path, self.shape = path, shape
        self.dtype = torch.empty(0, dtype=dtype).numpy().dtype
        with open(path, "wb") as handle:
            self.offset = start_npy(handle, shape, self.dtype)

    def write(self, start: int, rows: torch.Tensor) -> None:
        """Rows `start`, `start + 1`, ... of the array."""
        data = np.ascontiguousarray(rows.numpy())
        with open(self.path, "r+b") as handle:
            os.pwrite(handle.fileno(), data.tobytes(), self.offset + start * self.shape[1] * self.dtype.itemsize)

    def mapped(self) -> np.ndarray:
        """The array, memory-mapped read-only."""
        return load_npy(self.path, mmap_mode="r")


@torch.no_grad()
def capture(model: LoadedModel, images: np.ndarray, layers: list[str], *, device: str = "cpu",
            batch_size: int | None = None, precision: str = "float32", progress: Progress = no_progress,
            tokens: str | None = None, layouts: dict[str, Layout] | None = None,
            spill_to: Path | None = None, spill_bytes: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Activations of `layers` (float16, one row per image) and class probabilities (float32)
    for uint8 `images`, in batches (`batch_size`, or chosen from free GPU memory). `precision`
    "bfloat16"/"float16" runs the model under autocast. Each layer's rows follow its layout
    (nnvis.models.layout; `tokens` for token layers, `layouts` from --layout); a module called
    more than once per forward must be named by its call (`pool#2`). With `spill_to` (a folder),
    a layer of more than `spill_bytes` is written there as a .npy file batch by batch and returned
    memory-mapped (a million observations: no layer held in memory). The model's mode and
    memory format are restored afterwards."""
    autocast_dtype = check_precision(precision)
    module = model.module
    on_gpu = device.startswith("cuda")
    channels_last = on_gpu and images.ndim >= 3 and any(isinstance(m, torch.nn.Conv2d) for m in module.modules())
    buffers = HostBuffers(len(images), pinned=on_gpu, spill_to=spill_to, spill_bytes=spill_bytes)
    offset = [0]
    reader = LayerReader(module, tokens, layouts)
    hooks = {name: (lambda out, name=name: buffers.put(name, offset[0], reader(name, out), torch.float16))
             for name in layers}
    with eval_mode(module, device), forward_hooks(module, hooks, strict=True):
        try:
            if channels_last:
                module.to(memory_format=torch.channels_last)
            batch_size = batch_size or auto_batch_size(module, model.input_tensor(images[:8]), device)
            for start in range(0, len(images), batch_size):
                batch = model.input_tensor(images[start:start + batch_size])
                batch = (batch.pin_memory() if on_gpu else batch).to(device, non_blocking=on_gpu)
                if channels_last:
                    batch = batch.contiguous(memory_format=torch.channels_last)
                offset[0], reader.batch = start, len(batch)
                with torch.autocast(device_type="cuda" if on_gpu else "cpu", dtype=autocast_dtype or torch.bfloat16,
                                    enabled=autocast_dtype is not None):
                    logits = module(batch)
                buffers.put("probabilities", start, torch.softmax(logits.float(), dim=1), torch.float32,
                            spills=False)
                progress("capture", min(start + batch_size, len(images)), len(images))
            if on_gpu:
                torch.cuda.synchronize(device)
        finally:
            if channels_last:
                module.to(memory_format=torch.contiguous_format)
    return {name: buffers.numpy(name) for name in layers}, buffers.numpy("probabilities")


@torch.no_grad()
def probe_layouts(model: LoadedModel, images: np.ndarray, layers: list[str], layouts: dict[str, Layout] | None = None,
                  ) -> dict[str, Layout]:
    """Every layer's layout, from one forward pass of a few `images` with capture's own hooks: a
    layer that capture would refuse (called twice, a layout that cannot be known, a first axis
    that is not the images) raises its one-line NNVisError here, before anything is computed."""
    reader = LayerReader(model.module, "mean", layouts)
    reader.batch = len(images)
    def read(name: str, output) -> None:  # a hook that returns a value would replace the output
        reader(name, output)

    hooks = {name: (lambda out, name=name: read(name, out)) for name in layers}
    with eval_mode(model.module, "cpu") as module, forward_hooks(module, hooks, strict=True):
        module(model.input_tensor(images))
    missing = [name for name in layers if name not in reader.layouts]
    if missing:
        raise NNVisError(f"layer(s) {', '.join(missing)} are never called by the model's forward pass; choose modules "
                         "the forward uses (list them with `nnvis layers`)")
    return reader.layouts


def input_activations(images: np.ndarray) -> np.ndarray:
    """The pseudo-layer `input`: raw pixels in [0, 1], flattened, float16."""
    return (images.reshape(len(images), -1).astype(np.float32) / 255.0).astype(np.float16)
