"""The partner registry: who may talk to the gateway, what they may send, what they may read.

Identity, kind, permissions, callback and certificates live in ``config/partners.toml``
(reviewed, versioned). Credentials live apart, in the deployment's credentials file
(``var/credentials.toml`` by default, never in git): bearer tokens are stored only as
SHA-256 hashes — tokens are 256-bit random values, so a plain hash is safe to keep and fast to
check — and several may be active at once for rotation.

A bank names its ``bic``: the files it sends must report accounts that this BIC services
(``gateway/flows/payments/servicer.py``).

How a partner proves who it is: always its bearer token (checked before a byte of the body is
read); with ``require_wss = true`` every SOAP request must also carry a WS-Security signature
that verifies against one of the partner's ``certificates`` (``adapters/http/soap.py``), and
the gateway's SOAP answers to it are signed with WS-Security too. Plain HTTP carries no
WS-Security: a ``require_wss`` partner's plain-XML submissions are authenticated by the token.

Which identity a partner uses (``identity``): ``"token"`` (the default, above) or
``"signature"`` — a neighbouring customs administration, whose messages arrive over AMQP with no
token: each carries an enveloped XML-DSig signature, and the partner is the owner of the
certificate that verifies it (``gateway/pipeline/identity.py``; several certificates for
rotation). A signature partner has no token (one is refused), names its ``certificates`` and,
for kind ``customs``, its ``country`` (ISO 3166 alpha-2: where the link sends its answers, and
the ``NTA.<country>`` its messages must name as their sender).

How pushes reach a partner (``delivery``): ``"http"`` (the default) POSTs each signed
notification to ``callback_url``; ``"soap"`` calls the partner's SOAP service, whose WSDL is
at ``callback_url``, with WS-Security (``adapters/push_transports.py``; a bank's
``AcknowledgePayments`` for the ``ACK`` notifications). No ``callback_url``: pull only.

A partner may be held to some document types within a message type
(``allowed_document_types = {"sps-certificate-17" = ["851"]}``): a phytosanitary agency may
send SPS certificates of type 851 only. The intake checks it once the document is mapped, for
kinds that state a document type (``Partner.may_issue``; ``gateway/pipeline/trust_steps.py``).
A message type the table does not name is not restricted beyond ``allowed_message_types``.

Access: a partner reads only its own conversations; a partner of kind ``operator`` reads every
conversation (the gateway's operations desk). No other kind — ``internal`` included — reads
another partner's conversations.

The registry takes effect live: on use, at most every ``check_every`` seconds, it stats both
files and re-reads them when they changed, so a token issued or revoked with ``gateway
partners token`` and an edit of ``partners.toml`` apply in every running process within about
a second, without a restart. Writers replace files atomically (``write_atomically``: a
temporary file, then ``os.replace``), so a reader never sees half a file. A file that does not
parse on reload — or a ``partners.toml`` left with no partner, as a truncating editor would
leave it — is refused: the last good registry stays in force and the error is logged, so a
broken edit never locks everybody out. Certificates are the exception: they are read into the
trust store at start, and a change to them is logged as needing a restart.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from gateway.errors import ConfigurationError, Forbidden, Unauthenticated
from gateway.identifiers import is_valid_bic

PARTNER_KINDS = ("broker", "bank", "agency", "customs", "trader", "internal", "operator")
OPERATOR = "operator"
DELIVERIES = ("http", "soap")     # how pushes reach a partner's callback_url
TOKEN, SIGNATURE = "token", "signature"
IDENTITIES = (TOKEN, SIGNATURE)   # how a partner proves who it is
CHECK_EVERY = 1.0        # seconds between two looks at the files (on use)
SETTLE_SECONDS = 2.0     # a file younger than this is compared by content, not only by stat

log = structlog.get_logger("gateway.partners")


@dataclass(frozen=True)
class Partner:
    id: str
    name: str
    kind: str
    allowed_message_types: frozenset[str] = frozenset()
    callback_url: str | None = None
    certificates: tuple[str, ...] = ()
    bic: str | None = None               # a bank's BIC (ISO 9362): the accounts it services
    require_wss: bool = False            # SOAP requests must be signed with WS-Security
    delivery: str = "http"               # pushes: "http" POST, or "soap" (callback_url: WSDL)
    identity: str = TOKEN                # "token" (bearer) or "signature" (signed documents)
    country: str | None = None           # a customs administration's country (ISO alpha-2)
    # message type -> the document types (certificate type codes, licence types) it may send
    allowed_document_types: tuple[tuple[str, frozenset[str]], ...] = ()

    def may_send(self, message_type_id: str) -> bool:
        return message_type_id in self.allowed_message_types or "*" in self.allowed_message_types

    def may_issue(self, message_type_id: str, document_type: str) -> bool:
        """Whether this partner may send a ``message_type_id`` document of ``document_type``:
        yes unless ``allowed_document_types`` lists the types for that message type."""
        for listed, types in self.allowed_document_types:
            if listed == message_type_id:
                return document_type in types
        return True

    def may_read(self, owner_id: str) -> bool:
        """Whether this partner may read a conversation that ``owner_id`` started."""
        return owner_id == self.id or self.kind == OPERATOR


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return "gwt_" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class _Snapshot:
    partners: dict[str, Partner]
    token_hashes: dict[str, str]        # hash -> partner id


@dataclass(frozen=True)
class _Seen:
    """What the files looked like at the last look: stat stamp and content digest."""

    stamp: tuple[Any, ...]
    digest: str
    settled: bool          # both files older than SETTLE_SECONDS: the stamp alone tells a change


@dataclass(frozen=True)
class RegistryFiles:
    config_file: Path
    credentials_file: Path | None
    gateway_url: str = ""

    def stamp(self) -> tuple[Any, ...]:
        return (_stat(self.config_file),
                _stat(self.credentials_file) if self.credentials_file else None)

    def read(self) -> tuple[tuple[Any, ...], str | None, str | None]:
        """The stamp (taken first), then the texts; ``None`` for a missing file."""
        stamp = self.stamp()
        return stamp, _read(self.config_file), \
            _read(self.credentials_file) if self.credentials_file else None


class PartnerRegistry:
    """The partners and their token hashes, re-read from their files when they change."""

    def __init__(self, partners: dict[str, Partner], token_hashes: dict[str, str] | None = None,
                 *, files: RegistryFiles | None = None, seen: _Seen | None = None,
                 check_every: float = CHECK_EVERY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._snapshot = _Snapshot(partners, dict(token_hashes or {}))
        self._files = files
        self._seen = seen
        self.check_every = check_every
        self._clock = clock
        self._checked_at = clock()
        self._lock = threading.Lock()
        self.generation = 0                # successful reloads since start

    @classmethod
    def load(cls, config_file: Path, credentials_file: Path | None, gateway_url: str = "",
             *, check_every: float = CHECK_EVERY,
             clock: Callable[[], float] = time.monotonic) -> PartnerRegistry:
        """Read both files now (a broken one is a ``ConfigurationError``); follow them after."""
        files = RegistryFiles(config_file, credentials_file, gateway_url)
        stamp, config_text, credentials_text = files.read()
        if config_text is None:
            raise ConfigurationError(f"the partner registry {config_file} does not exist")
        partners, token_hashes = parse_registry(config_text, credentials_text, gateway_url)
        seen = _Seen(stamp, _digest(config_text, credentials_text), _settled(stamp))
        return cls(partners, token_hashes, files=files, seen=seen, check_every=check_every,
                   clock=clock)

    @property
    def partners(self) -> dict[str, Partner]:
        return self._current().partners

    @property
    def token_hashes(self) -> dict[str, str]:
        return self._current().token_hashes

    def get(self, partner_id: str) -> Partner:
        return self._current().partners[partner_id]

    def find(self, partner_id: str) -> Partner | None:
        """The partner, or ``None`` if the registry (as it is now) has no such partner."""
        return self._current().partners.get(partner_id)

    def authenticate(self, authorization: str | None) -> Partner:
        """The partner holding this ``Authorization: Bearer …`` token, or ``Unauthenticated``."""
        if not authorization:
            raise Unauthenticated("credentials are missing: send Authorization: Bearer <token>")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("only bearer tokens are accepted")
        snapshot = self._current()
        # Looking up the hash leaks nothing useful about a 256-bit random token.
        partner_id = snapshot.token_hashes.get(hash_token(token.strip()))
        if partner_id is None or partner_id not in snapshot.partners:
            raise Unauthenticated("the token is unknown, revoked or wrong")
        partner = snapshot.partners[partner_id]
        if partner.identity != TOKEN:
            raise Unauthenticated(f"partner {partner.id!r} proves who it is with a "
                                  f"{partner.identity}, not a token")
        return partner

    def signed_by(self, owner: str) -> Partner:
        """The partner whose certificate verified a signed document (``owner``: its id in the
        trust store); ``Unauthenticated`` unless that partner's identity is its signature."""
        partner = self._current().partners.get(owner)
        if partner is None:
            raise Unauthenticated(f"the signer {owner!r} is not a partner of this gateway")
        if partner.identity != SIGNATURE:
            raise Unauthenticated(f"partner {owner!r} does not prove who it is by signing its "
                                  f"documents (identity = {partner.identity!r})")
        return partner

    def authorise(self, partner: Partner, message_type_id: str) -> None:
        if not partner.may_send(message_type_id):
            raise Forbidden(f"partner {partner.id!r} may not send message type "
                            f"{message_type_id!r}")

    def refresh(self, *, force: bool = False) -> bool:
        """Re-read the files if they changed (at most every ``check_every`` s unless
        ``force``); ``True`` if a new registry took effect."""
        if self._files is None or self._seen is None:
            return False
        now = self._clock()
        if not force and now - self._checked_at < self.check_every:
            return False
        if not self._lock.acquire(blocking=False):    # another thread is looking: use current
            return False
        try:
            self._checked_at = now
            if self._files.stamp() == self._seen.stamp and self._seen.settled:
                return False
            return self._reload(self._files)
        finally:
            self._lock.release()

    def _current(self) -> _Snapshot:
        self.refresh()
        return self._snapshot

    def _reload(self, files: RegistryFiles) -> bool:
        stamp, config_text, credentials_text = files.read()
        digest = _digest(config_text, credentials_text)
        unchanged = self._seen is not None and digest == self._seen.digest
        self._seen = _Seen(stamp, digest, _settled(stamp))
        if unchanged:            # touched, or a broken version already reported
            return False
        try:
            if config_text is None:
                raise ConfigurationError(f"{files.config_file} has disappeared")
            partners, token_hashes = parse_registry(config_text, credentials_text,
                                                    files.gateway_url)
            if not partners:
                raise ConfigurationError(f"{files.config_file} lists no partner")
        except ConfigurationError as err:
            log.error("partners.reload_failed", error=err.message, pid=os.getpid(),
                      hint="the previous registry stays in force until the file is fixed")
            return False
        self._apply(_Snapshot(partners, token_hashes))
        return True

    def _apply(self, new: _Snapshot) -> None:
        old, self._snapshot = self._snapshot, new
        self.generation += 1
        changed = sorted(p for p in old.partners.keys() | new.partners.keys()
                         if old.partners.get(p) != new.partners.get(p))
        tokens_changed = sorted(p for p in old.partners.keys() | new.partners.keys()
                                if _hashes_of(old, p) != _hashes_of(new, p))
        log.info("partners.reloaded", pid=os.getpid(), generation=self.generation,
                 partners=len(new.partners), tokens=len(new.token_hashes),
                 partners_changed=changed, tokens_changed=tokens_changed)
        certificates = sorted(p for p in changed if _certificates(old, p) != _certificates(new, p))
        if certificates:
            log.warning("partners.restart_needed", partners=certificates,
                        reason="certificates are loaded into the trust store at start: "
                               "restart the gateway to use the new ones")


