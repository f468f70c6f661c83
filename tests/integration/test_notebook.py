"""`nnvis.show` in a real notebook: nbclient runs an IPython kernel that trains a tiny model
with Recorder and calls rec.show(); the test then fetches the inline server's page and a
thumbnail over HTTP; a second nnvis.show in the same kernel reuses the server."""

import json
import re
import urllib.request

import nbformat
import pytest
from torch import nn

from tests.conftest import ROOT

pytest.importorskip("nbclient", reason="nbclient is in the test extra (./setup.sh installs it)")


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x):
        return self.net(x)


TRAIN = """
import torch, nnvis
from torch import nn
from nnvis.data.datasets import load_dataset
from nnvis.models.zoo import images_to_tensor
from tests.integration.test_notebook import TinyNet

digits = load_dataset("digits")
x, y = images_to_tensor(digits.train_images, 1), torch.from_numpy(digits.train_labels).long()
torch.manual_seed(0)
model = TinyNet()
optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
with nnvis.Recorder(WORKSPACE, model, dataset="digits", subset=200, layers="net.2", projection="pca",
                    device="cpu", neuron_maps="last") as rec:
    for epoch in range(3):
        if epoch:
            for index in torch.randperm(len(y)).split(64):
                optimiser.zero_grad()
                nn.functional.cross_entropy(model(x[index]), y[index]).backward()
                optimiser.step()
        rec.snapshot(epoch)
"""
SERVER = """
from nnvis.integrations import notebook
print(json.dumps({"pid": notebook.SERVER.process.pid, "port": notebook.SERVER.port, "starts": notebook.SERVER.starts}))
"""


def iframe_url(outputs) -> str:
    (html,) = [o["data"]["text/html"] for o in outputs if o.get("output_type") == "display_data"]
    return re.search(r'src="([^"]+)"', html).group(1)


def printed(outputs) -> dict:
    return json.loads("".join(o["text"] for o in outputs if o.get("output_type") == "stream"))


def fetch(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=120) as answer:
        return answer.status, answer.read()


def test_show_in_a_real_notebook(tmp_path):
    from nbclient import NotebookClient

    workspace = tmp_path / "mine"
    cells = [f"import json\nWORKSPACE = {str(workspace)!r}", TRAIN, "rec.show()", SERVER,
             "url = nnvis.show(WORKSPACE, page='/evolution')", SERVER]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = NotebookClient(notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}})
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells[:4]):
            client.execute_cell(cell, index)
        url = iframe_url(notebook.cells[2].outputs)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?ws=0", url)
        status, page = fetch(url)
        assert status == 200 and b"<title>nnvis</title>" in page
        base = url.split("/?")[0]
        status, thumbnail = fetch(f"{base}/thumbs/0/7.png")
        assert status == 200 and thumbnail.startswith(b"\x89PNG")
        from nnvis.workspace.analysis import Analysis
        from nnvis.workspace.workspace import Workspace

        assert thumbnail == Analysis(Workspace(workspace)).thumbnail(7)  # the workspace the notebook recorded
        first = printed(notebook.cells[3].outputs)
        for index, cell in enumerate(notebook.cells[4:], start=4):
            client.execute_cell(cell, index)
        second = printed(notebook.cells[5].outputs)
        assert second == first and first["starts"] == 1  # the same server process on the same port
        assert iframe_url(notebook.cells[4].outputs) == f"{base}/evolution?ws=0"
        status, page = fetch(f"{base}/evolution?ws=0")
        assert status == 200
    with pytest.raises(OSError):  # the server ended with the kernel
        fetch(f"{base}/health")


def test_show_refuses_what_is_not_a_workspace(tmp_path):
    import nnvis
    from nnvis.errors import NNVisError

    with pytest.raises(NNVisError, match="holds no finished workspace"):
        nnvis.show(tmp_path)
    with pytest.raises(NNVisError, match="page 'evolution' is invalid; allowed: a path"):
        nnvis.show(tmp_path, page="evolution")
