"""The independent checker: what a run expected against what the books, the status
topic and the database say.

    python -m chaos.checker --ledger-url http://127.0.0.1:PORT/_emulator/ledger \\
        --bootstrap 127.0.0.1:19392 --status-topic T --database-url URL \\
        --expected FILE [--dlt-topic T]

A ledger transaction belongs to (build, kind) when its PrivateNote names the build id
and its DocNumber is a reference of that kind (``PSB-XXXXXXXX`` for the build,
``PSB-XXXXXXXX-W`` for its waste, either with a ``-N`` suffix). It exits 0 only if
every expected export is settled and there are no missing or duplicate transactions,
no database/ledger mismatches, no missing status events and no unbalanced journal
entries. The figures are printed last.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chaos import expected as exp
from chaos.commands import require_loopback
from chaos.expected import Expectation, ExpectedExport
from chaos.figures import Figures
from chaos.reading import (
    AvroFrames,
    Database,
    ExportState,
    TopicRecord,
    read_ledger,
    read_topic,
)

SETTLED = (exp.SYNCED, exp.FAILED, exp.NOT_EXPORTED)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_REFERENCE = re.compile(r"^PSB-[0-9A-F]{8}(?P<waste>-W)?(?:-\d+)?$")

Key = tuple[str, str]  # (build id, kind)


@dataclass(frozen=True)
class Sources:
    ledger_url: str
    bootstrap: str
    status_topic: str
    database_url: str
    dlt_topic: str | None = None


@dataclass(frozen=True)
class StatusSeen:
    status: str
    transaction_id: str | None


def check(sources: Sources, expectation: Expectation) -> Figures:
    """Read every source, then compare."""
    database = Database(sources.database_url)
    try:
        tenants = sorted({b.tenant_id for b in expectation.builds})
        states = database.export_states(tenants)
        topics = [t for t in (sources.status_topic, sources.dlt_topic) if t]
        unpublished = database.unpublished_outbox(topics)
    finally:
        database.close()
    ledger = read_ledger(sources.ledger_url)
    statuses = read_topic(sources.bootstrap, sources.status_topic)
    dead_letters = None
    if sources.dlt_topic:
        dead_letters = read_topic(sources.bootstrap, sources.dlt_topic)

    figures = compare(expectation, states, ledger, statuses, dead_letters)
    figures.notes.outbox_unpublished = unpublished
    return figures


def compare(
    expectation: Expectation,
    export_states: list[ExportState],
    ledger: dict[str, Any],
    statuses: list[TopicRecord],
    dead_letters: list[TopicRecord] | None = None,
) -> Figures:
    """The figures, from what was read: no I/O here."""
    states = {(s.build_id, s.kind): s for s in export_states}
    figures = Figures(builds_published=expectation.builds_published)
    figures.notes.malformed_published = expectation.malformed_published
    _compare_database(figures, expectation, states)
    _compare_ledger(figures, expectation, states, ledger)
    _compare_statuses(figures, expectation, states, _status_index(figures, statuses))
    if dead_letters is not None:
        _count_dead_letters(figures, dead_letters)
    _run_facts(figures, expectation)
    return figures


def settled_count(database: Database, expectation: Expectation) -> tuple[int, int]:
    """(settled, expected) exports, for a run waiting on the consumers."""
    wanted = expectation.exports()
    tenants = sorted({b.tenant_id for b in expectation.builds})
    settled = sum(
        1
        for s in database.export_states(tenants)
        if (s.build_id, s.kind) in wanted and s.state in SETTLED
    )
    return settled, len(wanted)


# -- the database ----------------------------------------------------------------------


def _compare_database(
    figures: Figures, expectation: Expectation, states: dict[Key, ExportState]
) -> None:
    wanted = expectation.exports()
    builds = {b.build_id for b in expectation.builds}
    figures.exports_expected = len(wanted)
    figures.notes.unexpected_exports = sum(
        1 for k in states if k[0] in builds and k not in wanted
    )

    for key, export in wanted.items():
        state = states.get(key)
        if state is None or state.state not in SETTLED:
            continue
        figures.settled += 1
        if state.state == exp.SYNCED:
            figures.synced += 1
        elif state.state == exp.FAILED:
            figures.failed += 1
            figures.notes.failure_codes[state.error_code or "?"] += 1
            if export.outcome == exp.FAILED and state.error_code == export.error_code:
                figures.expected_failed += 1
        else:
            figures.not_exported += 1
        if state.state != export.outcome or (
            export.error_code and state.error_code != export.error_code
        ):
            figures.notes.unexpected_outcomes.append(
                f"{key[0]} {key[1]}: expected {export.outcome}, got {state.state} "
                f"{state.error_code or ''} {(state.error_message or '')[:160]}".rstrip()
            )


# -- the ledger ------------------------------------------------------------------------


def _compare_ledger(
    figures: Figures,
    expectation: Expectation,
    states: dict[Key, ExportState],
    ledger: dict[str, Any],
) -> None:
    wanted = expectation.exports()
    booked, strays = _ledger_index(ledger, expectation, figures)
    unasked = sum(len(txns) for key, txns in booked.items() if key not in wanted)
    figures.notes.stray_transactions = strays + unasked

    for key, export in wanted.items():
        found = booked.get(key, [])
        if export.outcome == exp.SYNCED and not found:
            figures.missing_transactions += 1
        if len(found) > 1:
            figures.duplicate_transactions += 1
            figures.notes.examples.append(
                f"{key[0]} {key[1]} is in the books {len(found)} times: "
                + ", ".join(f"{t['type']} {t['id']}" for t in found)
            )
        if _disagrees(states.get(key), found):
            figures.mismatches += 1
            state = states.get(key)
            figures.notes.examples.append(
                f"{key[0]} {key[1]}: database says "
                f"{state.state if state else 'nothing'} "
                f"{state.transaction_id if state else ''}, ledger has "
                + (", ".join(f"{t['type']} {t['id']}" for t in found) or "nothing")
            )
        for txn in found:
            wrong = _wrong_content(txn, export)
            if wrong:
                figures.notes.wrong_amounts.append(
                    f"{key[0]} {key[1]} {txn['type']} {txn['id']}: {wrong}"
                )


def _ledger_index(
    ledger: dict[str, Any], expectation: Expectation, figures: Figures
) -> tuple[dict[Key, list[dict[str, Any]]], int]:
    """Transactions by (build, kind), and how many name no expected build."""
    builds = {b.build_id for b in expectation.builds}
    realms = set(expectation.realms) or set(ledger.get("companies", {}))
    booked: dict[Key, list[dict[str, Any]]] = defaultdict(list)
    strays = 0
    for realm, company in ledger.get("companies", {}).items():
        if realm not in realms:
            continue
        figures.throttled_429 += int(company.get("stats", {}).get("throttled", 0))
        for txn in company.get("transactions", []):
            body = txn.get("body", {})
            if txn.get("type") == "JournalEntry" and not _balanced(body):
                figures.unbalanced_journal_entries += 1
            key = _key_of(body, builds)
            if key is None:
                strays += 1
            else:
                booked[key].append(txn)
    return booked, strays


def _key_of(body: dict[str, Any], builds: set[str]) -> Key | None:
    reference = _REFERENCE.match(str(body.get("DocNumber", "")))
    named = [b for b in _UUID.findall(str(body.get("PrivateNote", ""))) if b in builds]
    if reference is None or len(named) != 1:
        return None
    return named[0], "WASTE" if reference.group("waste") else "BUILD"


def _disagrees(state: ExportState | None, found: list[dict[str, Any]]) -> bool:
    if state is None:
        return bool(found)
    if state.state != exp.SYNCED:
        return bool(found)
    return not any(
        t["id"] == state.transaction_id and t["type"] == state.transaction_type
        for t in found
    )


def _balanced(body: dict[str, Any]) -> bool:
    sides = {"Debit": Decimal(0), "Credit": Decimal(0)}
    for line in body.get("Line", []):
        detail = line.get("JournalEntryLineDetail")
        if isinstance(detail, dict) and detail.get("PostingType") in sides:
            sides[detail["PostingType"]] += Decimal(str(line.get("Amount", "0")))
    return sides["Debit"] == sides["Credit"]


def _wrong_content(txn: dict[str, Any], export: ExpectedExport) -> str | None:
    if export.transaction_type and txn["type"] != export.transaction_type:
        return f"expected a {export.transaction_type}"
    body = txn.get("body", {})
    if export.amount is not None:
        debits = sum(
            (
                Decimal(str(line.get("Amount", "0")))
                for line in body.get("Line", [])
                if (line.get("JournalEntryLineDetail") or {}).get("PostingType")
                == "Debit"
            ),
            Decimal(0),
        )
        if debits != Decimal(export.amount):
            return f"debits {debits}, expected {export.amount}"
    if export.quantities is not None:
        moved: dict[str, Decimal] = defaultdict(Decimal)
        for line in body.get("Line", []):
            detail = line.get("ItemAdjustmentLineDetail") or {}
            moved[str((detail.get("ItemRef") or {}).get("value"))] += Decimal(
                str(detail.get("QtyDiff", "0"))
            )
        if moved != {item: Decimal(q) for item, q in export.quantities.items()}:
            return f"moves {dict(moved)}, expected {export.quantities}"
    return None


# -- the status topic ------------------------------------------------------------------


def _status_index(
    figures: Figures, records: list[TopicRecord]
) -> dict[Key, list[StatusSeen]]:
    frames = AvroFrames()
    seen: dict[Key, list[StatusSeen]] = defaultdict(list)
    event_ids: Counter[str] = Counter()
    for record in records:
        event = frames.decode(record.value)
        if event is None:
            figures.notes.examples.append(
                f"status topic: a message that is not a known Avro record "
                f"({record.value[:12].hex()}...)"
            )
            continue
        event_ids[str(event["event_id"])] += 1
        transaction = event.get("transaction") or {}
        seen[(str(event["build_id"]), event["kind"])].append(
            StatusSeen(event["status"], transaction.get("id"))
        )
    figures.notes.status_events = sum(event_ids.values())
    figures.notes.repeated_status_events = sum(1 for n in event_ids.values() if n > 1)
    return seen


def _compare_statuses(
    figures: Figures,
    expectation: Expectation,
    states: dict[Key, ExportState],
    seen: dict[Key, list[StatusSeen]],
) -> None:
    for key in expectation.exports():
        state = states.get(key)
        if state is None or state.state not in (exp.SYNCED, exp.FAILED):
            continue  # NOT_EXPORTED announces nothing
        announced = [s for s in seen.get(key, []) if s.status == state.state]
        if state.state == exp.SYNCED:
            announced = [
                s for s in announced if s.transaction_id == state.transaction_id
            ]
        if not announced:
            figures.missing_status_events += 1
            figures.notes.examples.append(
                f"{key[0]} {key[1]}: {state.state} in the database, "
                "no such status event"
            )


def _count_dead_letters(figures: Figures, records: list[TopicRecord]) -> None:
    inputs = {
        (r.headers.get("dlt.original.partition"), r.headers.get("dlt.original.offset"))
        for r in records
        if r.headers.get("dlt.stage") in ("decode", "validate")
    }
    exports = {
        r.headers.get("dlt.build")
        for r in records
        if r.headers.get("dlt.stage") == "export"
    }
    figures.notes.input_dead_letters = len(inputs)
    figures.notes.export_dead_letters = len(exports)


def _run_facts(figures: Figures, expectation: Expectation) -> None:
    figures.consumer_kills = expectation.run.consumer_kills
    figures.broker_restarts = expectation.run.broker_restarts
    figures.wall_seconds = expectation.run.wall_seconds
    figures.notes.consumer_exits = expectation.run.consumer_exits


# -- command line ----------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chaos.checker", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--ledger-url", required=True, help="the emulator's /_emulator/ledger URL"
    )
    parser.add_argument(
        "--bootstrap", required=True, help="the Kafka broker, host:port"
    )
    parser.add_argument("--status-topic", required=True)
    parser.add_argument("--dlt-topic", help="also count the dead letters")
    parser.add_argument(
        "--database-url", required=True, help="the service's SQLAlchemy URL"
    )
    parser.add_argument(
        "--expected", required=True, type=Path, help="the run's expected.json"
    )
    args = parser.parse_args(argv)

    try:
        require_loopback(urlsplit(args.ledger_url).hostname or "", "--ledger-url")
        for server in args.bootstrap.split(","):
            require_loopback(server.rpartition(":")[0].strip("[]"), "--bootstrap")
    except ValueError as exc:
        parser.error(str(exc))
    sources = Sources(
        args.ledger_url,
        args.bootstrap,
        args.status_topic,
        args.database_url,
        args.dlt_topic,
    )
    figures = check(sources, exp.load(args.expected))
    print("\n".join(figures.lines()))
    return 0 if figures.passed else 1


if __name__ == "__main__":
    sys.exit(main())
