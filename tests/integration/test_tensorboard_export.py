"""`nnvis export --tensorboard`: TensorBoard's own projector plugin reads the folder (its config
proto, its tensor TSV reader, its metadata and sprite routes) and finds every observation."""

import numpy as np
import pytest
from PIL import Image

from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace
from tests.integration.test_cli import nnvis

pytest.importorskip("tensorboard", reason="tensorboard is in the test extra (./setup.sh installs it)")


def test_tensorboard_projector_reads_the_export(digits_workspace, tmp_path):
    from tensorboard.plugins.base_plugin import TBContext
    from tensorboard.plugins.projector.projector_plugin import ProjectorPlugin
    from werkzeug.test import Client

    out = tmp_path / "tb"
    result = nnvis("export", "--tensorboard", str(out), "--workspace", str(digits_workspace.path),
                   "--layer", "hidden3", "--epoch", "1")
    assert result.returncode == 0, result.stderr
    analysis = Analysis(Workspace(digits_workspace.path))
    activations = np.asarray(analysis.activations("hidden3", 1), dtype=np.float32)

    plugin = ProjectorPlugin(TBContext(logdir=str(out)))
    apps = plugin.get_plugin_apps()

    def get(route, **query):
        response = Client(apps[route]).get(route, query_string=query)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response

    assert get("/runs").get_json() == ["."]
    config = get("/info", run=".").get_json()
    (embedding,) = config["embeddings"]
    assert embedding["tensorName"] == "hidden3 epoch 1"
    assert [int(n) for n in embedding["tensorShape"]] == [300, activations.shape[1]]
    tensor = np.frombuffer(get("/tensor", run=".", name=embedding["tensorName"]).get_data(), dtype=np.float32)
    np.testing.assert_allclose(tensor.reshape(activations.shape), activations, rtol=1e-5, atol=1e-6)
    rows = get("/metadata", run=".", name=embedding["tensorName"]).get_data(as_text=True).splitlines()
    assert rows[0].split("\t") == ["class", "prediction", "split"] and len(rows) == 301
    predictions, _ = analysis.predictions(1)
    classes = analysis.classes
    assert [r.split("\t") for r in rows[1:4]] == [[classes[analysis.labels[i]], classes[predictions[i]], "test"]
                                                  for i in range(3)]
    assert [int(n) for n in embedding["sprite"]["singleImageDim"]] == [8, 8]
    sprite = get("/sprite_image", run=".", name=embedding["tensorName"]).get_data()
    (out / "back.png").write_bytes(sprite)
    assert Image.open(out / "back.png").size == (18 * 8, 17 * 8)  # 300 digits: 18 columns, 17 rows of 8x8


def test_export_tensorboard_refuses_a_file_as_folder(digits_workspace, tmp_path):
    target = tmp_path / "taken"
    target.write_text("x")
    result = nnvis("export", "--tensorboard", str(target), "--workspace", str(digits_workspace.path),
                   "--layer", "hidden3")
    assert result.returncode == 2 and "is a file; allowed: a folder" in result.stderr
