"""nnvis: see inside neural networks. The backend: no Dash, no Flask."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """`from nnvis import Recorder` without importing torch on `import nnvis`."""
    if name == "Recorder":
        from nnvis.workspace.recorder import Recorder

        return Recorder
    raise AttributeError(f"module 'nnvis' has no attribute {name!r}")
