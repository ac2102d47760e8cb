"""The ``gateway`` command.

    gateway serve [--host H] [--port P] [--workers N] [--sandbox]
    gateway messaging [--sandbox]
    gateway demo [--port P]
    gateway validate [--json] FILE…   exit 0 valid, 1 invalid, 2 unreadable
    gateway keys init [--force]
    gateway keys peer [--slot N] ID CERT
    gateway partners list
    gateway partners check
    gateway partners token ID [--replace]
    gateway topology declare
    gateway topology delete [--yes]
    gateway outbox status
    gateway parked list [--json] [--all] [--limit N]
    gateway parked show [--json] ID
    gateway parked replay [--reference RF…] [--operator NAME] ID   exit 0 applied, 3 parked
                                                                 again, 1 refused

``gateway --help`` prints this synopsis as the parser knows it (every command, every option,
one line on what each command does) and ``gateway COMMAND --help`` every option's default.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.settings import Settings

if TYPE_CHECKING:
    from adapters.messaging_process import MessagingSupervisor


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):          # `gateway` or a group (`gateway partners`) alone
        getattr(args, "help_parser", parser).print_help()
        return 2
    return int(args.run(args, Settings.from_env()) or 0)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Descriptions and the synopsis as written; every option's default after its help."""


class _Commands(argparse._SubParsersAction):  # type: ignore[type-arg]
    """Subcommands whose own ``--help`` starts with their one-line description."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if "help" in kwargs:
            kwargs.setdefault("description", textwrap.fill(kwargs["help"], 92))
        return super().add_parser(name, **kwargs)


class _Parser(argparse.ArgumentParser):
    """``gateway`` and each of its (sub)commands: one formatter; the commands kept for the
    synopsis; a group reached without its subcommand remembered for ``main`` (its help)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)
        self.commands: _Commands | None = None

    def add_subparsers(self, **kwargs: Any) -> _Commands:  # type: ignore[override]
        kwargs.update(action=_Commands, title="commands", metavar="COMMAND")
        self.commands = super().add_subparsers(**kwargs)
        self.set_defaults(help_parser=self)
        return self.commands


def _synopsis(parser: _Parser) -> str:
    """Every command with its options (argparse's usage of it) and what it does."""
    lines = ["synopsis:"]
    for command in _leaf_commands(parser):
        usage = " ".join(command.format_usage().removeprefix("usage: ").split())
        lines.append(f"  {usage.replace(' [-h]', '')}")
        lines += textwrap.wrap(command.description or "", 94, initial_indent=" " * 6,
                               subsequent_indent=" " * 6)
    return "\n".join(lines)


def _leaf_commands(parser: _Parser) -> Iterator[_Parser]:
    if parser.commands is None:
        yield parser
        return
    for child in parser.commands.choices.values():
        yield from _leaf_commands(child)


