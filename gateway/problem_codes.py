"""Every ``GW-*`` problem code in one table: its HTTP status, what it means, how to fix it.

A code is what a partner, an operator and a log search all see: the ``code`` of a rejection
(``gw:Rejection/gw:Code``, the JSON ``code``, the SOAP fault's detail), the ``code`` of each
problem listed in it, the ``x-gateway-error-code`` of a parked bus message and the ``code`` of
a log line. This module is the one place that says what each one means; ``docs/problem-codes.md``
is generated from it (``python tools/problem_codes_doc.py --write``; ``--check`` fails when the
committed file differs) and ``tests/unit/test_problem_codes.py`` keeps it complete: every code
written in ``gateway/``, ``adapters/``, ``config/`` and ``mappings/`` is here, every code here
is used (or marked ``reserved``), and every ``GatewayError`` class agrees with its row.

The table is Python data, not a TOML file in ``config/``: it is part of the code's contract
rather than deployment configuration (an operator cannot change what a code means), so it ships
inside the installed package with no file to find and nothing to read at import or at run
time; mypy checks its shape; and ``problem_code()`` is a dictionary look-up.

Each row (``ProblemCode``):

* ``code`` — stable; a new check gets a new code, an old code never changes meaning;
* ``http_status`` — the status of the plain-HTTP answer that carries the code (a problem
  code: the status of the rejection listing it, 400); ``None`` when the code never reaches a
  partner (bus, start-up). SOAP answers follow their binding instead: SOAP 1.1 faults are
  HTTP 500, SOAP 1.2 ``Sender`` faults 400, except 401/403/408/413/415/429/503, kept as they are;
* ``meaning`` and ``fix`` — for the partner's developer or the operator, concrete;
* ``within`` — for a problem code: the rejection code whose problem list carries it;
* ``reserved`` — defined (usually a class's default code) but emitted by no check today.

A new code: add its row to the right section, run ``tools/problem_codes_doc.py --write``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProblemCode:
    """One stable code and what a partner or an operator does about it."""

    code: str
    http_status: int | None
    meaning: str
    fix: str
    within: str | None = None
    reserved: bool = False


@dataclass(frozen=True, slots=True)
class Section:
    """Codes of one stage, with where they show up."""

    title: str
    where: str
    codes: tuple[ProblemCode, ...]


_P = ProblemCode

_ACCESS = Section("Credentials and access", (
    "Answered before the document is read. The rejection's only problem carries the same code."
), (
    _P("GW-AUTH-UNAUTHENTICATED", 401,
       "The request carries no credentials, a scheme other than Bearer, or a token the gateway "
       "does not know (never issued, revoked by `partners token ID --replace`, or mistyped).",
       "Send `Authorization: Bearer <token>` with the token issued for your partner id. If it "
       "stopped working, ask the operator whether a new token was issued for you."),
    _P("GW-AUTH-FORBIDDEN", 403,
       "Your partner id may not send this message type (the partner registry lists the types "
       "each partner may send).",
       "Send only the message types agreed for your partner id, or ask the operator to allow "
       "this one in `config/partners.toml`."),
    _P("GW-AUTH-DOCUMENT-TYPE", 403,
       "Your partner id may send this message type, but not a document of this type: an "
       "agency may issue only the certificate types (SPS `TypeCode`, e.g. 851) or licence "
       "types (`import`, `export` …) its partner entry lists (`allowed_document_types`). The "
       "problem points where the document states its type. Checked once the document is "
       "valid and mapped.",
       "Send only the certificate or licence types your agency issues, or ask the operator to "
       "add this one to your `allowed_document_types` in `config/partners.toml`."),
    _P("GW-AUTH-SENDER", 403,
       "A customs-to-customs message names another sender (`messageSender`) than the "
       "administration whose key signed it: a message must come from `NTA.<country>` of the "
       "administration that signed it (its `country` in the partner registry). Checked once "
       "the document is valid and mapped.",
       "Sign with your own administration's key and state your own `NTA.<country>` as "
       "`messageSender`; forward another administration's message only as it signed it."),
    _P("GW-NOT-FOUND", 404,
       "No such conversation for your partner id (it does not exist, or belongs to another "
       "partner: a partner reads only its own conversations), or the conversation has no "
       "notification with that number.",
       "Use the conversation id of your own receipt (`X-Conversation-ID`, "
       "`gw:Receipt/ConversationID`) with the token that submitted it; list the notifications "
       "(`…/notifications?after=0`) to see which numbers exist."),
))

_REQUEST = Section("The HTTP request", (
    "Checked before the XML is parsed (size, content type, answer format) or on values read "
    "from the URL and the SOAP request."
), (
    _P("GW-MEDIA-TYPE", 415,
       "The `Content-Type` is missing or not one the endpoint takes: `POST /v1/messages` takes "
       "`application/xml` or `text/xml`; `POST /soap` takes `text/xml` (SOAP 1.1) or "
       "`application/soap+xml` (SOAP 1.2).",
       "Send the declaration as XML with `Content-Type: application/xml` (a `charset` "
       "parameter is allowed); for SOAP use the content type of your SOAP version."),
    _P("GW-NOT-ACCEPTABLE", 406,
       "The `Accept` header names no representation the gateway answers in.",
       "Accept `application/xml` (the default, also `text/xml` or `*/*`) or `application/json`, "
       "or leave `Accept` out."),
    _P("GW-SIZE-LIMIT", 413,
       "The body is larger than the gateway takes (`GATEWAY_MAX_BODY_BYTES`, 16 MiB by "
       "default); it was refused before being parsed.",
       "Split the consignment into several declarations, or ask the operator for the limit "
       "that applies; do not compress or re-encode the XML to get under it."),
    _P("GW-BODY-TIMEOUT", 408,
       "The body did not arrive in time: a body may take `GATEWAY_BODY_TIMEOUT_S` (10 s by "
       "default) plus one second per `GATEWAY_BODY_MIN_BYTES_PER_S` (64 KiB) received. The "
       "connection was closed; nothing was stored.",
       "Send the whole body at once, as soon as the headers are sent (do not hold the request "
       "open); on a slow link, ask the operator for the deadline that applies."),
    _P("GW-NUMBER-INVALID", 400,
       "A number in the request (`?after=`, the `{seq}` of a notification URL, SOAP "
       "`AfterSequence`) is not plain ASCII digits, has more than 9 digits or is above "
       "2147483647. The problem's pointer names the parameter.",
       "Write the number with the digits 0-9 only: no sign, spaces, `_` or thousands separators, "
       "no other scripts' digits."),
    _P("GW-REQUEST", 400,
       "The default code of a request the gateway refuses; every check names a more precise "
       "code, so it is not sent today.",
       "Read the rejection's summary and problems; report the rejection id to the operator.",
       reserved=True),
))

_XML = Section("XML well-formedness and safety", (
    "The hardened parser (`gateway/xml/safe_parser.py`) refuses these before any schema is "
    "applied; nothing is stored."
), (
    _P("GW-XML-EMPTY", 400,
       "The body is empty or only whitespace.",
       "Send the XML document as the request body (with curl: `--data-binary @file.xml`, not "
       "`-d`)."),
    _P("GW-XML-ENCODING", 400,
       "The document is in UTF-16 or UTF-32 (or starts with NUL bytes); only UTF-8 and other "
       "ASCII-compatible encodings are accepted.",
       "Save and send the document as UTF-8 (`<?xml version=\"1.0\" encoding=\"UTF-8\"?>`)."),
    _P("GW-XML-DTD", 400,
       "The document has a `<!DOCTYPE>` (a DTD or entity declarations), which is never "
       "accepted, whatever it declares.",
       "Remove the DOCTYPE; validation is by the published XSD, and entities must be written "
       "as characters or character references."),
    _P("GW-XML-DEPTH", 400,
       "Elements nest deeper than the gateway allows (`GATEWAY_MAX_DEPTH`, 48 by default).",
       "Send the document as the schema defines it; no customs message nests that deep."),
    _P("GW-XML-ELEMENTS", 400,
       "The document has more elements than the gateway allows (`GATEWAY_MAX_ELEMENTS`, "
       "250,000 by default).",
       "Split the consignment into several declarations."),
    _P("GW-XML-XINCLUDE", 400,
       "The document contains an XInclude element; XInclude is never processed. The problem "
       "points at the element.",
       "Put the content itself in the document instead of an `xi:include`."),
    _P("GW-XML-MALFORMED", 400,
       "The body is not well-formed XML (unclosed or mismatched tags, bad characters, an "
       "encoding that does not match the bytes, text after the root element). Each problem "
       "gives the parser's message with line and column.",
       "Fix the XML at the line and column given; check the file with an XML parser (or "
       "`gateway validate FILE`) before sending."),
    _P("GW-XML-UNSAFE", 400,
       "The default code of an unsafe document; every refusal names a more precise `GW-XML-*` "
       "code, so it is not sent today.",
       "See the rejection's problems.",
       reserved=True),
))

_MESSAGE_TYPE = Section("Message type and version", (
    "The root element (and, for some formats, a stated version) must match an entry of the "
    "message-type registry (`config/message_types.toml`)."
), (
    _P("GW-MSG-UNKNOWN-TYPE", 400,
       "The root element is not a message the gateway accepts, or a registered root with the "
       "wrong content (e.g. a WCO `MetaData` that does not wrap a `Declaration`).",
       "Send one of the supported documents: a WCO DM 3.6 `DEC` (`md:MetaData` wrapping "
       "`Declaration`, or a bare `Declaration`) or an ASYCUDA SAD export (`ASYCUDA`); check "
       "the namespaces as well as the names."),
    _P("GW-MSG-UNSUPPORTED-VERSION", 400,
       "The document states a version no registry entry accepts (e.g. "
       "`WCODataModelVersionCode` 3.5). The problem points at the element stating it and lists "
       "the accepted versions.",
       "State a supported version (WCO DEC: 3.6 or 3.7) and send the document in that "
       "version's structure."),
    _P("GW-MSG-INVALID", 400,
       "The default code of an invalid message; the gateway always names the stage "
       "(`GW-XSD-INVALID`, `GW-MAP-INVALID`, `GW-RULE-INVALID`), so it is not sent today.",
       "See the rejection's problems.",
       reserved=True),
))

_XSD = "GW-XSD-INVALID"
_SCHEMA = Section("Schema validation (XSD)", (
    "The document is checked against its published schema; the rejection (`GW-XSD-INVALID`) "
    "lists every schema error as a problem with its pointer (local names, e.g. "
    "`/MetaData/Declaration/GoodsShipment/GovernmentAgencyGoodsItem[3]/Origin/CountryCode`), "
    "line, column and value. The schemas are served at `GET /soap?xsd=gateway-v1` (gateway "
    "documents) and kept under `schemas/` (business documents)."
), (
    _P("GW-XSD-INVALID", 400,
       "The document does not conform to its schema. As a rejection code: the problems list "
       "each error. As a problem code: a schema error of a kind without a code of its own.",
       "Fix every listed problem (the first 25 are listed; `Problems/@count` gives the total) "
       "and check the file with `gateway validate FILE` before resending."),
    _P("GW-XSD-CONTENT", 400,
       "An element is missing, unexpected, repeated too often or out of order, or has text "
       "where the schema allows none.",
       "Write the elements the schema requires, in schema order; the message names the "
       "expected elements.", within=_XSD),
    _P("GW-XSD-ATTRIBUTE", 400,
       "An attribute is missing, not allowed on the element, or invalid.",
       "Add the required attribute (e.g. `currencyID` on an amount, `unitCode` on a measure) "
       "or remove the one not allowed.", within=_XSD),
    _P("GW-XSD-DATATYPE", 400,
       "A value is not of the element's type (a number, a date, a boolean, a token).",
       "Write the value in the type's lexical form: decimal point `.`, no thousands separators "
       "in typed numbers, no surrounding text.", within=_XSD),
    _P("GW-XSD-ENUMERATION", 400,
       "A code is not in the list the schema allows.",
       "Use one of the codes listed in the message (e.g. a WCO code list value).",
       within=_XSD),
    _P("GW-XSD-PATTERN", 400,
       "A value does not match the pattern its type requires (e.g. letters where only digits "
       "are allowed).",
       "Write the value in the required format (see the pattern in the message and the schema).",
       within=_XSD),
    _P("GW-XSD-LENGTH", 400,
       "A value is not of the exact length the schema requires (e.g. a two-letter country "
       "code).",
       "Write a value of the required length.", within=_XSD),
    _P("GW-XSD-TOO-SHORT", 400,
       "A value is shorter than the schema allows (often empty).",
       "Fill the value in, or leave the optional element out.", within=_XSD),
    _P("GW-XSD-TOO-LONG", 400,
       "A value is longer than the schema allows (the message gives the maximum).",
       "Shorten the value to the maximum length.", within=_XSD),
    _P("GW-XSD-TOTAL-DIGITS", 400,
       "A number has more digits than its type allows.",
       "Round or correct the number to fit the type (e.g. at most 16 digits).", within=_XSD),
    _P("GW-XSD-FRACTION-DIGITS", 400,
       "A number has more decimals than its type allows.",
       "Round to the allowed number of decimals (e.g. 2 for amounts, 3 or 6 for masses).",
       within=_XSD),
    _P("GW-XSD-RANGE", 400,
       "A number is below the minimum or above the maximum its type allows.",
       "Correct the value to lie within the range given in the message.", within=_XSD),
    _P("GW-XSD-ROOT", 400,
       "The schema does not declare the root element (wrong name or namespace).",
       "Use the root element and namespace of the published schema.", within=_XSD),
))

_MAP = "GW-MAP-INVALID"
_MAPPING = Section("Mapping to the canonical declaration", (
    "A valid document is mapped to the canonical model (`mappings/*.toml`); values the schema "
    "lets through but that mean nothing as customs data are refused here. The rejection "
    "(`GW-MAP-INVALID`) lists every value, with the source pointer, line, column, the value "
    "and the canonical field it was for."
), (
    _P("GW-MAP-INVALID", 400,
       "One or more values could not be mapped; the problems say which and why.",
       "Fix every listed value and resend."),
    _P("GW-MAP-CONTEXT", 400,
       "The document has none of the elements the mapping reads from (e.g. an envelope with "
       "no business document inside).",
       "Send the business document the message type expects, inside the envelope it "
       "defines."),
    _P("GW-MAP-MISSING", 400,
       "A value the canonical declaration requires is empty or missing (the schema allows it "
       "to be absent, the declaration does not).",
       "Fill in the element named by the pointer.", within=_MAP),
    _P("GW-MAP-NUMBER", 400,
       "A value is not a number (in ASYCUDA exports: thousands separators must group by 3, "
       "`12,345.50`).",
       "Write the number with digits, an optional sign and a decimal point; group thousands by "
       "three or not at all.", within=_MAP),
    _P("GW-MAP-INTEGER", 400,
       "A count is not a whole number.",
       "Write a whole number (no decimals).", within=_MAP),
    _P("GW-MAP-DIGITS", 400,
       "A number has more digits than the canonical field holds (e.g. `n..16,6`: 16 digits, 6 "
       "after the point; at most 28 significant digits anywhere).",
       "Round or correct the number to the size given in the message.", within=_MAP),
    _P("GW-MAP-COUNTRY", 400,
       "A country code is not two letters.",
       "Use the ISO 3166-1 alpha-2 code (`DE`, `MK`).", within=_MAP),
    _P("GW-MAP-HS-CODE", 400,
       "A commodity code is not 6 to 10 digits (4 to 10 on a licence or certificate, which may "
       "name a heading; spaces and dots are ignored).",
       "Write the goods' HS/tariff code as 6 to 10 digits, e.g. `08051020`.", within=_MAP),
    _P("GW-MAP-DATE", 400,
       "A date is not a date or does not exist (30 February).",
       "Write a real date: ISO 8601 `2026-11-28` (ASYCUDA also `28/11/2026`, `28.11.2026`).",
       within=_MAP),
    _P("GW-MAP-DATETIME", 400,
       "A date-time is not in the format stated or does not exist.",
       "WCO: format 304 `20261128101500+01` or 102 `20261128`; ISO 20022: ISO 8601 "
       "`2026-11-28T10:15:00+01:00`.", within=_MAP),
    _P("GW-MAP-BOOLEAN", 400,
       "A yes/no value is not `true`, `false`, `1` or `0`.",
       "Write `true` or `false`.", within=_MAP),
    _P("GW-MAP-CURRENCY", 400,
       "An amount has no currency, or one that is not an ISO 4217 code.",
       "Give every amount its ISO 4217 currency (`Ccy=\"EUR\"`).", within=_MAP),
    _P("GW-MAP-AMOUNT-DECIMALS", 400,
       "An amount has more decimals than ISO 4217 gives its currency (EUR 2, JPY 0, KWD 3).",
       "Round the amount to the currency's minor unit.", within=_MAP),
    _P("GW-MAP-UNIT", 400,
       "A quantity's unit (`unitCode`) is not a UN/ECE Recommendation 20 code the gateway "
       "knows (`config/codelists/unece_rec20_units.toml`); the problem points at the "
       "attribute, on its goods line.",
       "State the quantity in a Recommendation 20 unit, upper case: `KGM`, `TNE`, `LTR`, "
       "`MTQ`, `NAR` or `H87`.", within=_MAP),
    _P("GW-MAP-CODE", 400,
       "A code is not in the code list the gateway reads it with: an SPS certificate's "
       "`TypeCode` (`config/codelists/sps_certificate_types.toml`: 851, 657, 852, 853, 636) or "
       "`StatusCode` (`sps_status_codes.toml`: 70 issued, 40 withdrawn).",
       "Use a code of the list; a certificate type the gateway does not take yet is added to "
       "its code list by the operator.", within=_MAP),
    _P("GW-MAP-BASE64", 400,
       "An embedded file (`AttachmentBinaryObject`) is not valid base64.",
       "Embed the file's bytes base64-encoded (RFC 4648; line breaks are allowed).",
       within=_MAP),
    _P("GW-MAP-FAILED", 400,
       "A mapping specification could not be applied to the document (a defect of the "
       "mapping, not of the document); no check raises it today.",
       "Report the rejection id to the operator.",
       reserved=True),
))

_RULE = "GW-RULE-INVALID"
_RULES = Section("Business rules", (
    "Checked on the canonical document, whatever format it came in; a declaration's problems "
    "are located by WCO pointer (e.g. `42A/67A/68A[2]/23A/65A/128`) with the offending value. "
    "The rejection code is `GW-RULE-INVALID`."
), (
    _P("GW-RULE-INVALID", 400,
       "One or more business rules are not met; the problems list each one.",
       "Correct every listed value and resend."),
    _P("GW-RULE-NO-ITEMS", 400,
       "An original declaration (function code 9) has no goods items.",
       "Declare at least one goods item.", within=_RULE),
    _P("GW-RULE-DUPLICATE-ITEM", 400,
       "Two goods items have the same sequence number.",
       "Number the goods items 1, 2, 3 … without repeats.", within=_RULE),
    _P("GW-RULE-MASS", 400,
       "A gross or net mass (of the declaration or of an item) is zero or negative.",
       "Declare the real mass, greater than zero, in kilograms.", within=_RULE),
    _P("GW-RULE-NEGATIVE", 400,
       "A count, quantity, amount, rate or value is negative.",
       "Declare zero or a positive value.", within=_RULE),
    _P("GW-RULE-NO-LRN", 400,
       "An original WCO declaration has no trader's reference (LRN, "
       "`FunctionalReferenceID`); the gateway also uses it to recognise a resent declaration.",
       "State your own unique reference for the declaration in `FunctionalReferenceID`.",
       within=_RULE),
    _P("GW-RULE-LICENCE-MISSING", 400,
       "A goods item needs a licence or certificate (its commodity code is listed in "
       "`config/licensing.toml`, e.g. `0808` apples: a phytosanitary certificate N851; "
       "`7206`-`7229` steel imports: an import licence X002) and quotes none with a number. "
       "The problem points at the item's documents (`42A/67A/68A[n]/02A`) and says which "
       "documents would do and who issues them.",
       "Quote the licence or certificate on the goods item as an additional document: its "
       "code (WCO `CategoryCode` + `TypeCode`, e.g. `N` + `851`) and its number (`ID`).",
       within=_RULE),
    _P("GW-RULE-LICENCE-VALIDITY", 400,
       "A licence's validity ends before it starts (`Validity/To` before `Validity/From`).",
       "State the validity period as issued: `From` on or before `To`.", within=_RULE),
    _P("GW-RULE-LICENCE-QUANTITY", 400,
       "A licence or certificate goods line states a quantity of zero or less.",
       "State the quantity licensed on the line, greater than zero.", within=_RULE),
    _P("GW-RULE-LICENCE-UNIT", 400,
       "A licence or certificate goods line states a quantity without a unit (`unitCode`).",
       "Give every quantity its UN/ECE Recommendation 20 unit (`unitCode=\"KGM\"`).",
       within=_RULE),
    _P("GW-RULE-LICENCE-DUPLICATE-LINE", 400,
       "Two goods lines of a licence or certificate have the same line number.",
       "Number the goods lines 1, 2, 3 … without repeats.", within=_RULE),
    _P("GW-RULE-LICENCE-STATUS", 400,
       "A licence's version, status, revocation and goods lines disagree: `issued` is version "
       "1 and `amended` version 2 or later; a `revoked` licence states its `Revocation` and "
       "only a revoked one does; an issued or amended licence states its goods lines.",
       "Send each amendment as the next version with status `amended` and the whole new set of "
       "goods lines; a revocation as the next version with status `revoked` and its "
       "`Revocation`.", within=_RULE),
    _P("GW-RULE-NCTS-MRN", 400,
       "An NCTS movement message states an MRN whose check digit (18th character) is not the "
       "ISO 6346 check digit of its first 17 characters (DDNTA rule R0028; NCTS error code 93).",
       "Send the MRN exactly as customs allocated it (CC028C, CC029C); do not retype it.",
       within=_RULE),
    _P("GW-RULE-NCTS-GRN", 400,
       "A guarantee reference number (GRN) of an NCTS declaration does not have the length its "
       "guarantee type requires (24 characters for type 4, else 17) in the GRN structure: 2 "
       "digits, 2 letters, 12 letters or digits, a check digit, then for type 4 a letter and 6 "
       "digits (DDNTA rule R0318; NCTS code 14).",
       "State the GRN the guarantee office issued, for the guarantee type it was issued for.",
       within=_RULE),
    _P("GW-RULE-NCTS-NUMBERING", 400,
       "The iterations of a data group of an NCTS message are not numbered 1, 2, 3 … "
       "(sequence numbers: R0987; goods item numbers within a house consignment: R0988; "
       "declaration goods item numbers across the declaration: R0007; NCTS code 14). The "
       "problem points at the first number out of place.",
       "Number each data group's iterations from 1 up by 1, in document order.",
       within=_RULE),
    _P("GW-RULE-NO-PAYMENTS", 400,
       "A payment notification (camt.054) reports no entry (`Ntry`), so there is nothing to "
       "match.",
       "Send notifications that report at least one entry; send none for a day without "
       "payments.", within=_RULE),
    _P("GW-RULE-AMOUNT", 400,
       "A payment of a notification (camt.054) states no amount with a currency, neither its "
       "own (`TxDtls/Amt`) nor its entry's.",
       "State every payment's amount with its ISO 4217 currency (`<Amt Ccy=\"EUR\">`).",
       within=_RULE),
    _P("GW-AUTH-SERVICER", 403,
       "A bank's payment notification (camt.054) reports an account whose servicer "
       "(`Ntfctn/Acct/Svcr/FinInstnId/BICFI`, `BIC` before 001.08) is another bank than the "
       "sender's BIC in the partner registry (compared on the first 8 characters), or the bank "
       "has no BIC registered. The rejection carries this code, and one problem per account "
       "with its pointer, line and the BIC found. Checked once the file is valid.",
       "Send only notifications of the accounts your bank services, or ask the operator to "
       "register your BIC (`bic` in `config/partners.toml`)."),
))

_IDEMPOTENCY = Section("Repeats", (
    "A submission is known by the document's own reference (WCO `FunctionalReferenceID`), "
    "else the `Idempotency-Key` header (SOAP: WS-Addressing `MessageID`), else its document "
    "digest. A repeat of the same document returns the original receipt (`X-Duplicate: true`)."
), (
    _P("GW-DUPLICATE-CONFLICT", 409,
       "The reference (or idempotency key) was already used for a different document: the "
       "document digest (SHA-256 of its exclusive C14N) differs from the one first received. "
       "The rejection names the original receipt.",
       "Give a new declaration a new reference. To resend the original, send the same "
       "document: its encoding, attribute order, whitespace inside tags and the channel (plain "
       "HTTP or SOAP) may differ, its content and the text between elements may not."),
    _P("GW-IDEMPOTENCY-KEY", 400,
       "The `Idempotency-Key` header (SOAP: the WS-Addressing `MessageID`) is longer than 200 "
       "characters or contains a control character or a character outside ASCII; it is "
       "refused, never cut. The problem's pointer names the header or the block.",
       "Send a key of at most 200 printable ASCII characters (a UUID, `urn:uuid:…`, fits), or "
       "leave it out when the document carries its own reference."),
))

_SOAP = Section("SOAP envelope (`POST /soap`)", (
    "The envelope is read strictly (`adapters/http/soap_envelope.py`); each problem points at "
    "the offending element with its line. Faults: SOAP 1.1 `soap:Client`, HTTP 500; SOAP 1.2 "
    "`soap:Sender`, HTTP 400; the signed rejection is in the fault's detail."
), (
    _P("GW-SOAP-ENVELOPE", 400,
       "The body is not a SOAP 1.1 or 1.2 Envelope, or the Envelope holds anything but an "
       "optional Header followed by one Body (a second Body or Header, other elements, text, "
       "content after the Body).",
       "Send `Envelope(Header?, Body)` in the SOAP namespace of your version and nothing else; "
       "generate it with a SOAP library from the WSDL (`GET /soap?wsdl`)."),
    _P("GW-SOAP-VERSION", 400,
       "The envelope's namespace and the `Content-Type` name different SOAP versions.",
       "SOAP 1.1: `text/xml` with the `http://schemas.xmlsoap.org/soap/envelope/` namespace; "
       "SOAP 1.2: `application/soap+xml` with `http://www.w3.org/2003/05/soap-envelope`."),
    _P("GW-SOAP-BODY", 400,
       "The Body (or `SubmitDeclaration`) does not hold exactly one element, or holds text.",
       "Put exactly one operation element in the Body and exactly one declaration inside "
       "`SubmitDeclaration`."),
    _P("GW-SOAP-OPERATION", 400,
       "The Body's element is not an operation of the service.",
       "Call `SubmitDeclaration` or `GetNotifications` in the namespace "
       "`urn:customs-gateway:v1`."),
    _P("GW-SOAP-ACTION", 400,
       "The declared action (SOAP 1.1 `SOAPAction`, SOAP 1.2 `action=` of the content type, or "
       "`wsa:Action`) names another operation than the Body's element.",
       "Send the action of the operation you call, as the WSDL gives it "
       "(`urn:customs-gateway:v1:SubmitDeclaration`), or none."),
    _P("GW-SOAP-HEADER", 400,
       "A header block is not namespace-qualified, the Header holds text, or `mustUnderstand` "
       "has a value the SOAP version does not define (1.1: `0`/`1`; 1.2: `true`/`false`/`1`/`0`).",
       "Qualify every header block with its namespace and write `mustUnderstand` as your SOAP "
       "version defines it."),
    _P("GW-SOAP-ADDRESSING", 400,
       "A WS-Addressing header is repeated, or `ReplyTo`/`FaultTo` is not the anonymous "
       "address (the answer always travels back on the same HTTP exchange).",
       "Send each WS-Addressing header at most once; leave `ReplyTo`/`FaultTo` out or set them "
       "to `http://www.w3.org/2005/08/addressing/anonymous`."),
    _P("GW-SOAP-MUST-UNDERSTAND", 400,
       "A header block addressed to the gateway is marked `mustUnderstand`, but the operation "
       "does not process it. Answered as a SOAP `MustUnderstand` fault (HTTP 500; SOAP 1.2 "
       "adds a `NotUnderstood` header block per block).",
       "Do not mark headers the gateway does not process as mandatory (it processes "
       "WS-Addressing), or address them to another role."),
    _P("GW-SOAP", 400,
       "The default code of a SOAP fault; every check names a more precise `GW-SOAP-*` code, "
       "so it is not sent today.",
       "See the fault's detail.",
       reserved=True),
))

_CAPACITY = Section("Capacity and availability", (
    "The submission was not stored; send the same bytes again after `Retry-After` seconds: "
    "it is safe, a repeat is recognised."
), (
    _P("GW-BUSY", 429,
       "The gateway process is handling as many submissions as it takes at once "
       "(`GATEWAY_MAX_IN_FLIGHT`), or as many of your partner id's as one partner may "
       "(`GATEWAY_MAX_IN_FLIGHT_PER_PARTNER`).",
       "Retry after the `Retry-After` seconds (1), with back-off; keep fewer submissions in "
       "flight."),
    _P("GW-UNAVAILABLE", 503,
       "The journal cannot take the message right now (the database is unreachable or "
       "failing); the declaration was not stored.",
       "Retry after the `Retry-After` seconds (5), with back-off. Operators: check the "
       "journal (`GATEWAY_DB_URL`) and `/readyz`."),
    _P("GW-INTERNAL", 500,
       "An unexpected error inside the gateway. The signed rejection carries its rejection "
       "id; an error outside the intake answers JSON with an `error_id`.",
       "Retrying the same bytes is safe (a repeat is recognised). If it persists, report the "
       "rejection id or `error_id` and the time to the operator, who finds the error in the "
       "log."),
    _P("GW-ERROR", 500,
       "The default code of any gateway error; every error names a more precise code, so it is "
       "not sent today.",
       "Report the rejection id to the operator.",
       reserved=True),
))

_SIGNATURES = Section("Signatures", (
    "Raised when the gateway verifies a signature: the detached signature of every bus "
    "message (a clearance decision failing it is parked, never applied) and XML-DSig "
    "enveloped signatures (`gateway/signing/`). The code is in the parked message's "
    "`x-gateway-error-code` header and the log line. Partners verify the gateway's own "
    "signatures with `xmlsec1` (see `docs/integrating.md`)."
), (
    _P("GW-SIGNATURE-INVALID", 400,
       "The signature value does not verify with the signer's key (the signed bytes were "
       "changed or signed with another key).",
       "Sign the exact bytes sent, with the key whose certificate the gateway trusts; do not "
       "re-serialise after signing."),
    _P("GW-SIGNATURE-MISSING", 400,
       "The message or element carries no signature (no detached signature headers, or no "
       "enveloped `ds:Signature` child).",
       "Sign every message; an enveloped signature is a direct child of the signed element."),
    _P("GW-SIGNATURE-REQUIRED", 401,
       "The message type must be signed by its issuer (licences and certificates from "
       "agencies: `signature = \"required\"` in `config/message_types.toml`) and the document "
       "carries no `ds:Signature` at all: nobody vouches for it.",
       "Sign the document with your agency's key (enveloped XML-DSig: exclusive C14N, SHA-256, "
       "ECDSA-P256 or RSA-2048+, one reference to the root's `Id`, your certificate in "
       "`KeyInfo`); the certificate must be the one registered for your partner id."),
    _P("GW-SIGNATURE-PROFILE", 400,
       "The `ds:Signature` is outside the one accepted shape (a `ds:Object`, a second "
       "reference, certificate or signature, a nested signature, unexpected attributes or "
       "text).",
       "Sign with exclusive C14N, SHA-256, ECDSA-P256 or RSA-2048+, one `#Id` reference and "
       "one `X509Certificate` in `KeyInfo` (`gateway/signing/dsig_profile.py` draws the "
       "shape)."),
    _P("GW-SIGNATURE-ALGORITHM", 400,
       "An algorithm outside the suite (SHA-1, HMAC, XPath or inclusive C14N, with-comments "
       "C14N) or a signature method not fitting the key.",
       "Use exclusive C14N without comments, SHA-256 digests, and ECDSA-SHA256 (P-256) or "
       "RSA-SHA256 (2048 bits or more)."),
    _P("GW-SIGNATURE-REFERENCE", 400,
       "The reference's URI is not `#Id` of the signed element (it names another element, "
       "an ancestor, or an element not among the signed ones).",
       "Reference the signed element by its `Id` attribute (`URI=\"#…\"`)."),
    _P("GW-SIGNATURE-DUPLICATE-ID", 400,
       "The same Id is carried by several elements (`Id`, `ID`, `id`, `wsu:Id`, `xml:id`), "
       "the shape of a signature-wrapping attack.",
       "Give every element a unique Id."),
    _P("GW-SIGNATURE-UNSIGNED-CONTENT", 400,
       "A comment inside the signed content: exclusive C14N without comments leaves it out of "
       "the digest, so a reader would see text nobody signed.",
       "Remove comments from signed documents."),
    _P("GW-SIGNATURE-DIGEST", 400,
       "The signed element was changed after it was signed (its digest does not match).",
       "Sign after the last change, and send the signed bytes unchanged."),
    _P("GW-SIGNATURE-UNKNOWN-KEY", 400,
       "The signer's certificate is not in the gateway's trust store (or differs from the "
       "trusted one with the same key id).",
       "Operators: install the partner's certificate (`config/partners.toml` certificate "
       "paths) and restart; partners: sign with the certificate you registered."),
    _P("GW-SIGNATURE-WRONG-SIGNER", 400,
       "The signing certificate is trusted, but belongs to another partner than the one the "
       "message comes from.",
       "Sign with your own key; each partner's messages must carry its own signature."),
    _P("GW-SIGNATURE-EXPIRED", 400,
       "The signing certificate is not valid at the time of verification (expired or not yet "
       "valid).",
       "Renew the certificate, register the new one with the operator, and sign with it."),
))

_WSS = Section("WS-Security (SOAP with banks)", (
    "Raised when the gateway (or the bank stand-in) verifies the WS-Security signature of a "
    "SOAP message (`gateway/signing/wssecurity.py`): one `wsse:Security` header with a "
    "`wsu:Timestamp`, the signer's certificate as a `wsse:BinarySecurityToken`, and one "
    "`ds:Signature` over the Body and the Timestamp (the signature itself is checked as in "
    "*Signatures*, whose codes also apply). SOAP answers carry the matching WS-Security fault "
    "(`wsse:InvalidSecurity`, `wsse:FailedCheck`, `wsse:FailedAuthentication`, "
    "`wsse:MessageExpired`)."
), (
    _P("GW-WSS-MISSING", 401,
       "The SOAP message has no `wsse:Security` header addressed to the receiver, or one "
       "without a `ds:Signature`: the sender is not authenticated.",
       "Sign every request with WS-Security: a `wsse:Security` header (mustUnderstand) holding "
       "a Timestamp, your certificate as a BinarySecurityToken and a signature over the Body "
       "and the Timestamp (exclusive C14N, SHA-256, ECDSA-P256 or RSA-SHA256)."),
    _P("GW-WSS-HEADER", 400,
       "The `wsse:Security` header is outside the accepted profile: several Security headers "
       "for the receiver, two signatures, Timestamps or tokens, or an element the profile "
       "does not process (a UsernameToken, an EncryptedKey, text).",
       "Send exactly one Security header holding only `wsu:Timestamp`, one "
       "`wsse:BinarySecurityToken` (X.509 v3, Base64Binary) and one `ds:Signature`."),
    _P("GW-WSS-TIMESTAMP", 401,
       "The message is not fresh: no `wsu:Timestamp`, a Timestamp that is not `Created` then "
       "`Expires` in UTC (`YYYY-MM-DDThh:mm:ss[.fff]Z`), `Created` more than the allowed clock "
       "skew (300 s) ahead of the receiver's clock, `Expires` already past, `Expires` not "
       "after `Created`, or (the gateway) `Created` more than 300 s ago whatever `Expires` says.",
       "Stamp each message when you send it (Created now, Expires a few minutes later, both in "
       "UTC), keep your clock synchronised (NTP), and do not resend an old message: sign it "
       "again."),
    _P("GW-WSS-REPLAY", 401,
       "The gateway has already accepted a message with this very signature: a signed message "
       "sent again (a replay). Signatures are remembered, across workers and restarts, for as "
       "long as the message would be fresh. Nothing in the message is used.",
       "Sign each message you send, also when you resend it (new Timestamp, new signature); a "
       "resent camt.054 with the same MsgId then gets its original receipt back. Report the "
       "message to security if you did not send it twice."),
    _P("GW-WSS-COVERAGE", 400,
       "The signature is valid but does not cover both the SOAP Body and the Security header's "
       "Timestamp.",
       "Reference the Body and the Timestamp by their `wsu:Id` in the one signature."),
    _P("GW-WSS-WRAPPING", 400,
       "The signature covers a Body (or Timestamp) that is not the envelope's own: the signed "
       "element was moved (into a header or a wrapper) and another one put in its place — "
       "signature wrapping. Nothing in the message is used.",
       "Sign the Body you send and send it unchanged, where SOAP puts it; report the message "
       "to security if you did not build it this way."),
))

_PARTNER_CALLS = Section("Calls to partners (banks)", (
    "Raised when the gateway calls a partner's SOAP service (`adapters/soap_client/`), for "
    "example acknowledging a bank's camt.054 file. No partner sees these: they are in the log "
    "and in the state of the flow that made the call."
), (
    _P("GW-PARTNER-UNAVAILABLE", 503,
       "The partner's service did not answer (connection refused, time-out, TLS failure) or "
       "answered with an HTTP 5xx error without a SOAP fault; the call is retried.",
       "Operators: nothing to do if it passes; if it persists, check the partner's endpoint "
       "address in its WSDL and ask the partner whether its service is up."),
    _P("GW-PARTNER-FAULT", None,
       "The partner refused the call with a SOAP fault (its fault code and text are in the "
       "message), or answered an HTTP 4xx error; the call is not retried as it is.",
       "Operators: read the fault; a WS-Security fault (`wsse:FailedAuthentication`, ...) "
       "usually means the partner does not yet trust the gateway's current certificate."),
    _P("GW-PARTNER-ANSWER", None,
       "The partner's answer could not be used: not XML, not the answer the WSDL describes, or "
       "a WSDL that cannot be read.",
       "Operators: compare the partner's WSDL and answers with the agreed contract, and tell "
       "the partner."),
))

_BUS = Section("Clearance decisions (bus)", (
    "Raised by the decision consumer; the decision is parked (`gateway.parking`, headers "
    "`x-gateway-error-code`, `x-gateway-reason`) and never applied. No partner sees these: "
    "they are for operators."
), (
    _P("GW-DECISION-INVALID", None,
       "A clearance decision could not be understood (not JSON, or fields missing or wrong).",
       "Operators: read the parked message and its `x-gateway-reason`; fix the clearance "
       "system's output and republish the decision."),
    _P("GW-DECISION-UNKNOWN-CONVERSATION", None,
       "A clearance decision names a conversation the journal does not hold.",
       "Operators: check the decision's conversation id against the journal (the decision may "
       "belong to another gateway instance's journal or prefix) and republish it where it "
       "belongs."),
    _P("GW-ASSESSMENT-INVALID", None,
       "A clearance `duties_assessed` decision cannot be recorded as a duty assessment: its "
       "payment reference is not a valid ISO 11649 creditor reference (check digits), its "
       "amount or currency is missing or wrong, the reference is assessed for another "
       "declaration, or its currency changed after payments. The whole decision is parked.",
       "Operators: read the parked decision and its `x-gateway-reason`; have clearance issue a "
       "correct reference or amount and republish the decision."),
    _P("GW-EVENT-UNKNOWN", None,
       "An event from an internal system has a type no route in `config/events.toml` names "
       "for the queue it came from.",
       "Operators: read the parked message; add the event type's route (signer, handlers) "
       "or fix the publisher's `type` property, then republish it."),
    _P("GW-EVENT-INVALID", None,
       "An event from an internal system could not be understood by its handler.",
       "Operators: read the parked message and its `x-gateway-reason`; fix the publishing "
       "system's output and republish the event."),
))

_OPERATOR = Section("Operator", (
    "Raised at start-up or while routing; they concern the deployment, not a partner's "
    "document."
), (
    _P("GW-ROUTE-NONE", None,
       "An accepted declaration matched no route in `config/routes.toml`. It is durable and "
       "parked (receipt status `parked`, the parking exchange, header `x-gateway-reason`), "
       "not rejected.",
       "Operators: add or correct a route and route the parked declaration; partners: nothing "
       "to do, do not resend."),
    _P("GW-PARKED-RESOLVED", None,
       "`gateway parked replay` was asked to replay a parked payment that was replayed "
       "already; nothing was done.",
       "Operators: `gateway parked show ID` says what the replay did; a payment parked again "
       "by that replay has a new parked id — replay that one."),
    _P("GW-CONFIG", None,
       "The configuration is wrong (a TOML file, a setting such as `GATEWAY_DB_URL`, a "
       "certificate path, a route naming an undeclared exchange); the gateway does not start, "
       "or keeps its last good partner registry.",
       "Operators: correct the file or setting named in the message (`gateway partners check` "
       "checks the partner registry) and start again."),
))

_TRANSIT = Section("Transit movements (NCTS)", (
    "A valid NCTS message meets its movement's state at this office (gateway/flows/transit/): "
    "a trader or an administration gets these in a functional NACK (CC906C / CD906C, with the "
    "NCTS error code), a decision of customs that its movement cannot take is parked."
), (
    _P("GW-NCTS-UNKNOWN-MRN", 400,
       "The message names an MRN no movement at this office has, in any role (NCTS error code "
       "90; the NACK's `errorPointer` is the MRN). A CC007C is taken where the anticipated "
       "arrival record (CD001C) of its MRN has arrived; CD118C, CD006C and CD018C where the "
       "movement departed.",
       "Send the message to the office the movement concerns, with the MRN exactly as the "
       "CC028C / CC029C stated it; at destination, wait for the movement's arrival record."),
    _P("GW-NCTS-OUT-OF-SEQUENCE", 409,
       "The movement is known here, but its state (or the role this office plays in it) does "
       "not take this message now: a CC007C before the movement was released, a CD018C before "
       "the arrival advice (CD006C), a second anticipated arrival record … (NCTS error code 92; "
       "the NACK's `errorPointer` is the message's root). The problem's value is the state.",
       "Send the messages of a movement in their order; a message that overtook another may be "
       "sent again once the other is through."),
    _P("GW-NCTS-LRN-TAKEN", 409,
       "The transit declaration's LRN is already the reference of another declaration of "
       "yours, with another `messageIdentification` (rule BR20006, NCTS error code 14).",
       "Give every declaration its own LRN; to resend the same declaration, send the same "
       "document (same `messageIdentification`): you get its answer again."),
    _P("GW-NCTS-EVENT-INVALID", None,
       "A movement event from customs (`transit.*` on `gateway.transit`) cannot be understood: "
       "not JSON, an unknown kind, no event id or time, an MRN without a valid check digit, "
       "no control result where one is needed. It is parked, never applied.",
       "Fix the publisher (the transit system) so that it sends complete events "
       "(`gateway/canonical/movement_event.py`), then replay the parked one."),
    _P("GW-NCTS-EVENT-REFUSED", None,
       "A movement event names a movement this gateway does not keep in the role the event "
       "concerns, an MRN another movement has, or comes out of sequence for the movement's "
       "state (a release before the MRN, a write-off before the control results). Parked.",
       "Check the movement's state (`journal.flow(\"movements\")`) and the order the transit "
       "system decided in; replay the event once the movement can take it."),
    _P("GW-NCTS-MOVEMENT-CHANGED", None,
       "The movement changed (another message or event moved it) between the event being "
       "prepared and applied. The event is prepared again on the new state (retried).",
       "Nothing: retried by the consumer. Seen often, check for two transit systems deciding "
       "on the same movements."),
    _P("GW-NCTS-NOT-BUILT", None,
       "An NCTS message the gateway built from the movement's kept data (a CC029C, a CD001C …) "
       "does not conform to its schema, for instance a holder without name and address for "
       "an arrival record; it is not sent, and the event that asked for it is parked with the "
       "schema problems.",
       "Complete the declaration data the message needs (the holder's name and address, the "
       "control result …) and replay the event; report the message if the data was "
       "complete."),
))

SECTIONS: tuple[Section, ...] = (
    _ACCESS, _REQUEST, _XML, _MESSAGE_TYPE, _SCHEMA, _MAPPING, _RULES, _IDEMPOTENCY, _SOAP,
    _CAPACITY, _SIGNATURES, _WSS, _PARTNER_CALLS, _BUS, _TRANSIT, _OPERATOR,
)

#: Every code, in the order of the sections.
PROBLEM_CODES: tuple[ProblemCode, ...] = tuple(code for s in SECTIONS for code in s.codes)

_BY_CODE = {entry.code: entry for entry in PROBLEM_CODES}


def problem_code(code: str) -> ProblemCode:
    """The table's row for ``code`` (``KeyError`` if the code is not in the table)."""
    return _BY_CODE[code]
