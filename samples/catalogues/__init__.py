"""Reference data of the sample builders (goods, parties, currencies) as TOML files here.

``read(name)`` parses ``<name>.toml`` from this folder the first time it is asked for and
keeps the result (nothing is read at import). The builders turn the tables into their own
typed rows, also once; treat what ``read`` returns as read-only.
"""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path
from typing import Any

FOLDER = Path(__file__).resolve().parent


@functools.cache
def read(name: str) -> dict[str, Any]:
    """The parsed ``samples/catalogues/<name>.toml``."""
    with (FOLDER / f"{name}.toml").open("rb") as file:
        return tomllib.load(file)