def _parser() -> _Parser:
    parser = _Parser(prog="gateway", description=(
        "The customs single-window gateway: run it, check declaration files, operate keys,\n"
        "partners, the RabbitMQ topology and the outbox. Settings come from the environment\n"
        "(GATEWAY_DB_URL, GATEWAY_AMQP_URL, GATEWAY_VAR_DIR, … — see the README)."))
    sub = parser.add_subparsers()

    serve = sub.add_parser("serve", help="run the gateway (HTTP, SOAP, relay, consumers)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on")
    serve.add_argument("--workers", type=int, default=1,
                       help="HTTP worker processes (one per core); above 1, one more process "
                       "runs the relay, the decision consumer and the pushes")
    serve.add_argument("--sandbox", action="store_true",
                       help="also run the stand-in partners (clearance, broker callbacks)")
    serve.set_defaults(run=_serve)

    messaging = sub.add_parser(
        "messaging", help="run only the relay, decision consumer and pushes (started by "
        "`serve --workers N`; can also run on its own next to HTTP-only workers)")
    messaging.add_argument("--sandbox", action="store_true", help="also run the stand-ins")
    messaging.add_argument("--supervisor-pid", type=int, default=0, help=argparse.SUPPRESS)
    messaging.set_defaults(run=_messaging)

    demo = sub.add_parser("demo", help="run the flows end to end with the stand-in partners")
    demo.add_argument("--port", type=int, default=0,
                      help="port of the gateway the demo starts (0 = any free port)")
    demo.set_defaults(run=_demo)

    validate = sub.add_parser("validate", help="check declaration files before sending them")
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE",
                          help="declaration file(s) to check with the intake's checks")
    validate.add_argument("--json", action="store_true", help="machine-readable output")
    validate.set_defaults(run=_validate)

    keys = sub.add_parser("keys", help="key set-up").add_subparsers()
    init = keys.add_parser("init", help="generate demo/test keys and partner tokens")
    init.add_argument("--force", action="store_true", help="replace existing keys and tokens")
    init.set_defaults(run=_keys_init)
    peer = keys.add_parser("peer", help="install a customs administration's certificate "
                           "(its CD messages are verified against it; restart to use it)")
    peer.add_argument("partner_id", metavar="ID", help="the administration's partner id "
                      "(kind customs in partners.toml)")
    peer.add_argument("certificate", metavar="CERT", type=Path, help="its PEM certificate")
    peer.add_argument("--slot", type=int, default=0, help="which of the partner's listed "
                      "certificates it is (0 = the first; list the next one to rotate)")
    peer.set_defaults(run=_keys_peer)

    partners = sub.add_parser("partners", help="the partner registry").add_subparsers()
    partners.add_parser("list", help="show partners").set_defaults(run=_partners_list)
    partners.add_parser(
        "check", help="validate partners.toml and the credentials; say what applies live"
    ).set_defaults(run=_partners_check)
    token = partners.add_parser("token", help="issue a bearer token (printed once)")
    token.add_argument("partner_id", metavar="ID", help="a partner id of config/partners.toml")
    token.add_argument("--replace", action="store_true", help="revoke the partner's other tokens")
    token.set_defaults(run=_partners_token)

    topology = sub.add_parser("topology", help="RabbitMQ topology").add_subparsers()
    topology.add_parser("declare", help="declare exchanges and queues").set_defaults(
        run=_topology_declare)
    remove = topology.add_parser(
        "delete", help="delete the exchanges and queues under GATEWAY_AMQP_PREFIX (sandboxes)")
    remove.add_argument("--yes", action="store_true", help="really delete (messages are lost)")
    remove.set_defaults(run=_topology_delete)
    outbox = sub.add_parser("outbox", help="the outbox").add_subparsers()
    outbox.add_parser("status", help="outbox rows by state").set_defaults(run=_outbox_status)
    _parked_commands(sub)
    parser.epilog = _synopsis(parser)
    return parser


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import structlog
    import uvicorn

    from adapters.bootstrap import heartbeat_path
    from adapters.observability import (
        configure_logging,
        fresh_metrics_dir,
        level_name,
        remove_metrics_dir,
        uvicorn_log_config,
    )
    from adapters.setup_keys import init_keys

    # Every line this process, the messaging process and uvicorn's workers write is one JSON
    # object: uvicorn hands its loggers to ours (log_config, applied again in each worker).
    configure_logging(settings.log_level, capture_stderr=True)
    if not (settings.keys_dir / "gateway.key").exists():
        if not args.sandbox:
            structlog.get_logger("gateway.serve").error(
                "serve.no_signing_key", keys_dir=str(settings.keys_dir),
                hint="run `gateway keys init` (demo/test) or install the deployment's keys")
            return 2
        init_keys(settings)
    os.environ.setdefault("GATEWAY_PUBLIC_URL", f"http://{args.host}:{args.port}")
    os.environ["GATEWAY_SANDBOX"] = "1" if args.sandbox else "0"
    # one instance = one id, in this process and every process it starts (Settings.instance_id)
    os.environ["GATEWAY_INSTANCE_ID"] = settings.instance_id
    structlog.get_logger("gateway.serve").info(
        "serve.starting", instance_id=settings.instance_id, workers=args.workers)
    messaging = None
    if args.workers > 1:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(fresh_metrics_dir(settings))
        heartbeat_path(settings).unlink(missing_ok=True)
        os.environ["GATEWAY_ROLE"] = "http"       # the workers run the intake only …
        messaging = _messaging_supervisor(args)   # … and one process runs the messaging
        messaging.start()
    try:
        uvicorn.run("adapters.http.app:app_factory", factory=True, host=args.host,
                    port=args.port, workers=args.workers, loop="uvloop",
                    http="adapters.http.server_limits:protocol_from_env",
                    log_level=level_name(settings.log_level), access_log=False,
                    log_config=uvicorn_log_config(settings.log_level))
    finally:
        if messaging is not None:
            messaging.stop()
            heartbeat_path(settings).unlink(missing_ok=True)
            remove_metrics_dir(settings)
    return 1 if messaging is not None and messaging.gave_up else 0


def _messaging_supervisor(args: argparse.Namespace) -> MessagingSupervisor:
    """The messaging process of ``serve --workers N``, restarted when it dies; if it keeps
    dying, SIGTERM to this process stops uvicorn's supervisor (and ``serve`` exits 1)."""
    from adapters.messaging_process import MessagingSupervisor

    return MessagingSupervisor(
        [sys.executable, "-m", "adapters.cli", "messaging", "--supervisor-pid",
         str(os.getpid()), *(["--sandbox"] if args.sandbox else [])],
        on_give_up=lambda: os.kill(os.getpid(), signal.SIGTERM))


