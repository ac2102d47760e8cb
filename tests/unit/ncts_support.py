"""What the NCTS P5 tests read in place, and how they flatten a schema to compare two of them.

The reference (DDNTA Appendix Q2 text, the reference trees) and the corpus (real P5 messages,
the official DG TAXUD pack 51.8.6) live in ``shared/`` beside the repository and are never
copied into the project. When one is missing the test fails under CI (``CI=true``) and is
skipped elsewhere, saying why. Our own sample messages are ``tests/fixtures/ncts/``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from lxml import etree

from gateway.settings import PROJECT_HOME
from gateway.xml.validators import SchemaValidator, compile_xsd10, compile_xsd11

OURS = PROJECT_HOME / "schemas" / "ncts" / "p5"
TOOLS = PROJECT_HOME / "tools"
TREES = TOOLS / "ncts_trees"
FIXTURES = PROJECT_HOME / "tests" / "fixtures" / "ncts"
NAMESPACE = "http://ncts.dgtaxud.ec"
XS = "{http://www.w3.org/2001/XMLSchema}"
MESSAGES = ("CC007C", "CC015C", "CC025C", "CC028C", "CC029C", "CC045C", "CC056C", "CC906C",
            "CC917C", "CC928C", "CD001C", "CD006C", "CD018C", "CD050C", "CD118C", "CD906C",
            "CD917C")
TREE_MESSAGES = ("CC015C", "CC028C", "CC029C", "CC056C", "CC906C", "CC917C", "CC928C")
OUR_TREE_MESSAGES = ("CC007C", "CC025C", "CC045C", "CD001C", "CD006C", "CD018C", "CD050C",
                     "CD118C", "CD906C", "CD917C")
OFFICIAL_MESSAGES = tuple(m for m in MESSAGES if m.startswith("CC"))


def _required(path: Path, what: str) -> Path:
    if not path.exists():
        reason = f"{what} not found at {path} (read in place from shared/, never copied)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def corpus_dir() -> Path:
    base = os.environ.get("GATEWAY_CORPUS_DIR")
    root = Path(base) if base else PROJECT_HOME.parent / "shared" / "corpus"
    return _required(root / "ncts-p5", "the NCTS P5 corpus")


def official_pack() -> Path:
    return _required(corpus_dir() / "official-xsd-51.8.6", "the official NCTS P5 pack")


def reference(name: str) -> Path:
    return _required(PROJECT_HOME.parent / "shared" / "reference" / "ncts" / name,
                     f"the reference file {name}")


def ddnta() -> Path:
    return reference("DDNTA_APP_Q2-5.15.2-v2.00-SfA.txt")


def reference_trees() -> Path:
    return reference("message-trees-p5.txt")


def tool(name: str) -> ModuleType:
    """A module of ``tools/`` (not a package), loaded once."""
    key = f"tools_{name}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, TOOLS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    spec.loader.exec_module(module)
    return module


@cache
def ours(message: str) -> SchemaValidator:
    """Our compiled schema of ``message`` (lxml)."""
    path = OURS / f"{message}.xsd"
    return compile_xsd10([path], OURS)[path]


@cache
def official(message: str) -> SchemaValidator:
    """The official pack's schema of ``message`` (xmlschema); all CC files compiled once."""
    pack = official_pack()
    paths = [pack / f"{m.lower()}.xsd" for m in OFFICIAL_MESSAGES]
    return _official_all(pack, tuple(paths))[pack / f"{message.lower()}.xsd"]


@cache
def _official_all(pack: Path, paths: tuple[Path, ...]) -> dict[Path, SchemaValidator]:
    return compile_xsd11(list(paths), pack)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_of(message: str) -> bytes:
    """Our sample of ``message`` (``cc015c_mk_rs.xml`` for CC015C)."""
    name = "cc015c_mk_rs.xml" if message == "CC015C" else f"{message.lower()}.xml"
    return fixture(name)


def parse(body: bytes) -> etree._Element:
    return etree.fromstring(body, etree.XMLParser(no_network=True, resolve_entities=False,
                                                  load_dtd=False))


# --- flattening a schema (xmlschema reads ours and the official pack alike) ----------------


@cache
def _ours_as_xmlschema() -> Any:
    """All our message schemas as one xmlschema schema (to flatten them like the official)."""
    paths = [OURS / f"{m}.xsd" for m in MESSAGES]
    return compile_xsd11(paths, OURS)[paths[0]].schema  # type: ignore[attr-defined]


def flatten_ours(message: str) -> dict[str, tuple[str, str, str, tuple[Any, ...]]]:
    return flatten(_ours_as_xmlschema(), message)


def flatten_official(message: str) -> dict[str, tuple[str, str, str, tuple[Any, ...]]]:
    return flatten(official(message).schema, message)  # type: ignore[attr-defined]


def flatten(schema: Any, message: str) -> dict[str, tuple[str, str, str, tuple[Any, ...]]]:
    """Element path -> (min, max, built-in or "complex", what its type allows), in order, of
    ``message`` in a compiled xmlschema schema.

    What a simple type allows is the set of its facets over the whole chain of types it
    restricts (patterns of one step joined by ``|``), whatever the types' names.
    """
    out: dict[str, tuple[str, str, str, tuple[Any, ...]]] = {}
    _walk(schema.elements[message], "", out)
    return out


def _walk(element: Any, path: str, out: dict) -> None:  # type: ignore[type-arg]
    high = "n" if element.max_occurs is None else str(element.max_occurs)
    kind = getattr(element, "type", None)
    if kind is None:                 # a wildcard (xs:any): its namespaces, e.g. the signature
        out[f"{path}/*"] = (str(element.min_occurs), high, "any",
                            tuple(sorted(element.namespace)))
        return
    here = f"{path}/{element.local_name}"
    if kind.is_simple():
        out[here] = (str(element.min_occurs), high, _builtin(kind), _facets(kind))
        return
    out[here] = (str(element.min_occurs), high, "complex", ())
    for child in kind.content.iter_elements():
        _walk(child, here, out)
    for attribute in kind.attributes.values():
        out[f"{here}/@{attribute.local_name}"] = (attribute.use, "", _builtin(attribute.type),
                                                  _facets(attribute.type))


def _builtin(kind: Any) -> str:
    while kind is not None and not (kind.name or "").startswith(XS):
        kind = kind.base_type
    return kind.name[len(XS):] if kind is not None else "?"


def _facets(kind: Any) -> tuple[Any, ...]:
    seen: set[tuple[str, str]] = set()
    while kind is not None and not (kind.name or "").startswith(XS):
        for key, facet in (kind.facets or {}).items():
            if key is None:
                continue
            name = key[len(XS):]
            if name == "pattern":
                seen.add(("pattern", "|".join(facet.regexps)))
            elif name == "enumeration":
                seen.add(("enumeration", ",".join(sorted(map(str, facet.enumeration)))))
            elif name != "whiteSpace":
                seen.add((name, str(facet.value)))
        kind = kind.base_type
    return tuple(sorted(seen))
