"""The ``build-export`` command line.

Exit codes: 0 success, 1 the work failed, 2 bad usage or configuration (the message
says what to change). Foreseeable mistakes never print a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from consumer import config as configuration
from consumer import logs
from consumer.errors import ConfigurationError, ExportServiceError

log = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        (getattr(args, "group_parser", None) or parser).print_help(sys.stderr)
        return 2
    logs.configure(args.log_level or ("WARNING" if args.handler is _demo else "INFO"))
    try:
        return int(args.handler(args) or 0)
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): nothing more to say to it.
        sys.stderr.close()
        return 0
    except ConfigurationError as exc:
        print(f"build-export: {exc}", file=sys.stderr)
        return 2
    except ExportServiceError as exc:
        print(f"build-export: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="build-export",
        description="Export executed Partsemble builds to QuickBooks Online.",
    )
    parser.add_argument(
        "--config", help="KEY=VALUE file of settings (environment wins)"
    )
    parser.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="default INFO; WARNING for the demo, whose table tells the story",
    )
    commands = parser.add_subparsers(metavar="COMMAND")

    run = commands.add_parser("run", help="consume build events and export them")
    run.add_argument(
        "--until-idle",
        type=_seconds,
        metavar="SECONDS",
        help="exit once nothing has arrived for this long",
    )
    run.set_defaults(handler=_run)

    produce = commands.add_parser("produce", help="publish JSON Lines records as Avro")
    produce.add_argument("file", type=Path)
    produce.add_argument("--topic", help="topic (default: the build events topic)")
    produce.add_argument(
        "--schema",
        choices=[
            "BuildStatusChanged",
            "ExportCommand",
            "ExportStatusChanged",
            "TenantSettingsChanged",
        ],
        help="record type of every line (default: guessed from the fields)",
    )
    produce.set_defaults(handler=_produce)

    demo = commands.add_parser(
        "demo", help="run the whole export locally and print the outcome"
    )
    demo.set_defaults(handler=_demo)

    broker = commands.add_parser("broker", help="the local single-node Kafka broker")
    broker.set_defaults(group_parser=broker)
    broker_commands = broker.add_subparsers(metavar="ACTION")
    for action in ("start", "stop", "status"):
        sub = broker_commands.add_parser(
            action,
            help={
                "start": "start (or reuse) the local broker",
                "stop": "stop the local broker",
                "status": "whether the local broker runs",
            }[action],
        )
        sub.set_defaults(handler=_broker, action=action)

    emulator = commands.add_parser(
        "emulator", help="serve the QuickBooks Online emulator"
    )
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=_port, default=8765)
    emulator.add_argument(
        "--seed", type=Path, help="JSON file of companies, accounts and items"
    )
    emulator.set_defaults(handler=_emulator)

    tenants = commands.add_parser(
        "tenants", help="companies' export settings and connections"
    )
    tenants.set_defaults(group_parser=tenants)
    tenant_commands = tenants.add_subparsers(metavar="ACTION")
    load = tenant_commands.add_parser("load", help="store the companies of a JSON file")
    load.add_argument("file", type=Path)
    load.set_defaults(handler=_tenants_load)
    new_key = tenant_commands.add_parser(
        "new-key", help="print a new key for BUILD_EXPORT_TOKEN_KEY"
    )
    new_key.set_defaults(handler=_new_key)
    listing = tenant_commands.add_parser(
        "list", help="list companies and connection health"
    )
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_tenants_list)
    show = tenant_commands.add_parser(
        "show", help="one company's settings and connection health"
    )
    show.add_argument("tenant")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_tenants_show)
    setting = tenant_commands.add_parser(
        "set",
        help="change settings: KEY=VALUE (e.g. export_mode=MANUAL cogs_account_id=80); "
        "connection_status=EXPIRED|REVOKED marks a connection",
    )
    setting.add_argument("tenant")
    setting.add_argument("pairs", nargs="+", metavar="KEY=VALUE")
    setting.set_defaults(handler=_tenants_set)

    for action, wanted in (("export", "waiting"), ("retry", "failed")):
        sub = commands.add_parser(
            action, help=f"ask the consumer to {action} {wanted} builds"
        )
        sub.add_argument(
            "builds", nargs="*", metavar="BUILD", help="build numbers or build ids"
        )
        sub.add_argument("--tenant", help="company of the builds (needed with --all)")
        sub.add_argument(
            "--all",
            action="store_true",
            dest="select_all",
            help=f"every {wanted} build of --tenant",
        )
        if action == "retry":
            sub.add_argument(
                "--code", help="with --all: only failures with this error code"
            )
        sub.add_argument("--requested-by", default="build-export cli")
        sub.set_defaults(handler=_export_or_retry, action=action.upper())

    dlt = commands.add_parser("dlt", help="dead letters")
    dlt.set_defaults(group_parser=dlt)
    dlt_commands = dlt.add_subparsers(metavar="ACTION")
    replay = dlt_commands.add_parser(
        "replay", help="re-drive dead letters once their cause is fixed"
    )
    replay.add_argument("--tenant", help="only this company's")
    replay.add_argument(
        "--code", help="only this error code (the dlt.error.code header)"
    )
    replay.add_argument("--stage", choices=["decode", "validate", "command", "export"])
    replay.add_argument(
        "--since", type=_moment, help="dead-lettered at or after (ISO 8601)"
    )
    replay.add_argument("--until", type=_moment, help="dead-lettered before (ISO 8601)")
    replay.add_argument(
        "--dry-run", action="store_true", help="say what would be done, do nothing"
    )
    replay.set_defaults(handler=_dlt_replay)

    status = commands.add_parser("status", help="export state of builds")
    status.add_argument("builds", nargs="*", metavar="BUILD")
    status.add_argument("--tenant")
    status.add_argument(
        "--status", choices=["WAITING", "EXPORTING", "SYNCED", "FAILED", "NOT_EXPORTED"]
    )
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_status)
    return parser


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time, e.g. 2026-12-01T00:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _config(args: argparse.Namespace) -> configuration.Config:
    return configuration.load(args.config)


def _run(args: argparse.Namespace) -> int:
    from consumer import runner

    summary = runner.run(_config(args), until_idle=args.until_idle)
    log.info(
        "consumer stopped after %d messages, %d published",
        summary.messages,
        summary.published,
    )
    return 0


def _produce(args: argparse.Namespace) -> int:
    from consumer import kafka_clients, runner
    from producers import jsonl

    config = _config(args)
    if args.topic is not None and not args.topic.strip():
        raise ConfigurationError(
            "--topic is empty: name a topic, or leave it out for the build events topic"
        )
    messages = jsonl.read_file(args.file, args.schema)
    producer = kafka_clients.producer(runner.bootstrap(config))
    try:
        sent = jsonl.publish(producer, args.topic or config.topics.builds, messages)
    finally:
        producer.close(timeout=10)
    print(f"published {sent} record(s) to {args.topic or config.topics.builds}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from consumer import demo

    return demo.run_demo(_config(args))


def _broker(args: argparse.Namespace) -> int:
    from consumer.broker import LocalBroker

    _config(args)  # a bad KAFKA_LOCAL_PORT or PARTSEMBLE_HOME is a configuration error
    broker = LocalBroker.from_env()
    if args.action == "start":
        print(f"Kafka broker answering at {broker.start()}")
    elif args.action == "stop":
        print("broker stopped" if broker.stop() else "no local broker was running")
    else:
        status = broker.status()
        for key, value in status.items():
            print(f"{key}: {value}")
        return 0 if status.get("running") else 1
    return 0


def _emulator(args: argparse.Namespace) -> int:
    from consumer.emulator import EmulatorError, serve

    try:
        serve(args.host, args.port, args.seed)
    except EmulatorError as exc:
        raise ConfigurationError(str(exc)) from exc
    except OSError as exc:
        raise ConfigurationError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror}; "
            "choose another --port"
        ) from exc
    return 0


def _tenants_load(args: argparse.Namespace) -> int:
    from consumer import tenants
    from consumer.runner import open_store

    entries = tenants.read(args.file)
    tenants.load_into(open_store(_config(args)), entries)
    if not entries:
        print(f"{args.file} names no companies; nothing stored")
        return 0
    print(
        f"stored {len(entries)} compan{'y' if len(entries) == 1 else 'ies'}: "
        + ", ".join(e.settings.tenant_id for e in entries)
    )
    return 0


def _new_key(args: argparse.Namespace) -> int:
    from cryptography.fernet import Fernet

    print(Fernet.generate_key().decode())
    return 0


def _tenants_list(args: argparse.Namespace) -> int:
    from consumer.runner import open_store

    store = open_store(_config(args))
    rows = [
        {
            "tenant": t.tenant_id,
            "realm": t.realm_id,
            "inventory_mode": t.inventory_mode.value,
            "export_mode": t.export_mode.value,
            "connection": store.connection_status(t.tenant_id) or "NONE",
        }
        for t in store.tenants()
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        from consumer.table import render

        print(
            render(
                ["tenant", "realm", "inventory_mode", "export_mode", "connection"], rows
            )
        )
    return 0


def _tenants_show(args: argparse.Namespace) -> int:
    from consumer.runner import open_store

    store = open_store(_config(args))
    settings = store.tenant(args.tenant)
    if settings is None:
        raise ConfigurationError(
            f"unknown tenant {args.tenant!r}; `build-export tenants list` shows them"
        )
    shown = {
        k: (v.value if hasattr(v, "value") else v) for k, v in vars(settings).items()
    }
    shown["connection"] = store.connection_status(args.tenant) or "NONE"
    if args.json:
        print(json.dumps(shown, indent=2))
    else:
        for key, value in shown.items():
            print(f"{key}: {'' if value is None else value}")
    return 0


def _tenants_set(args: argparse.Namespace) -> int:
    from consumer import tenants
    from consumer.runner import open_store

    store = open_store(_config(args))
    changed = tenants.apply_changes(store, args.tenant, args.pairs)
    print(f"{args.tenant}: {', '.join(changed)} updated")
    return 0


def _export_or_retry(args: argparse.Namespace) -> int:
    from consumer import kafka_clients, operator
    from consumer.runner import bootstrap, open_store

    if getattr(args, "code", None) and not args.select_all:
        raise ConfigurationError(
            "--code selects among all failed builds: add --all and --tenant"
        )
    if not args.builds and not args.select_all:
        raise ConfigurationError(
            f"name builds to {args.action.lower()}, or use --all with --tenant"
        )
    config = _config(args)
    plan = operator.plan(
        open_store(config),
        args.action,
        args.builds,
        args.tenant,
        args.select_all,
        getattr(args, "code", None),
        args.requested_by,
    )
    for answer in plan.answers:
        print(answer)
    if plan.commands:
        producer = kafka_clients.producer(bootstrap(config))
        try:
            futures = [
                producer.send(config.topics.commands, key=k, value=v)
                for k, v in plan.commands
            ]
            producer.flush()
            for future in futures:
                future.get(timeout=30)
        finally:
            producer.close(timeout=10)
    print(
        f"{len(plan.commands)} {args.action} command(s) published to "
        f"{config.topics.commands}"
        + (f"; {plan.refused} refused" if plan.refused else "")
    )
    return 1 if plan.refused else 0


def _dlt_replay(args: argparse.Namespace) -> int:
    from consumer import kafka_clients, replay
    from consumer.runner import bootstrap, open_store

    config = _config(args)
    servers = bootstrap(config)
    kafka_clients.require_broker(servers)
    filters = replay.Filters(args.tenant, args.code, args.stage, args.since, args.until)
    letters = [
        m
        for m in replay.read_dead_letters(servers, config.topics.dlt)
        if filters.match(m)
    ]
    producer = None if args.dry_run else kafka_clients.producer(servers)
    try:
        summary = replay.Replayer(
            open_store(config), producer, config.topics.commands
        ).replay(letters, args.dry_run, show_progress=sys.stderr.isatty())
    finally:
        if producer is not None:
            producer.close(timeout=10)
    print("\n".join(summary.lines(args.dry_run)))
    return 0


def _status(args: argparse.Namespace) -> int:
    from consumer import operator
    from consumer.runner import open_store

    rows = operator.status_rows(
        open_store(_config(args)), args.builds, args.tenant, args.status
    )
    known = {r["build"] for r in rows} | {r["build_id"] for r in rows}
    unknown = [b for b in args.builds if b not in known]
    for name in unknown:
        print(f"{name}: unknown build", file=sys.stderr)
    print(operator.render_status(rows, args.json))
    return 1 if unknown else 0


if __name__ == "__main__":
    sys.exit(main())
