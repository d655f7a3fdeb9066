"""What operators ask of the service from the command line: export or retry builds,
see their export state. Commands are published to the commands topic; the running
consumer carries them out."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from consumer import codec
from consumer.errors import ConfigurationError
from consumer.recording import FAILED, STATUS_WORDS, WAITING
from consumer.schemas import EXPORT_COMMAND
from consumer.service import refuse
from consumer.store import ExportRow, Store
from consumer.table import render


@dataclass(frozen=True)
class Plan:
    """The commands to publish, and the answers for builds they cannot apply to."""

    commands: list[tuple[bytes, bytes]]
    answers: list[str]
    refused: int


def plan(
    store: Store,
    action: str,
    builds: list[str],
    tenant: str | None,
    select_all: bool,
    code: str | None,
    requested_by: str,
) -> Plan:
    wanted = WAITING if action == "EXPORT" else FAILED
    if select_all:
        if not tenant:
            raise ConfigurationError("selecting all builds needs --tenant")
        rows = [
            r
            for r in store.exports(tenant_id=tenant)
            if r.state == wanted and (code is None or r.error_code == code)
        ]
        build_ids = list(dict.fromkeys(r.build_id for r in rows))
    else:
        build_ids = []
    answers: list[str] = []
    refused = 0
    for name in builds:
        build_id, answer = _resolve(store, name, tenant)
        if build_id is None:
            answers.append(answer)
            refused += 1
        else:
            build_ids.append(build_id)

    commands = []
    for build_id in dict.fromkeys(build_ids):
        rows = store.exports([build_id])
        refusal = refuse(action, rows)
        if refusal is not None:
            answers.append(f"{rows[0].build_number if rows else build_id}: {refusal}")
            refused += 1
            continue
        commands.append(
            (
                build_id.encode(),
                _command(action, rows[0].tenant_id, build_id, requested_by),
            )
        )
    return Plan(commands, answers, refused)


def _resolve(store: Store, name: str, tenant: str | None) -> tuple[str | None, str]:
    """The build id a build id or build number names, or None and the reason."""
    if _is_uuid(name):
        build_id = str(uuid.UUID(name))
        rows = [
            r
            for r in store.exports([build_id])
            if tenant is None or r.tenant_id == tenant
        ]
        return (build_id, "") if rows else (None, f"{name}: unknown build")
    matches = {
        r.build_id for r in store.exports(tenant_id=tenant) if r.build_number == name
    }
    if not matches:
        return None, f"{name}: unknown build" + (f" for {tenant}" if tenant else "")
    if len(matches) > 1:
        return (
            None,
            f"{name}: several builds are numbered {name}; "
            "add --tenant or use the build id",
        )
    return next(iter(matches)), ""


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _command(action: str, tenant_id: str, build_id: str, requested_by: str) -> bytes:
    record = {
        "command_id": str(uuid.uuid4()),
        "occurred_at": datetime.now(UTC),
        "tenant_id": tenant_id,
        "build_id": build_id,
        "action": action,
        "requested_by": requested_by,
    }
    return codec.encode(EXPORT_COMMAND, record)


def status_rows(
    store: Store, builds: list[str], tenant: str | None, status: str | None
) -> list[dict[str, Any]]:
    rows: list[ExportRow] = store.exports(tenant_id=tenant)
    if builds:
        rows = [r for r in rows if r.build_id in builds or r.build_number in builds]
    if status:
        rows = [r for r in rows if r.state == status.upper()]
    return [
        {
            "build": r.build_number,
            "build_id": r.build_id,
            "tenant": r.tenant_id,
            "kind": r.kind,
            "status": r.state,
            "reference": r.reference if r.state != "NOT_EXPORTED" else None,
            "transaction": f"{r.transaction_type} {r.transaction_id}"
            if r.transaction_id
            else None,
            "attempts": r.attempt,
            "last_error": r.error_message if r.state == "FAILED" else None,
            "error_code": r.error_code if r.state == "FAILED" else None,
        }
        for r in rows
    ]


def render_status(rows: list[dict[str, Any]], as_json: bool) -> str:
    if as_json:
        return json.dumps(rows, indent=2)
    shown = [{**r, "status": STATUS_WORDS.get(r["status"], r["status"])} for r in rows]
    return render(
        [
            "build",
            "tenant",
            "kind",
            "status",
            "reference",
            "transaction",
            "attempts",
            "last_error",
        ],
        shown,
    )
