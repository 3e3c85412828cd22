"""jukinet: a typed reference implementation of Juki Net (住民基本台帳ネットワークシステム)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from jukinet.domain.resident_code import ResidentCode

try:
    __version__ = version("jukinet")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = [
    "ResidentCode",
    "__version__",
]