def parse_registry(config_text: str, credentials_text: str | None,
                   gateway_url: str = "") -> tuple[dict[str, Partner], dict[str, str]]:
    """Partners by id and token hashes (hash -> partner id); ``ConfigurationError`` if bad."""
    partners: dict[str, Partner] = {}
    for item in _toml(config_text, "partners.toml").get("partner", []):
        partner = _partner(item, gateway_url)
        if partner.id in partners:
            raise ConfigurationError(f"partner {partner.id!r} is listed twice")
        partners[partner.id] = partner
    token_hashes: dict[str, str] = {}
    if credentials_text is not None:
        for partner_id, hashes in _credentials(credentials_text).items():
            for token_hash in hashes:
                token_hashes[token_hash] = partner_id
    return partners, token_hashes


def _partner(item: dict[str, Any], gateway_url: str) -> Partner:
    try:
        kind = item["kind"]
        if kind not in PARTNER_KINDS:
            raise ConfigurationError(f"partner {item['id']!r}: kind must be one of "
                                     f"{', '.join(PARTNER_KINDS)}")
        callback = item.get("callback_url") or None
        return Partner(
            id=item["id"], name=item.get("name", item["id"]), kind=kind,
            allowed_message_types=frozenset(item.get("allowed_message_types", [])),
            callback_url=callback.replace("{gateway_url}", gateway_url) if callback else None,
            certificates=tuple(item.get("certificates", [])),
            bic=_bic(item),
            allowed_document_types=_document_types(item),
            require_wss=_require_wss(item),
            delivery=_delivery(item, callback),
            identity=_identity(item),
            country=_country(item),
        )
    except KeyError as exc:
        raise ConfigurationError(f"partner entry lacks {exc}") from exc


