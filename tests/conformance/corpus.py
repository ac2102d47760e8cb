"""Where the real-world corpus is, and which of its files a conformance test runs over.

The corpus (messages nobody on this project wrote, see its README) is read **in place** from
``<project root>/../shared/corpus``, or from ``GATEWAY_CORPUS_DIR`` when set; it is never
copied into the project. When the folder is missing, a conformance test fails under CI
(``CI=true``: the corpus is part of what CI must check) and is skipped elsewhere, saying why.

Test modules parametrise over ``corpus_params(family, pattern)``: one parameter per file,
its id the path relative to the family folder (``TT_IM001d/TT_IM001d.xml``). With no corpus
it is one parameter ``corpus-missing`` whose test calls ``corpus_file()`` and fails or skips.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.settings import PROJECT_HOME

ENV_VAR = "GATEWAY_CORPUS_DIR"
MISSING = "corpus-missing"


def corpus_dir() -> Path:
    """The corpus folder: ``$GATEWAY_CORPUS_DIR``, else ``<project root>/../shared/corpus``."""
    override = os.environ.get(ENV_VAR)
    return Path(override) if override else PROJECT_HOME.parent / "shared" / "corpus"


def family_dir(family: str) -> Path:
    return corpus_dir() / family


def corpus_files(family: str, pattern: str = "**/*.xml") -> list[Path]:
    """The family's files matching ``pattern``, sorted; empty when the folder is missing."""
    folder = family_dir(family)
    return sorted(p for p in folder.glob(pattern) if p.is_file()) if folder.is_dir() else []


def corpus_params(family: str, pattern: str = "**/*.xml") -> list:  # type: ignore[type-arg]
    """One ``pytest.param`` per corpus file (id: its path in the family folder)."""
    files = corpus_files(family, pattern)
    if not files:
        return [pytest.param(MISSING, id=MISSING)]
    folder = family_dir(family)
    return [pytest.param(path, id=path.relative_to(folder).as_posix()) for path in files]


def missing_corpus(family: str) -> None:
    """Fail (under CI) or skip (elsewhere) because the family's corpus files are not there."""
    why = (f"the conformance corpus {family_dir(family)} has no files (set {ENV_VAR}, or "
           f"lay shared/corpus beside the project)")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{why}: CI must run the conformance tests")
    pytest.skip(why)


def corpus_file(param: Path | str, family: str) -> Path:
    """The parametrised file, or fail/skip when the corpus is missing."""
    if param == MISSING or not isinstance(param, Path):
        missing_corpus(family)
    assert isinstance(param, Path)
    return param


def require_corpus(family: str, pattern: str = "**/*.xml") -> list[Path]:
    """All the family's files, or fail/skip when there are none."""
    files = corpus_files(family, pattern)
    if not files:
        missing_corpus(family)
    return files


NCTS_FAMILY = "ncts-p5"
NCTS_OFFICIAL_PACK = "official-xsd-51.8.6"


def ncts_official_pack() -> Path:
    """The official DG TAXUD NCTS P5 schema pack of the corpus (read in place, never copied),
    or fail/skip when it is missing."""
    pack = family_dir(NCTS_FAMILY) / NCTS_OFFICIAL_PACK
    if not (pack / "cc015c.xsd").is_file():
        missing_corpus(f"{NCTS_FAMILY}/{NCTS_OFFICIAL_PACK}")
    return pack
