"""Which goods need which licence or certificate, and the rule that they quote one.

The requirements are configuration (``config/licensing.toml``), read once at start-up
(``LicensingRequirements.load``) and handed to the declaration kind
(``kinds.default_kinds(licensing)``), never read at import:

* ``[[document]]`` — a document code a broker quotes on a goods item (an additional document
  whose category and type make the code: WCO ``CategoryCode`` ``N`` + ``TypeCode`` ``851`` is
  ``N851``; an ASYCUDA ``Document_type_code`` states it whole), its name, the agency that
  issues it (a partner id) and the document type it issues it as (the SPS certificate type
  code ``851``, the licence type ``import``);
* ``[[requirement]]`` — goods (``hs``: commodity-code prefixes such as ``0808``, or ranges of
  equal-length prefixes such as ``7206-7229``), optionally only under some procedure
  categories (``procedure_categories = ["IM"]``), that need one of ``documents``.

``licences-quoted`` is a named declaration rule (``rules = [...]`` in
``config/message_types.toml``): a goods item whose commodity code a requirement names, and that
quotes none of its documents with a number, is ``GW-RULE-LICENCE-MISSING`` at the WCO pointer
of the item's documents (``42A/67A/68A[2]/02A``). A document counts when it is an additional
document of the item, or of the declaration with the item's number (``line``, as ASYCUDA
states item documents) or with no item number (it applies to every item).
``quoted_licences`` gives, for one item, the licences it quotes and who issued them;
``licences_to_reserve`` the quantities a declaration must reserve before its release: for each
goods item a requirement names, each licence of that requirement it quotes, with the item's
net mass in kilograms (WCO 128; its gross mass when no net mass is stated; an item stating
neither draws nothing) — the gateway's reservations and clearance's wait both start from it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from gateway.canonical.declaration import Declaration, DocumentRef, GoodsItem, item_pointer
from gateway.errors import ConfigurationError, Problem

LICENCES_QUOTED = "licences-quoted"
MISSING = "GW-RULE-LICENCE-MISSING"
_CODE = re.compile(r"[A-Z0-9]{1,8}")
_PREFIX = re.compile(r"\d{2,10}")


@dataclass(frozen=True)
class RequiredDocument:
    """A document code brokers quote, and who issues it as what."""

    code: str                      # e.g. N851, X002
    name: str
    agency: str                    # the issuing agency's partner id
    document_type: str             # what the agency issues: 851, import …


@dataclass(frozen=True)
class Requirement:
    """Goods that need one of some documents."""

    name: str
    hs: tuple[tuple[str, str], ...]            # (low, high) prefixes of equal length
    documents: tuple[str, ...]                 # any one of them will do
    procedure_categories: tuple[str, ...] = ()  # () = every declaration

    def applies(self, commodity_code: str, procedure_category: str | None) -> bool:
        if self.procedure_categories and procedure_category not in self.procedure_categories:
            return False
        return any(low <= commodity_code[:len(low)] <= high for low, high in self.hs
                   if len(commodity_code) >= len(low))


@dataclass(frozen=True)
class QuotedLicence:
    """A licence or certificate a goods item quotes: its code, number and issuing agency."""

    code: str
    number: str
    agency: str
    document_type: str


@dataclass(frozen=True)
class LicensingRequirements:
    documents: Mapping[str, RequiredDocument]
    requirements: tuple[Requirement, ...] = ()

    @classmethod
    def load(cls, path: Path) -> LicensingRequirements:
        """Read ``config/licensing.toml``; no file means no requirement."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls({})
        except OSError as exc:
            raise ConfigurationError(f"cannot read {path}: {exc}") from exc
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{path.name} is not valid TOML: {exc}") from exc
        return cls.from_plain(raw, path.name)

    @classmethod
    def from_plain(cls, raw: Mapping[str, Any], where: str = "licensing.toml"
                   ) -> LicensingRequirements:
        documents: dict[str, RequiredDocument] = {}
        for item in raw.get("document", []):
            document = _document(item, where)
            if document.code in documents:
                raise ConfigurationError(f"{where}: document {document.code!r} is listed twice")
            documents[document.code] = document
        requirements = tuple(_requirement(item, documents, where)
                             for item in raw.get("requirement", []))
        return cls(documents, requirements)

    def required_for(self, commodity_code: str, procedure_category: str | None
                     ) -> list[Requirement]:
        return [r for r in self.requirements if r.applies(commodity_code, procedure_category)]


def licences_quoted(licensing: LicensingRequirements) -> Callable[[Declaration], list[Problem]]:
    """The named rule ``licences-quoted`` over ``licensing``'s requirements."""
    def rule(declaration: Declaration) -> list[Problem]:
        category = declaration.procedure.category if declaration.procedure else None
        problems = []
        for item in declaration.goods_items:
            if not item.commodity_code:
                continue
            quoted = {code for code, _ in _quoted(declaration, item)}
            for requirement in licensing.required_for(item.commodity_code, category):
                if not quoted.intersection(requirement.documents):
                    problems.append(_missing(item, requirement, licensing))
        return problems
    return rule


