"""The partner registry takes effect live: it follows its files, refuses broken versions.

Each test works on its own copy of ``config/partners.toml`` and its own credentials file;
files are changed the way the CLI and an operator change them (an atomic replace).
"""

from __future__ import annotations

import shutil
import threading
import tomllib
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from adapters.cli import main as cli_main
from adapters.setup_keys import issue_token
from gateway.errors import Unauthenticated
from gateway.partners import (
    PartnerRegistry,
    hash_token,
    new_token,
    read_credentials,
    update_credentials,
    write_atomically,
    write_credentials,
)
from gateway.settings import Settings

REPOSITORY_PARTNERS = Settings().config_dir / "partners.toml"
SHIPPED_PARTNERS = len(tomllib.loads(REPOSITORY_PARTNERS.read_text("utf-8"))["partner"])


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def home(tmp_path: Path) -> Settings:
    """Settings whose config/partners.toml and var/credentials.toml are the test's own."""
    (tmp_path / "config").mkdir()
    shutil.copy(REPOSITORY_PARTNERS, tmp_path / "config" / "partners.toml")
    return Settings(home=tmp_path, var_dir=tmp_path / "var")


def live(settings: Settings, clock: Clock | None = None) -> PartnerRegistry:
    return PartnerRegistry.load(settings.config_dir / "partners.toml",
                                settings.credentials_path, "http://gw.test",
                                check_every=1.0, clock=clock or Clock())


def edit_partners(settings: Settings, old: str, new: str) -> None:
    path = settings.config_dir / "partners.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    write_atomically(path, text.replace(old, new, 1), 0o644)


def bearer(token: str) -> str:
    return f"Bearer {token}"


def test_registry_accepts_token_issued_after_start(home: Settings) -> None:
    """A token issued while the registry runs authenticates at the next look at the files."""
    clock = Clock()
    registry = live(home, clock)
    token = issue_token(home, "broker-legacy")
    clock.now += 1.0
    assert registry.authenticate(bearer(token)).id == "broker-legacy"


def test_registry_refuses_token_revoked_by_replace(home: Settings) -> None:
    """``--replace`` revokes a token in a running registry; the new one works."""
    clock = Clock()
    old = issue_token(home, "broker-legacy")
    registry = live(home, clock)
    assert registry.authenticate(bearer(old)).id == "broker-legacy"
    new = issue_token(home, "broker-legacy", replace=True)
    clock.now += 1.0
    with pytest.raises(Unauthenticated):
        registry.authenticate(bearer(old))
    assert registry.authenticate(bearer(new)).id == "broker-legacy"


def test_registry_looks_at_files_at_most_once_a_second(home: Settings) -> None:
    """Within a second of its last look the registry answers from memory, then it re-reads."""
    clock = Clock()
    registry = live(home, clock)
    token = issue_token(home, "bank-demo")
    clock.now += 0.5
    with pytest.raises(Unauthenticated):
        registry.authenticate(bearer(token))
    clock.now += 0.5
    assert registry.authenticate(bearer(token)).id == "bank-demo"
    assert registry.generation == 1


def test_registry_follows_permission_callback_and_kind_edits(home: Settings) -> None:
    """Permissions, callback URL and kind edited in partners.toml apply without a restart."""
    clock = Clock()
    registry = live(home, clock)
    legacy = registry.get("broker-legacy")
    assert not legacy.may_send("wco-dec-3.6") and legacy.callback_url is None
    edit_partners(home, 'allowed_message_types = ["asycuda-sad-1"]\n',
                  'allowed_message_types = ["asycuda-sad-1", "wco-dec-3.6"]\n'
                  'callback_url = "{gateway_url}/sandbox/callbacks/broker-legacy"\n')
    edit_partners(home, 'id = "bank-demo"\nname = "Demo Commercial Bank (may not submit '
                        'declarations)"\nkind = "bank"',
                  'id = "bank-demo"\nname = "Demo Commercial Bank"\nkind = "operator"')
    clock.now += 1.0
    legacy = registry.get("broker-legacy")
    registry.authorise(legacy, "wco-dec-3.6")
    assert legacy.callback_url == "http://gw.test/sandbox/callbacks/broker-legacy"
    assert registry.get("bank-demo").may_read("broker-alpha")


