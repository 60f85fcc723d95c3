"""Where the shipped data lives: ``seeds/`` and ``config/``.

In a wheel they are packaged as ``bot/_data/{seeds,config}`` (see pyproject's
force-include); in a source checkout they sit at the repository's top level.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_path(*parts: str) -> Path:
    packaged = _PACKAGE / "_data" / Path(*parts)
    if packaged.exists():
        return packaged
    return _PACKAGE.parent / Path(*parts)
