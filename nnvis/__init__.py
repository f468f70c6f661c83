"""nnvis: see inside neural networks. The backend: no Dash, no Flask."""

__version__ = "0.1.0"
