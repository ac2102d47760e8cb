"""Where the camt.054 tests find what they read in place, and how they compile schemas.

The corpus (real bank files and the official ISO 20022 XSDs) and the reference trees live in
``shared/`` beside the repository; they are never copied into the project. The corpus folder
is ``$GATEWAY_CORPUS_DIR`` if set, else ``<project>/../shared/corpus``. When a folder is
missing the test fails under CI (``CI=true``) and is skipped elsewhere, saying why.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lxml import etree

from gateway.settings import PROJECT_HOME

VERSIONS = ("02", "04", "08")
NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.{}"
SCHEMAS = PROJECT_HOME / "schemas" / "iso20022"
MAPPINGS = PROJECT_HOME / "mappings"
TOOLS = PROJECT_HOME / "tools"


def _required(path: Path, what: str) -> Path:
    if not path.exists():
        reason = f"{what} not found at {path} (read in place from shared/, never copied)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def corpus_dir() -> Path:
    """The camt.054 folder of the conformance corpus."""
    base = os.environ.get("GATEWAY_CORPUS_DIR")
    root = Path(base) if base else PROJECT_HOME.parent / "shared" / "corpus"
    return _required(root / "camt054", "the camt.054 corpus")


def official_xsd(version: str) -> Path:
    """The official ISO 20022 schema of camt.054.001.``version`` (in the corpus)."""
    return _required(corpus_dir() / "official-xsd" / f"camt.054.001.{version}.xsd",
                     f"the official camt.054.001.{version} schema")


def reference_tree(version: str) -> Path:
    """The reference typed tree of camt.054.001.``version`` (02 and 08 only)."""
    path = PROJECT_HOME.parent / "shared" / "reference" / "iso20022"
    return _required(path / f"camt.054.001.{version}_tree_typed.txt",
                     f"the camt.054.001.{version} reference tree")


def our_xsd(version: str) -> Path:
    return SCHEMAS / f"camt054-001.{version}" / f"camt.054.001.{version}.xsd"


def parser() -> etree.XMLParser:
    """The hardened parser settings the gateway uses (no network, no entities, no DTD)."""
    return etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)


def compile_schema(path: Path) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(path), parser()))


def version_of(document: etree._Element) -> str:
    """``"08"`` for a camt.054.001.08 Document, from its namespace."""
    namespace = etree.QName(document).namespace or ""
    prefix = NAMESPACE.format("")
    if not namespace.startswith(prefix) or namespace[len(prefix):] not in VERSIONS:
        raise AssertionError(f"not a camt.054 Document: {namespace!r}")
    return namespace[len(prefix):]
