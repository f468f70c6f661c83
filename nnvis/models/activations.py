"""Activation capture by module path: forward hooks registered in `try`, removed in `finally`,
conv outputs reduced on the device to channel means (Shang's alpha), stored as float16.

Made to run at the speed of the forward pass: reductions stay on the device, results go into
pinned host buffers with non-blocking copies (on CUDA), conv models run channels-last on the
GPU, mixed precision (bf16/fp16 autocast) when the caller allows it, and the batch size on a
GPU comes from its free memory."""

from __future__ import annotations

import numpy as np
import torch

from nnvis.models.hooks import eval_mode, forward_hooks
from nnvis.models.zoo import LoadedModel
from nnvis.progress import Progress, no_progress
from nnvis.validation import one_of

PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}
CPU_BATCH = 256


def check_precision(precision: str) -> torch.dtype | None:
    """The autocast dtype of `precision` (None for float32), else NNVisError listing them."""
    return PRECISIONS[one_of(precision, PRECISIONS, "precision")]


def reduce_output(output) -> torch.Tensor:
    """One row per observation: spatial mean for (N,C,H,W...) maps, as-is for (N,D); float32."""
    if isinstance(output, (tuple, list)):
        output = output[0]
    output = output.detach()
    if output.ndim > 2:
        return output.flatten(2).mean(dim=2, dtype=torch.float32)
    return output.reshape(output.shape[0], -1).float()


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
    """Per-layer host arrays filled batch by batch: pinned and copied without blocking on CUDA."""

    def __init__(self, total: int, pinned: bool):
        self.total, self.pinned = total, pinned
        self.arrays: dict[str, torch.Tensor] = {}

    def put(self, name: str, start: int, rows: torch.Tensor, dtype: torch.dtype) -> None:
        rows = rows.reshape(len(rows), -1)
        if name not in self.arrays:
            self.arrays[name] = torch.empty((self.total, rows.shape[1]), dtype=dtype, pin_memory=self.pinned)
        self.arrays[name][start:start + len(rows)].copy_(rows.to(dtype), non_blocking=self.pinned)

    def numpy(self, name: str, width: int = 0) -> np.ndarray:
        found = self.arrays.get(name)
        return found.numpy() if found is not None else np.zeros((self.total, width), np.float32)


@torch.no_grad()
def capture(model: LoadedModel, images: np.ndarray, layers: list[str], *, device: str = "cpu",
            batch_size: int | None = None, precision: str = "float32",
            progress: Progress = no_progress) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Activations of `layers` (float16, one row per image) and class probabilities (float32)
    for uint8 `images`, in batches (`batch_size`, or chosen from free GPU memory). `precision`
    "bfloat16"/"float16" runs the model under autocast. The model's mode and memory format are
    restored afterwards."""
    autocast_dtype = check_precision(precision)
    module = model.module
    on_gpu = device.startswith("cuda")
    channels_last = on_gpu and images.ndim >= 3 and any(isinstance(m, torch.nn.Conv2d) for m in module.modules())
    buffers = HostBuffers(len(images), pinned=on_gpu)
    offset = [0]
    hooks = {name: (lambda out, name=name: buffers.put(name, offset[0], reduce_output(out), torch.float16))
             for name in layers}
    with eval_mode(module, device), forward_hooks(module, hooks):
        try:
            if channels_last:
                module.to(memory_format=torch.channels_last)
            batch_size = batch_size or auto_batch_size(module, model.input_tensor(images[:8]), device)
            for start in range(0, len(images), batch_size):
                batch = model.input_tensor(images[start:start + batch_size])
                batch = (batch.pin_memory() if on_gpu else batch).to(device, non_blocking=on_gpu)
                if channels_last:
                    batch = batch.contiguous(memory_format=torch.channels_last)
                offset[0] = start
                with torch.autocast(device_type="cuda" if on_gpu else "cpu", dtype=autocast_dtype or torch.bfloat16,
                                    enabled=autocast_dtype is not None):
                    logits = module(batch)
                buffers.put("probabilities", start, torch.softmax(logits.float(), dim=1), torch.float32)
                progress("capture", min(start + batch_size, len(images)), len(images))
            if on_gpu:
                torch.cuda.synchronize(device)
        finally:
            if channels_last:
                module.to(memory_format=torch.contiguous_format)
    return {name: buffers.numpy(name) for name in layers}, buffers.numpy("probabilities")


def input_activations(images: np.ndarray) -> np.ndarray:
    """The pseudo-layer `input`: raw pixels in [0, 1], flattened, float16."""
    return (images.reshape(len(images), -1).astype(np.float32) / 255.0).astype(np.float16)