def test_registry_partner_removed_stops_authenticating(home: Settings) -> None:
    """A partner taken out of partners.toml is refused even with a still-listed token."""
    clock = Clock()
    token = issue_token(home, "bank-demo")
    registry = live(home, clock)
    assert registry.authenticate(bearer(token)).id == "bank-demo"
    edit_partners(home, '[[partner]]\nid = "bank-demo"', '[[retired]]\nid = "bank-demo"')
    clock.now += 1.0
    with pytest.raises(Unauthenticated):
        registry.authenticate(bearer(token))
    assert "bank-demo" not in registry.partners


@pytest.mark.parametrize("broken", [
    '[[partner]\nid = "x"\n',                                   # not TOML
    '[[partner]]\nid = "x"\nkind = "robot"\n',                  # unknown kind
    '[[partner]]\nkind = "broker"\n',                           # no id
    "",                                                         # truncated by an editor
    "# everything commented out\n",                             # no partner at all
])
def test_registry_broken_partners_file_keeps_last_good(home: Settings, broken: str) -> None:
    """A partners.toml that is broken on reload is refused, logged, and nobody is locked out."""
    clock = Clock()
    token = issue_token(home, "broker-alpha")
    registry = live(home, clock)
    write_atomically(home.config_dir / "partners.toml", broken, 0o644)
    clock.now += 1.0
    with capture_logs() as logs:
        assert registry.authenticate(bearer(token)).id == "broker-alpha"
        clock.now += 1.0
        registry.authenticate(bearer(token))            # looked again: logged only once
    failures = [e for e in logs if e["event"] == "partners.reload_failed"]
    assert len(failures) == 1 and failures[0]["log_level"] == "error"
    assert len(registry.partners) == SHIPPED_PARTNERS and registry.generation == 0


def test_registry_fixed_file_after_broken_one_applies(home: Settings) -> None:
    """Once a broken partners.toml is fixed, the fixed version takes effect."""
    clock = Clock()
    registry = live(home, clock)
    path = home.config_dir / "partners.toml"
    good = path.read_text(encoding="utf-8")
    write_atomically(path, "not = [toml", 0o644)
    clock.now += 1.0
    assert len(registry.partners) == SHIPPED_PARTNERS
    write_atomically(path, good + '\n[[partner]]\nid = "agency-x"\nkind = "agency"\n', 0o644)
    clock.now += 1.0
    assert registry.get("agency-x").kind == "agency"


def test_registry_broken_credentials_file_keeps_last_good(home: Settings) -> None:
    """A credentials file that does not parse on reload keeps the tokens in force."""
    clock = Clock()
    token = issue_token(home, "broker-alpha")
    registry = live(home, clock)
    write_atomically(home.credentials_path, '[token_sha256]\n"broker-alpha" = [1, 2]\n')
    clock.now += 1.0
    with capture_logs() as logs:
        assert registry.authenticate(bearer(token)).id == "broker-alpha"
    assert [e["event"] for e in logs] == ["partners.reload_failed"]


def test_registry_credentials_file_removed_revokes_every_token(home: Settings) -> None:
    """Deleting the credentials file revokes all tokens, as a restart would."""
    clock = Clock()
    token = issue_token(home, "broker-alpha")
    registry = live(home, clock)
    home.credentials_path.unlink()
    clock.now += 1.0
    with pytest.raises(Unauthenticated):
        registry.authenticate(bearer(token))


def test_registry_certificate_change_is_logged_as_needing_restart(home: Settings) -> None:
    """A changed certificate list applies to the registry but is logged: restart needed."""
    clock = Clock()
    registry = live(home, clock)
    edit_partners(home, 'certificates = ["keys/clearance.crt"]',
                  'certificates = ["keys/clearance.crt", "keys/clearance-2026.crt"]')
    clock.now += 1.0
    with capture_logs() as logs:
        registry.refresh()
    events = {e["event"]: e for e in logs}
    assert events["partners.reloaded"]["partners_changed"] == ["clearance"]
    assert events["partners.restart_needed"]["partners"] == ["clearance"]
    assert "restart" in events["partners.restart_needed"]["reason"]