def _bic(item: dict[str, Any]) -> str | None:
    """The partner's ``bic``, upper-cased, checked with python-stdnum (8 or 11 characters)."""
    raw = item.get("bic")
    if raw is None:
        return None
    if not isinstance(raw, str) or not is_valid_bic(raw):
        raise ConfigurationError(f"partner {item.get('id')!r}: bic {raw!r} is not a valid BIC "
                                 "(ISO 9362: 8 or 11 letters and digits)")
    return raw.strip().upper()


def _document_types(item: dict[str, Any]) -> tuple[tuple[str, frozenset[str]], ...]:
    """``allowed_document_types``: message type id -> list of type strings, each message type
    one the partner may send."""
    raw = item.get("allowed_document_types", {})
    allowed = item.get("allowed_message_types", [])
    if not isinstance(raw, dict):
        raise ConfigurationError(f"partner {item.get('id')!r}: allowed_document_types must be a "
                                 "table of message type -> list of document types")
    out = []
    for message_type, types in sorted(raw.items()):
        if not isinstance(types, list) or not all(isinstance(t, str) and t for t in types):
            raise ConfigurationError(f"partner {item.get('id')!r}: allowed_document_types of "
                                     f"{message_type!r} must be a list of type strings")
        if message_type not in allowed and "*" not in allowed:
            raise ConfigurationError(f"partner {item.get('id')!r}: allowed_document_types names "
                                     f"{message_type!r}, which it may not send at all")
        out.append((message_type, frozenset(types)))
    return tuple(out)


