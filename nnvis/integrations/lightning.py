"""A PyTorch Lightning callback that records a workspace, as `Recorder` does in a loop one
writes oneself:

    trainer = lightning.Trainer(max_epochs=5, callbacks=[
        NNVisCallback("ws/run", dataset="npz", data_dir="data.npz", normalize=(MEAN, STD))])
    trainer.fit(module, loaders)        # the end of fit captures, projects and measures

The LightningModule's weights are saved at the start of `fit` (epoch 0) and after every
`every_n_epochs`-th training epoch (epoch k: after k epochs), and after the last epoch; the end of
`fit` makes the workspace `nnvis run --checkpoints` makes from those files. Lightning's hooks
drive nnvis.workspace.recorder.Recorder (nothing is duplicated); other keyword arguments are
Recorder's (`nnvis run`'s options). Only the global rank 0 process records. A `fit` that fails
keeps the snapshots and computes nothing."""

from __future__ import annotations

from pathlib import Path

try:
    from lightning.pytorch.callbacks import Callback
except ImportError:  # the older package name
    try:
        from pytorch_lightning.callbacks import Callback
    except ImportError:
        raise ImportError("NNVisCallback needs PyTorch Lightning: pip install 'nnvis[lightning]' "
                          "(or pip install lightning)") from None

from nnvis.errors import NNVisError
from nnvis.workspace.recorder import Recorder


class NNVisCallback(Callback):
    """Snapshots of the LightningModule during `fit`, made into the workspace `workspace` at its end."""

    def __init__(self, workspace: str | Path, *, dataset: str, every_n_epochs: int = 1, **options):
        if isinstance(every_n_epochs, bool) or not isinstance(every_n_epochs, int) or every_n_epochs < 1:
            raise NNVisError(f"every_n_epochs={every_n_epochs!r} is invalid; allowed: a whole number >= 1")
        self.workspace, self.dataset, self.every, self.options = Path(workspace), dataset, every_n_epochs, options
        self.recorder: Recorder | None = None

    def on_fit_start(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero:
            return
        self.recorder = Recorder(self.workspace, pl_module, dataset=self.dataset, **self.options)
        self.recorder.snapshot(0)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        done = trainer.current_epoch + 1  # epochs trained so far
        if self.recorder is not None and done % self.every == 0 and not trainer.sanity_checking:
            self.recorder.snapshot(done)

    def on_fit_end(self, trainer, pl_module) -> None:
        if self.recorder is None:
            return
        last = trainer.current_epoch  # after fit, the number of epochs trained
        if last not in self.recorder.epochs:
            self.recorder.snapshot(last)
        self.recorder.close()

