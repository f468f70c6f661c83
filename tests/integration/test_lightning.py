"""NNVisCallback on a real lightning.Trainer: a tiny LightningModule trained 2 epochs on
scikit-learn's digits leaves the workspace `nnvis run --checkpoints` makes from the same weights."""

import json

import pytest
import torch
from torch import nn

lightning = pytest.importorskip("lightning", reason="lightning is in the test extra (./setup.sh installs it)")

MODEL = "tests.integration.test_lightning:TinyDigits"
OPTIONS = {"subset": 300, "layers": "net.2", "projection": "pca", "device": "cpu", "neuron_maps": "last"}


class TinyDigits(lightning.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, _index):
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=3e-3)


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    from nnvis.cli.commands import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_callback_records_the_workspace_nnvis_run_makes(tmp_path, capsys):
    from nnvis.data.datasets import load_dataset
    from nnvis.integrations.lightning import NNVisCallback
    from nnvis.models.zoo import images_to_tensor

    digits = load_dataset("digits")
    x, y = images_to_tensor(digits.train_images, 1), torch.from_numpy(digits.train_labels).long()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    recorded = tmp_path / "recorded"
    trainer = lightning.Trainer(max_epochs=2, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                                enable_progress_bar=False, enable_model_summary=False,
                                callbacks=[NNVisCallback(recorded, dataset="digits", every_n_epochs=1, **OPTIONS)])
    trainer.fit(TinyDigits(), loader)
    assert sorted(p.name for p in (recorded / "snapshots").iterdir()) == \
        ["epoch_0000.pt", "epoch_0001.pt", "epoch_0002.pt"]
    capsys.readouterr()
    code, out, err = run_cli(capsys, "summary", "--workspace", str(recorded), "--json")
    assert code == 0, err
    mine = json.loads(out)
    code, _, err = run_cli(capsys, "run", "--dataset", "digits", "--model", MODEL, "--checkpoints",
                           str(recorded / "snapshots"), "--subset", "300", "--layers", "net.2", "--projection", "pca",
                           "--device", "cpu", "--neuron-maps", "last", "--workspace", str(tmp_path / "by-cli"))
    assert code == 0, err
    code, out, err = run_cli(capsys, "summary", "--workspace", str(tmp_path / "by-cli"), "--json")
    by_cli = json.loads(out)
    assert mine["epochs"] == by_cli["epochs"] == [0, 1, 2] and mine["model"] == MODEL
    for epoch in map(str, mine["epochs"]):
        assert mine["accuracy"][epoch] == pytest.approx(by_cli["accuracy"][epoch], abs=1e-6)
        assert mine["nh"]["net.2"][epoch] == pytest.approx(by_cli["nh"]["net.2"][epoch], abs=1e-6)
    assert mine["accuracy"]["2"] > mine["accuracy"]["0"] + 0.3  # it learned: chance is 0.1


def test_every_n_epochs_is_checked(tmp_path):
    from nnvis.errors import NNVisError
    from nnvis.integrations.lightning import NNVisCallback

    with pytest.raises(NNVisError, match="every_n_epochs=0 is invalid; allowed: a whole number >= 1"):
        NNVisCallback(tmp_path / "w", dataset="digits", every_n_epochs=0)