def _require_wss(item: dict[str, Any]) -> bool:
    """``require_wss`` (a boolean); a partner that requires it must name its certificates."""
    value = item.get("require_wss", False)
    if not isinstance(value, bool):
        raise ConfigurationError(f"partner {item.get('id')!r}: require_wss must be true or "
                                 f"false, not {value!r}")
    if value and not item.get("certificates"):
        raise ConfigurationError(f"partner {item.get('id')!r}: require_wss needs the partner's "
                                 "certificates (its WS-Security signatures are verified "
                                 "against them)")
    return value


def _delivery(item: dict[str, Any], callback: str | None) -> str:
    """``delivery`` (``http`` or ``soap``); ``soap`` needs a ``callback_url`` (the WSDL)."""
    value = item.get("delivery", "http")
    if value not in DELIVERIES:
        raise ConfigurationError(f"partner {item.get('id')!r}: delivery must be one of "
                                 f"{', '.join(DELIVERIES)}, not {value!r}")
    if value == "soap" and not callback:
        raise ConfigurationError(f"partner {item.get('id')!r}: delivery = \"soap\" needs "
                                 "callback_url, the address of the partner's WSDL")
    return str(value)


def _identity(item: dict[str, Any]) -> str:
    """``identity`` (``token`` or ``signature``); a signature needs the partner's
    certificates, against which its documents are verified."""
    value = item.get("identity", TOKEN)
    if value not in IDENTITIES:
        raise ConfigurationError(f"partner {item.get('id')!r}: identity must be one of "
                                 f"{', '.join(IDENTITIES)}, not {value!r}")
    if value == SIGNATURE and not item.get("certificates"):
        raise ConfigurationError(f"partner {item.get('id')!r}: identity = \"signature\" needs "
                                 "the partner's certificates (its documents are verified "
                                 "against them)")
    return str(value)


