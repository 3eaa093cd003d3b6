"""Submodules imported on first use (PEP 562), so importing one part of a package stays cheap."""

from __future__ import annotations

import importlib


def lazy_submodules(package: str, names: list[str]):
    """``(__getattr__, __dir__)`` for a package whose submodules ``names`` load when first used."""

    def __getattr__(name):
        if name in names:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(names)

    return __getattr__, __dir__