def _messaging(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.messaging_process import run_messaging
    from adapters.observability import configure_logging

    configure_logging(settings.log_level, capture_stderr=True)
    asyncio.run(run_messaging(settings, sandbox=args.sandbox,
                              supervisor_pid=args.supervisor_pid))
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.demo import run_demo

    return run_demo(settings, port=args.port)


def _validate(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.bootstrap import document_checker

    checker = document_checker(settings)
    worst = 0
    for path in args.files:
        try:
            body = path.read_bytes()
        except OSError as exc:
            _print_check(args, path, None, f"unreadable: {exc.strerror}")
            worst = 2
            continue
        result = checker.check(body)
        _print_check(args, path, result, None)
        if not result.valid:
            worst = max(worst, 1)
    return worst


def _print_check(args: argparse.Namespace, path: Path, result, error: str | None) -> None:  # type: ignore[no-untyped-def]
    if args.json:
        out = {"file": str(path), "valid": False, "error": error} if result is None else {
            "file": str(path), "valid": result.valid, "message_type": result.message_type,
            "summary": result.summary, "problems": [p.as_dict() for p in result.problems]}
        print(json.dumps(out, ensure_ascii=False))
        return
    if result is None:
        print(f"{path}: {error}")
    elif result.valid:
        print(f"{path}: valid {result.message_type} ({result.summary})")
    else:
        print(f"{path}: INVALID {result.message_type or ''} — {result.summary}")
        for p in result.problems:
            where = f"{path}:{p.line or '?'}:{p.column or '?'}"
            value = f" [value: {p.value}]" if p.value else ""
            print(f"  {where}: {p.code} {p.pointer or ''}: {p.message}{value}")


def _keys_init(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.setup_keys import init_keys

    created = init_keys(settings, force=args.force)
    print("\n".join(f"created {c}" for c in created) or "keys and demo tokens already exist")
    return 0


def _keys_peer(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.setup_keys import install_peer_certificate
    from gateway.errors import ConfigurationError

    try:
        target = install_peer_certificate(settings, args.partner_id, args.certificate,
                                          slot=args.slot)
    except ConfigurationError as err:
        print(err.message, file=sys.stderr)
        return 2
    print(f"installed {target}; restart the gateway to use it")
    return 0


def _partners_list(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.partners import PartnerRegistry

    registry = PartnerRegistry.load(settings.config_file("partners.toml"),
                                    settings.credentials_path)
    tokens: dict[str, int] = {}
    for partner_id in registry.token_hashes.values():
        tokens[partner_id] = tokens.get(partner_id, 0) + 1
    print(f"{'id':<16} {'kind':<9} {'tokens':>6}  {'may send':<44} callback")
    for p in registry.partners.values():
        allowed = ", ".join(sorted(p.allowed_message_types)) or "-"
        print(f"{p.id:<16} {p.kind:<9} {tokens.get(p.id, 0):>6}  {allowed:<44} "
              f"{p.callback_url or '-'}")
    return 0


def _partners_check(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.errors import ConfigurationError
    from gateway.partners import CHECK_EVERY, PartnerRegistry

    config = settings.config_file("partners.toml")
    try:
        registry = PartnerRegistry.load(config, settings.credentials_path)
    except ConfigurationError as err:
        print(f"{config}: {err.message}", file=sys.stderr)
        print("running gateways refuse this version and keep their last good registry; "
              "a gateway started now would not start", file=sys.stderr)
        return 1
    partners = registry.partners
    print(f"ok: {len(partners)} partners, {len(registry.token_hashes)} active tokens")
    print(f"applied live (running gateways re-read within about {CHECK_EVERY:g} s, no "
          "restart): tokens, partners added or removed, kinds, permissions, callback URLs")
    certificates = [f"{p.id}: {', '.join(p.certificates)}" for p in partners.values()
                    if p.certificates]
    print("NOT applied live — restart the gateway after changing them: certificates "
          f"(read into the trust store at start){': ' if certificates else ''}"
          f"{'; '.join(certificates)}")
    return 0


def _partners_token(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.setup_keys import issue_token
    from gateway.partners import CHECK_EVERY, PartnerRegistry

    registry = PartnerRegistry.load(settings.config_file("partners.toml"), None)
    if args.partner_id not in registry.partners:
        print(f"unknown partner {args.partner_id!r}", file=sys.stderr)
        return 2
    token = issue_token(settings, args.partner_id, replace=args.replace)
    print(token)
    print("# shown once; only its SHA-256 is stored in", settings.credentials_path,
          file=sys.stderr)
    effect = "it works, and the partner's other tokens stop working," if args.replace \
        else "it works"
    print(f"# {effect} in running gateways within about {CHECK_EVERY:g} s (no restart)",
          file=sys.stderr)
    return 0


def _topology_declare(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.amqp.topology import Names, connect, declare
    from adapters.bootstrap import load_topology

    async def run() -> None:
        connection = await connect(settings.amqp_url, "gateway-cli")
        async with connection:
            await declare(await connection.channel(), load_topology(settings),
                          Names(settings.amqp_prefix))

    asyncio.run(run())
    print("topology declared")
    return 0


def _topology_delete(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.amqp.topology import delete_prefixed
    from adapters.bootstrap import load_topology

    if not args.yes:
        print(f"would delete the queues and exchanges under prefix {settings.amqp_prefix!r}; "
              "add --yes to do it", file=sys.stderr)
        return 2
    asyncio.run(delete_prefixed(settings.amqp_url, load_topology(settings),
                                settings.amqp_prefix))
    print(f"deleted the topology under prefix {settings.amqp_prefix!r}")
    return 0


def _outbox_status(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.bootstrap import open_journal

    journal = open_journal(settings)
    try:
        print(json.dumps(journal.outbox_counts()))
    finally:
        journal.close()
    return 0


# --- parked payments (flow F2) -----------------------------------------------------------------


def _parked_commands(sub: _Commands) -> None:
    parked = sub.add_parser("parked", help="bank payments that matched no duty assessment"
                            ).add_subparsers()
    listing = parked.add_parser("list", help="the parked payments waiting for a person")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.add_argument("--all", action="store_true", help="also those already replayed")
    listing.add_argument("--limit", type=int, default=100, help="at most this many")
    listing.set_defaults(run=_parked_list)
    show = parked.add_parser("show", help="one parked payment: why, and the bank's transaction")
    show.add_argument("parked_id", metavar="ID", help="a parked payment id (parked list)")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(run=_parked_show)
    replay = parked.add_parser(
        "replay", help="match a parked payment again (after its assessment arrived, or with a "
        "corrected reference), in one transaction; a resolved one is refused")
    replay.add_argument("parked_id", metavar="ID", help="a parked payment id (parked list)")
    replay.add_argument("--reference", default=None,
                        help="the ISO 11649 RF reference to match instead of the bank's")
    replay.add_argument("--operator", default=_operator(),
                        help="who replays it (recorded with the replay)")
    replay.set_defaults(run=_parked_replay)


def _operator() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"


def _parked_view(parked: Any) -> dict[str, Any]:
    from dataclasses import asdict

    view = {k: (format(v, "f") if k == "amount" and v is not None else v)
            for k, v in asdict(parked).items() if k != "confirmation"}
    view["transaction"] = json.loads(parked.confirmation)
    return view


def _parked_list(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.bootstrap import open_journal

    journal = open_journal(settings)
    try:
        rows = journal.flow("payments").parked_payments(
            state=None if args.all else "parked", limit=args.limit)
    finally:
        journal.close()
    if args.json:
        print(json.dumps([_parked_view(p) for p in rows], indent=1))
        return 0
    if not rows:
        print("no parked payments")
    for p in rows:
        amount = f"{p.currency} {p.amount}" if p.amount is not None else "-"
        print(f"{p.id}  {p.parked_at}  {p.state:<8}  {p.bank:<12}  {p.reason:<20}  "
              f"{amount:>16}  {p.reference or '-'}")
    return 0


def _parked_show(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.bootstrap import open_journal

    journal = open_journal(settings)
    try:
        parked = journal.flow("payments").parked_payment(args.parked_id)
    finally:
        journal.close()
    if parked is None:
        print(f"no parked payment {args.parked_id!r}", file=sys.stderr)
        return 1
    view = _parked_view(parked)
    if args.json:
        print(json.dumps(view, indent=1))
        return 0
    for key, value in view.items():
        if key != "transaction":
            print(f"{key:>16}: {value if value is not None else '-'}")
    print(f"{'transaction':>16}: {json.dumps(view['transaction'], indent=1)}")
    return 0


def _parked_replay(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.bootstrap import build_gateway
    from gateway.errors import GatewayError

    gateway = build_gateway(settings)
    payments = gateway.payments
    assert payments is not None
    try:
        result = asyncio.run(gateway.journal.transaction(lambda tx: payments.replay(
            tx, args.parked_id, operator=args.operator, reference=args.reference)))
    except GatewayError as err:
        print(f"{err.code}: {err.message}", file=sys.stderr)
        return 1
    finally:
        gateway.journal.close()
    (outcome,) = result.outcomes
    line = {"parked_id": args.parked_id, "outcome": outcome.outcome, "reason": outcome.reason,
            "new_parked_id": outcome.parked_id, "events": result.events,
            "paid_notices": result.paid_notices}
    if outcome.assessment is not None:
        line.update(reference=outcome.assessment.reference, status=outcome.assessment.status,
                    outstanding=format(outcome.assessment.outstanding, "f"))
    print(json.dumps(line))
    return 0 if outcome.applied else 3


if __name__ == "__main__":
    sys.exit(main())
