"""A wing's public names, loaded from their module on first use: `import nnvis.models` stays
cheap (no torch) and a wing's modules may import each other without import cycles."""

from __future__ import annotations

import importlib
from typing import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[list[str], Callable[[str], object],
                                                                  Callable[[], list[str]]]:
    """`__all__`, `__getattr__` and `__dir__` for `package`'s `__init__`: `exports` maps each
    public name to the module of the package that defines it."""

    def __getattr__(name: str) -> object:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return sorted(exports), __getattr__, __dir__
