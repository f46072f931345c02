"""Optional dependencies of the batch engines, checked before any work starts."""

from __future__ import annotations

import importlib
from types import ModuleType

INSTALL = {
    "parquet": "pip install 'faceattrs[parquet]'",
    "ray": "pip install 'faceattrs[ray]'",
}


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the install command."""


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{module} is not installed ({' '.join(str(exc).split())}); "
            f"install it with: {INSTALL[extra]}"
        ) from None
