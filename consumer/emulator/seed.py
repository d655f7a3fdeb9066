"""Reading and checking a seed: the apps and companies the emulator starts with.

A seed is JSON::

    {"apps": [{"client_id": ..., "client_secret": ...}],
     "companies": [{"realm_id": ..., "name": ..., "inventory_tracking": true,
                    "refresh_token": ..., "accounts": [...], "items": [...]}]}

Accounts and items are QuickBooks objects; what the emulator relies on is checked here
so that a mistake in a seed file is reported by path instead of surfacing later as an
odd fault.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consumer.emulator.encoding import parse_date, parse_decimal
from consumer.emulator.errors import EmulatorError

_REALM = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class AppSeed:
    client_id: str
    client_secret: str


@dataclass(frozen=True)
class CompanySeed:
    realm_id: str
    name: str
    inventory_tracking: bool
    refresh_token: str
    accounts: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Seed:
    apps: list[AppSeed]
    companies: list[CompanySeed]


def read_seed_file(path: Path) -> Seed:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EmulatorError(f"cannot read seed file {path}: {exc.strerror}") from exc
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise EmulatorError(f"seed file {path} is not valid JSON: {exc}") from exc
    try:
        return parse_seed(raw)
    except EmulatorError as exc:
        raise EmulatorError(f"seed file {path}: {exc}") from exc


def parse_seed(raw: object) -> Seed:
    root = _object(raw, "seed")
    apps = [_app(item, f"apps[{i}]") for i, item in enumerate(_list(root, "apps"))]
    companies = [
        _company(item, f"companies[{i}]")
        for i, item in enumerate(_list(root, "companies"))
    ]

    realms = [company.realm_id for company in companies]
    duplicates = sorted({realm for realm in realms if realms.count(realm) > 1})
    if duplicates:
        raise EmulatorError(
            f"companies: realm_id {', '.join(duplicates)} appears twice"
        )
    return Seed(apps, companies)


def _app(raw: object, where: str) -> AppSeed:
    app = _object(raw, where)
    return AppSeed(_text(app, "client_id", where), _text(app, "client_secret", where))


def _company(raw: object, where: str) -> CompanySeed:
    company = _object(raw, where)
    realm_id = _text(company, "realm_id", where)
    if not _REALM.match(realm_id):
        raise EmulatorError(f"{where}.realm_id: {realm_id!r} is not a usable realm id")

    tracking = company.get("inventory_tracking", True)
    if not isinstance(tracking, bool):
        raise EmulatorError(f"{where}.inventory_tracking must be true or false")

    accounts = [
        _account(item, f"{where}.accounts[{i}]")
        for i, item in enumerate(_list(company, "accounts", where))
    ]
    account_ids = _unique_ids(accounts, f"{where}.accounts")
    items = [
        _item(item, f"{where}.items[{i}]", account_ids)
        for i, item in enumerate(_list(company, "items", where))
    ]
    _unique_ids(items, f"{where}.items")

    name = company.get("name", f"Company {realm_id}")
    if not isinstance(name, str):
        raise EmulatorError(f"{where}.name must be a string")
    refresh_token = _text(company, "refresh_token", where)
    return CompanySeed(realm_id, name, tracking, refresh_token, accounts, items)


def _account(raw: object, where: str) -> dict[str, Any]:
    account = dict(_object(raw, where))
    _text(account, "Name", where)
    _optional_id(account, where)
    _active(account, where)
    return account


def _item(raw: object, where: str, account_ids: set[str]) -> dict[str, Any]:
    item = dict(_object(raw, where))
    _text(item, "Name", where)
    _text(item, "Type", where)
    _optional_id(item, where)
    _active(item, where)

    quantity = parse_decimal(item.get("QtyOnHand", 0))
    if quantity is None:
        raise EmulatorError(f"{where}.QtyOnHand must be a number")
    item["QtyOnHand"] = quantity

    start = item.get("InvStartDate")
    if start is not None and parse_date(start) is None:
        raise EmulatorError(f"{where}.InvStartDate must be a date written YYYY-MM-DD")

    asset = item.get("AssetAccountRef")
    if asset is not None:
        value = asset.get("value") if isinstance(asset, dict) else None
        if str(value) not in account_ids:
            raise EmulatorError(
                f"{where}.AssetAccountRef names no account of this company"
            )
        item["AssetAccountRef"] = {**asset, "value": str(value)}
    return item


def _unique_ids(objects: list[dict[str, Any]], where: str) -> set[str]:
    ids = [obj["Id"] for obj in objects if "Id" in obj]
    seen: set[str] = set()
    for object_id in ids:
        if object_id in seen:
            raise EmulatorError(f"{where}: Id {object_id} appears twice")
        seen.add(object_id)
    return seen


def _optional_id(obj: dict[str, Any], where: str) -> None:
    if "Id" not in obj:
        return
    value = obj["Id"]
    if (
        isinstance(value, bool)
        or not isinstance(value, int | str)
        or not str(value).strip()
    ):
        raise EmulatorError(f"{where}.Id must be a string or an integer")
    obj["Id"] = str(value).strip()


def _active(obj: dict[str, Any], where: str) -> None:
    active = obj.setdefault("Active", True)
    if not isinstance(active, bool):
        raise EmulatorError(f"{where}.Active must be true or false")


def _object(raw: object, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise EmulatorError(f"{where} must be a JSON object")
    return raw


def _list(obj: dict[str, Any], key: str, where: str = "") -> list[Any]:
    value = obj.get(key, [])
    if not isinstance(value, list):
        raise EmulatorError(f"{where + '.' if where else ''}{key} must be a list")
    return value


def _text(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise EmulatorError(f"{where}.{key} must be a non-empty string")
    return value
