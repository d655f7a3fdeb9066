"""Companies' export settings and connections, as read from a JSON file.

{"tenants": [{"tenant_id": "acme", "realm_id": "9130...", "inventory_mode": "SYNCED",
              "export_mode": "AUTO", "cogs_account_id": "80",
              "timezone": "America/Chicago", "connection": {"refresh_token": "..."}}]}
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from consumer.errors import ConfigurationError
from consumer.model import ExportMode, InventoryMode, TenantSettings
from consumer.store import Store

_SETTING_NAMES = {f.name for f in fields(TenantSettings)}


@dataclass(frozen=True)
class TenantEntry:
    settings: TenantSettings
    refresh_token: str | None


def parse(document: Any, source: str = "tenants file") -> list[TenantEntry]:
    if not isinstance(document, dict) or not isinstance(document.get("tenants"), list):
        raise ConfigurationError(f'{source}: expected {{"tenants": [ ... ]}}')
    entries = [
        _entry(raw, f"{source}: tenants[{i}]")
        for i, raw in enumerate(document["tenants"])
    ]
    ids = [e.settings.tenant_id for e in entries]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigurationError(
            f"{source}: tenant ids appear twice: {', '.join(duplicates)}"
        )
    return entries


def read(path: Path) -> list[TenantEntry]:
    try:
        document = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path} is not valid JSON: {exc}") from exc
    except RecursionError:
        raise ConfigurationError(
            f"{path} nests too deeply to be a tenants file"
        ) from None
    return parse(document, str(path))


def load_into(store: Store, entries: list[TenantEntry]) -> None:
    for entry in entries:
        store.save_tenant(entry.settings)
        if entry.refresh_token:
            store.connect(
                entry.settings.tenant_id, entry.settings.realm_id, entry.refresh_token
            )


def _entry(raw: Any, where: str) -> TenantEntry:
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{where}: expected an object")
    unknown = sorted(set(raw) - _SETTING_NAMES - {"connection"})
    if unknown:
        raise ConfigurationError(f"{where}: unknown setting(s) {', '.join(unknown)}")
    for required in ("tenant_id", "realm_id", "inventory_mode"):
        if not isinstance(raw.get(required), str) or not raw[required].strip():
            raise ConfigurationError(f"{where}: {required} is required")

    settings = {k: v for k, v in raw.items() if k != "connection"}
    for name, value in settings.items():
        if value is not None and not isinstance(value, str):
            raise ConfigurationError(f"{where}: {name} must be a string")
    settings["inventory_mode"] = _choice(
        InventoryMode, settings["inventory_mode"], where, "inventory_mode"
    )
    settings["export_mode"] = _choice(
        ExportMode, settings.get("export_mode") or "AUTO", where, "export_mode"
    )
    settings["timezone"] = _timezone(settings.get("timezone") or "UTC", where)
    settings["home_currency"] = (settings.get("home_currency") or "USD").upper()
    if not re.fullmatch(r"[A-Z]{3}", settings["home_currency"]):
        raise ConfigurationError(
            f"{where}: home_currency must be an ISO 4217 code such as USD"
        )
    settings["tenant_id"] = settings["tenant_id"].strip()
    if len(settings["tenant_id"]) > 200:
        raise ConfigurationError(f"{where}: tenant_id is longer than 200 characters")
    if not re.fullmatch(r"[0-9A-Za-z]{1,64}", settings["realm_id"]):
        raise ConfigurationError(
            f"{where}: realm_id {settings['realm_id'][:80]!r} "
            "is not a QuickBooks company id (digits)"
        )
    return TenantEntry(
        TenantSettings(**settings), _refresh_token(raw.get("connection"), where)
    )


def _choice(
    kind: type[InventoryMode] | type[ExportMode], value: str, where: str, name: str
) -> Any:
    try:
        return kind(value.upper().replace("-", "_"))
    except ValueError:
        choices = ", ".join(m.value for m in kind)
        raise ConfigurationError(
            f"{where}: {name} {value!r} is not one of {choices}"
        ) from None


def _timezone(value: str, where: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(
            f"{where}: timezone {value!r} "
            "is not an IANA time zone such as Europe/Berlin"
        ) from None
    return value


def _refresh_token(connection: Any, where: str) -> str | None:
    if connection is None:
        return None
    token = connection.get("refresh_token") if isinstance(connection, dict) else None
    if not isinstance(token, str) or not token:
        raise ConfigurationError(
            f'{where}: connection needs {{"refresh_token": "..."}}'
        )
    return token


_CHANGEABLE = _SETTING_NAMES - {"tenant_id"}


def apply_changes(store: Store, tenant_id: str, pairs: list[str]) -> list[str]:
    """Apply ``KEY=VALUE`` changes to a stored company; ``KEY=`` clears a setting."""
    current = store.tenant(tenant_id)
    if current is None:
        raise ConfigurationError(
            f"unknown tenant {tenant_id!r}: "
            "load it first with `build-export tenants load`"
        )
    raw: dict[str, Any] = {
        k: (v.value if hasattr(v, "value") else v) for k, v in vars(current).items()
    }
    connection_status = None
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigurationError(f"{pair!r}: expected KEY=VALUE")
        if key == "connection_status":
            connection_status = _choice_of(
                value, ("CONNECTED", "EXPIRED", "REVOKED"), key
            )
        elif key in _CHANGEABLE:
            raw[key] = value or None
        else:
            raise ConfigurationError(
                f"{key!r} is not a setting; settings: {', '.join(sorted(_CHANGEABLE))}"
            )
    [entry] = parse({"tenants": [raw]}, "tenants set")
    store.save_tenant(entry.settings)
    if connection_status:
        if (
            connection_status == "CONNECTED"
            and store.connection_status(tenant_id) is None
        ):
            raise ConfigurationError(
                f"{tenant_id} has no connection: load one with its refresh token"
            )
        store.mark_connection(tenant_id, connection_status)
    return [p.partition("=")[0] for p in pairs]


def _choice_of(value: str, choices: tuple[str, ...], key: str) -> str:
    if value.upper() not in choices:
        raise ConfigurationError(f"{key} must be one of {', '.join(choices)}")
    return value.upper()