def test_registry_change_within_one_timestamp_tick_is_seen(
        home: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """When file times are too coarse to show a change, a young file is compared by content."""
    clock = Clock()
    registry = live(home, clock)
    frozen = registry._files.stamp()            # type: ignore[union-attr]
    monkeypatch.setattr(type(registry._files), "stamp", lambda self: frozen)
    token = issue_token(home, "broker-alpha")
    clock.now += 1.0
    assert registry.authenticate(bearer(token)).id == "broker-alpha"


def test_registry_unchanged_settled_files_are_not_read_again(
        home: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files older than the settle time whose stat is unchanged cost one stat, no read."""
    import gateway.partners as partners_module

    clock = Clock()
    monkeypatch.setattr(partners_module, "SETTLE_SECONDS", 0.0)
    registry = live(home, clock)
    reads: list[Path] = []
    monkeypatch.setattr(partners_module, "_read", lambda path: reads.append(path))
    for _ in range(3):
        clock.now += 1.0
        registry.refresh()
    assert reads == []


def test_write_atomically_never_shows_half_a_file(tmp_path: Path) -> None:
    """A reader polling while the file is rewritten sees only whole versions."""
    path = tmp_path / "credentials.toml"
    versions = {f"{chr(65 + i)}" * 200_000 for i in range(8)}
    write_atomically(path, "A" * 200_000)
    stop = threading.Event()
    seen: set[str] = set()

    def reader() -> None:
        while not stop.is_set():
            seen.add(path.read_text(encoding="utf-8"))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(5):
            for text in sorted(versions):
                write_atomically(path, text)
    finally:
        stop.set()
        thread.join()
    assert seen and seen <= versions
    assert not list(tmp_path.glob(".credentials.toml.*.tmp"))


def test_update_credentials_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    """Two writers issuing tokens at the same time both keep every hash (file lock)."""
    path = tmp_path / "credentials.toml"
    write_credentials(path, {})

    def issue(partner_id: str) -> None:
        for _ in range(25):
            update_credentials(path, lambda hashes: hashes.setdefault(partner_id, []).append(
                hash_token(new_token())))

    threads = [threading.Thread(target=issue, args=(p,)) for p in ("broker-alpha", "bank-demo")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = read_credentials(path)
    assert {p: len(h) for p, h in stored.items()} == {"broker-alpha": 25, "bank-demo": 25}


def _cli(monkeypatch: pytest.MonkeyPatch, settings: Settings, *argv: str) -> int:
    monkeypatch.setenv("GATEWAY_HOME", str(settings.home))
    monkeypatch.setenv("GATEWAY_VAR_DIR", str(settings.var_dir))
    return cli_main(list(argv))


def test_cli_partners_check_says_what_needs_a_restart(
        home: Settings, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """``gateway partners check`` says tokens and permissions apply live, certificates not."""
    issue_token(home, "broker-alpha")
    assert _cli(monkeypatch, home, "partners", "check") == 0
    out = capsys.readouterr().out
    assert f"ok: {SHIPPED_PARTNERS} partners, 1 active tokens" in out
    assert "applied live" in out and "permissions" in out and "tokens" in out
    assert "restart the gateway" in out and "clearance: keys/clearance.crt" in out


def test_cli_partners_check_refuses_broken_file(
        home: Settings, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A broken partners.toml makes ``partners check`` fail and say gateways keep the old one."""
    edit_partners(home, 'kind = "bank"', 'kind = "robot"')
    assert _cli(monkeypatch, home, "partners", "check") == 1
    err = capsys.readouterr().err
    assert "kind must be one of" in err and "keep their last good registry" in err


def test_cli_partners_token_replace_says_it_applies_live(
        home: Settings, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """``partners token --replace`` prints one new token and says old ones stop working live."""
    first = issue_token(home, "broker-legacy")
    assert _cli(monkeypatch, home, "partners", "token", "broker-legacy", "--replace") == 0
    captured = capsys.readouterr()
    token = captured.out.strip()
    assert token.startswith("gwt_") and token != first
    assert "other tokens stop working" in captured.err and "no restart" in captured.err
    assert read_credentials(home.credentials_path) == {"broker-legacy": [hash_token(token)]}
