"""Integrations: nnvis where practitioners already work. A wing above the others (it uses the
workspace, the projections and the models; nothing in nnvis imports it but the CLI). It offers:

- `export_html(...)` / `html_view(...)`: one self-contained HTML page of a view (no server, no
  network: plotly.js, the thumbnails and the activations embedded) — `nnvis export-html`;
- `export_tensorboard(...)`: TensorBoard projector files of a layer's activations — `nnvis export --tensorboard`;
- `NNVisCallback` (nnvis.integrations.lightning): a PyTorch Lightning callback that records a workspace;
- `show(...)`: the dashboard inline in a Jupyter / JupyterLab / VS Code notebook, one server per kernel.

Each name is loaded from its module on first use (no torch, no lightning on import)."""

from nnvis._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "export_html": "html_view",
    "html_view": "html_view",
    "export_tensorboard": "tensorboard",
    "NNVisCallback": "lightning",
    "show": "notebook",
})