def quoted_licences(declaration: Declaration, item: GoodsItem,
                    licensing: LicensingRequirements) -> list[QuotedLicence]:
    """The documents of ``licensing`` that ``item`` quotes, with their numbers and agencies."""
    found = []
    for code, number in _quoted(declaration, item):
        document = licensing.documents.get(code)
        if document is not None:
            found.append(QuotedLicence(code, number, document.agency, document.document_type))
    return found


@dataclass(frozen=True)
class LicenceDraw:
    """A quantity a goods item must draw on a licence it quotes, before its release."""

    item: GoodsItem
    licence: QuotedLicence
    quantity: Decimal
    unit: str                          # UN/ECE Rec 20: KGM (WCO masses are kilograms)


def licences_to_reserve(declaration: Declaration, licensing: LicensingRequirements
                        ) -> list[LicenceDraw]:
    """What ``declaration`` must reserve: per required licence quoted, once per item."""
    category = declaration.procedure.category if declaration.procedure else None
    draws = []
    for item in declaration.goods_items:
        mass = item.net_mass if item.net_mass is not None else item.gross_mass
        if not item.commodity_code or mass is None:
            continue
        wanted = {code for requirement in licensing.required_for(item.commodity_code, category)
                  for code in requirement.documents}
        seen: set[tuple[str, str]] = set()
        for quoted in quoted_licences(declaration, item, licensing):
            if quoted.code in wanted and (quoted.agency, quoted.number) not in seen:
                seen.add((quoted.agency, quoted.number))
                draws.append(LicenceDraw(item, quoted, mass, "KGM"))
    return draws


def _quoted(declaration: Declaration, item: GoodsItem) -> list[tuple[str, str]]:
    """(code, number) of every additional document with a number that applies to ``item``."""
    documents = list(item.documents) + [d for d in declaration.documents
                                        if d.line is None or d.line == item.sequence]
    return [(code, d.id) for d in documents
            if d.kind == "additional" and d.id for code in _codes(d)]


def _codes(document: DocumentRef) -> set[str]:
    category, type_code = (document.category or "").strip(), (document.type or "").strip()
    return {c.upper() for c in (category + type_code, type_code) if c}


def _missing(item: GoodsItem, requirement: Requirement,
             licensing: LicensingRequirements) -> Problem:
    wanted = [licensing.documents[code] for code in requirement.documents]
    names = " or ".join(f"a {d.name.lower()} ({d.code}, issued by {d.agency})" for d in wanted)
    return Problem(MISSING, f"goods item {item.sequence} (commodity code {item.commodity_code}) "
                            f"needs {names} ({requirement.name}); quote it on the item as an "
                            f"additional document with its number",
                   pointer=item_pointer(item.sequence, "documents"), value=item.commodity_code)


# --- reading the file --------------------------------------------------------------------------


def _document(item: Any, where: str) -> RequiredDocument:
    try:
        code = str(item["code"]).strip().upper()
        document = RequiredDocument(code, str(item["name"]), str(item["agency"]),
                                    str(item["document_type"]))
    except (KeyError, TypeError) as exc:
        raise ConfigurationError(f"{where}: a [[document]] lacks {exc}") from exc
    if not _CODE.fullmatch(code):
        raise ConfigurationError(f"{where}: document code {code!r} must be 1-8 letters or digits")
    return document


def _requirement(item: Any, documents: Mapping[str, RequiredDocument],
                 where: str) -> Requirement:
    try:
        name, hs, wanted = str(item["name"]), item["hs"], item["documents"]
    except (KeyError, TypeError) as exc:
        raise ConfigurationError(f"{where}: a [[requirement]] lacks {exc}") from exc
    unknown = [code for code in wanted if code not in documents]
    if not wanted or unknown:
        raise ConfigurationError(f"{where}: requirement {name!r} must name documents listed "
                                 f"under [[document]]; unknown: {unknown or 'none given'}")
    categories = item.get("procedure_categories", [])
    if not isinstance(hs, list) or not hs or not isinstance(categories, list):
        raise ConfigurationError(f"{where}: requirement {name!r}: hs and procedure_categories "
                                 "must be lists (hs not empty)")
    return Requirement(name, tuple(_range(str(entry), name, where) for entry in hs),
                       tuple(str(c) for c in wanted), tuple(str(c) for c in categories))


def _range(entry: str, name: str, where: str) -> tuple[str, str]:
    """``0808`` -> ``("0808", "0808")``; ``7206-7229`` -> ``("7206", "7229")``."""
    low, _, high = (part.strip() for part in entry.partition("-"))
    high = high or low
    if not (_PREFIX.fullmatch(low) and _PREFIX.fullmatch(high)) or len(low) != len(high) \
            or low > high:
        raise ConfigurationError(f"{where}: requirement {name!r}: {entry!r} is not a commodity "
                                 "code prefix (2-10 digits) or a range of two of equal length")
    return low, high
