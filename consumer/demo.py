"""``build-export demo``: the whole export on real parts, on this machine.

It starts (or reuses) the local Kafka broker, starts the QuickBooks emulator, stores two
demo companies, publishes their builds, runs the consumer until every build is settled,
and prints what happened to each. Each run uses its own topics, consumer group and
database, so runs never see each other's builds.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from consumer import kafka_clients, runner, tenants
from consumer.config import Config, Topics
from consumer.emulator import Emulator
from consumer.quickbooks_client import QuickBooksApp
from consumer.recording import SETTLED, STATUS_WORDS
from consumer.store import ExportRow, Store
from consumer.table import render
from consumer.topics import ensure_topics
from producers import demo_builds, jsonl

SETTLE_TIMEOUT_SECONDS = 180


def run_demo(config: Config) -> int:
    servers = _broker(config)
    seed = demo_builds.seed()
    emulator = Emulator(seed)
    emulator.start()
    try:
        return _run(config, servers, seed, emulator)
    finally:
        emulator.stop()


def _run(config: Config, servers: str, seed: dict[str, Any], emulator: Emulator) -> int:
    run_id = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    demo_config = dataclasses.replace(
        config,
        bootstrap_servers=servers,
        group_id=f"build-export-demo-{run_id}",
        topics=Topics.with_prefix(f"demo-{run_id}."),
        database_url=f"sqlite:///{config.home / f'demo-{run_id}.db'}",
        quickbooks=QuickBooksApp(
            client_id=demo_builds.APP["client_id"],
            client_secret=demo_builds.APP["client_secret"],
            environment=emulator.discovery_url,
            api_url=emulator.api_url,
        ),
    )
    print(
        f"QuickBooks emulator at {emulator.url}; Kafka at {servers}; "
        f"database {demo_config.database_url}"
    )

    store = runner.open_store(demo_config)
    tenants.load_into(store, tenants.parse(demo_builds.tenants(seed), "demo companies"))
    ensure_topics(servers, list(vars(demo_config.topics).values()))
    builds = demo_builds.builds()
    _publish(demo_config, servers, builds)

    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    build_ids = [b.events[0]["build_id"] for b in builds]
    runner.run(
        demo_config,
        should_stop=lambda: _settled(store, build_ids) or time.monotonic() > deadline,
    )

    print()
    print(_table(store, builds))
    print()
    print(_ledger_summary(emulator.ledger()))
    if not _settled(store, build_ids):
        print(f"\nNot every build settled within {SETTLE_TIMEOUT_SECONDS} s.")
        return 1
    return 0


def _broker(config: Config) -> str:
    if config.bootstrap_servers:
        return config.bootstrap_servers
    from consumer.broker import LocalBroker

    print(
        "Starting (or reusing) the local Kafka broker; "
        "the first start downloads its jars..."
    )
    return LocalBroker.from_env().start()


def _publish(config: Config, servers: str, builds: list[demo_builds.DemoBuild]) -> None:
    messages = [jsonl.encode_json(event) for build in builds for event in build.events]
    producer = kafka_clients.producer(servers)
    try:
        jsonl.publish(producer, config.topics.builds, messages)
    finally:
        producer.close(timeout=10)
    print(
        f"Published {len(messages)} build events for {len(builds)} builds "
        f"to {config.topics.builds}"
    )


def _settled(store: Store, build_ids: list[str]) -> bool:
    rows = store.exports(build_ids)
    exported = {r.build_id for r in rows}
    return exported >= set(build_ids) and all(r.state in SETTLED for r in rows)


def _table(store: Store, builds: list[demo_builds.DemoBuild]) -> str:
    by_build: dict[str, list[ExportRow]] = {}
    for export in store.exports([b.events[0]["build_id"] for b in builds]):
        by_build.setdefault(export.build_id, []).append(export)
    lines = []
    for build in builds:
        found = by_build.get(build.events[0]["build_id"])
        rows: Sequence[ExportRow | None] = found or [None]  # None: not seen yet
        for row in rows:
            lines.append(
                {
                    "build": build.build_number,
                    "company": build.tenant_id,
                    "what happened": build.story,
                    "kind": row.kind if row else "",
                    "status": STATUS_WORDS.get(row.state, row.state)
                    if row
                    else "not seen",
                    "reference": row.reference
                    if row and row.state != "NOT_EXPORTED"
                    else "",
                    "transaction or reason": _outcome(row),
                }
            )
    return render(
        [
            "build",
            "company",
            "what happened",
            "kind",
            "status",
            "reference",
            "transaction or reason",
        ],
        lines,
    )


def _outcome(row: ExportRow | None) -> str:
    if row is None:
        return ""
    if row.transaction_id:
        return f"{row.transaction_type} {row.transaction_id}"
    return row.error_message or ""


def _ledger_summary(ledger: dict[str, Any]) -> str:
    lines = ["QuickBooks emulator ledger:"]
    for realm, company in ledger.get("companies", {}).items():
        kinds: dict[str, int] = {}
        unbalanced = 0
        for txn in company.get("transactions", []):
            kinds[txn["type"]] = kinds.get(txn["type"], 0) + 1
            if txn["type"] == "JournalEntry" and not _balanced(txn["body"]):
                unbalanced += 1
        counted = (
            ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
            or "no transactions"
        )
        balance = (
            ""
            if "JournalEntry" not in kinds
            else (
                " (all balanced)" if not unbalanced else f" ({unbalanced} unbalanced)"
            )
        )
        lines.append(f"  realm {realm}: {counted}{balance}")
    return "\n".join(lines)


def _balanced(entry: dict[str, Any]) -> bool:
    sides = {"Debit": Decimal(0), "Credit": Decimal(0)}
    for line in entry.get("Line", []):
        detail = line.get("JournalEntryLineDetail") or {}
        sides[detail.get("PostingType", "Debit")] += Decimal(
            str(line.get("Amount", "0"))
        )
    return sides["Debit"] == sides["Credit"]