def _country(item: dict[str, Any]) -> str | None:
    """``country`` (two capital letters); required for a customs administration."""
    value = item.get("country")
    if value is None:
        if item.get("kind") == "customs":
            raise ConfigurationError(f"partner {item.get('id')!r}: a customs administration "
                                     "names its country (country = \"RS\")")
        return None
    if not isinstance(value, str) or len(value) != 2 or not value.isascii() \
            or not value.isupper() or not value.isalpha():
        raise ConfigurationError(f"partner {item.get('id')!r}: country must be two capital "
                                 f"letters (ISO 3166 alpha-2), not {value!r}")
    return value


def _toml(text: str, what: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{what} is not valid TOML: {exc}") from exc


def _credentials(text: str) -> dict[str, list[str]]:
    raw = _toml(text, "the credentials file").get("token_sha256", {})
    out: dict[str, list[str]] = {}
    for partner_id, hashes in raw.items():
        listed = [hashes] if isinstance(hashes, str) else hashes
        if not isinstance(listed, list) or not all(isinstance(h, str) for h in listed):
            raise ConfigurationError(f"credentials of {partner_id!r} must be a list of hashes")
        out[partner_id] = list(listed)
    return out


def _hashes_of(snapshot: _Snapshot, partner_id: str) -> set[str]:
    return {h for h, p in snapshot.token_hashes.items() if p == partner_id}


def _certificates(snapshot: _Snapshot, partner_id: str) -> tuple[str, ...]:
    partner = snapshot.partners.get(partner_id)
    return partner.certificates if partner else ()


def _stat(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size


def _settled(stamp: tuple[Any, ...]) -> bool:
    """File times are coarse: a file changed twice within one tick keeps its stamp. Trust the
    stamp only once both files are older than ``SETTLE_SECONDS``."""
    limit = time.time_ns() - int(SETTLE_SECONDS * 1e9)
    return all(st is None or st[1] < limit for st in stamp)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _digest(*texts: str | None) -> str:
    h = hashlib.sha256()
    for text in texts:
        h.update(b"\x00-" if text is None else b"\x01" + text.encode("utf-8") + b"\x00")
    return h.hexdigest()


# --- writing the files ------------------------------------------------------------------------


def write_atomically(path: Path, text: str, mode: int = 0o600) -> None:
    """Replace ``path`` with ``text`` in one step: readers see the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)          # the rename itself survives a crash
    finally:
        os.close(directory)


def write_credentials(path: Path, token_hashes: dict[str, list[str]]) -> None:
    """Persist token hashes (TOML), readable only by the owner, replacing the file atomically."""
    lines = ["# Generated by `gateway keys init` / `gateway partners token`. Hashes only.",
             "[token_sha256]"]
    for partner_id, hashes in sorted(token_hashes.items()):
        quoted = ", ".join(f'"{h}"' for h in hashes)
        lines.append(f'"{partner_id}" = [{quoted}]')
    write_atomically(path, "\n".join(lines) + "\n", 0o600)


def read_credentials(path: Path) -> dict[str, list[str]]:
    text = _read(path)
    return {} if text is None else _credentials(text)


def update_credentials(path: Path, change: Callable[[dict[str, list[str]]], None]) -> None:
    """Read, change and write the credentials under a lock: two CLI runs at once lose nothing."""
    with _locked(path):
        hashes = read_credentials(path)
        change(hashes)
        write_credentials(path, hashes)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.parent / f".{path.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)

