"""nnvis: see inside neural networks. The backend: no Dash, no Flask."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """`from nnvis import Recorder` (and `nnvis.show`) without importing torch on `import nnvis`."""
    if name == "Recorder":
        from nnvis.workspace.recorder import Recorder

        return Recorder
    if name == "show":
        from nnvis.integrations.notebook import show

        return show
    raise AttributeError(f"module 'nnvis' has no attribute {name!r}")
