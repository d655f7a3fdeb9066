"""The companies of a chaos run: half keep quantities in QuickBooks (synced inventory
mode: accounts and inventory items), half in Partsemble alone (journal entries).

Each company has its own realm and refresh token, and a catalogue of components and
finished goods its builds draw from. Everything is drawn from the run's ``Random``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

APP = {"client_id": "partsemble-chaos", "client_secret": "chaos-client-secret-value"}
REALM_BASE = 9130357000000000
TIMEZONES = (
    "America/Chicago",
    "Europe/Berlin",
    "UTC",
    "Asia/Tokyo",
    "America/Los_Angeles",
)
PARTS = (
    "Steel frame",
    "Hub motor",
    "Battery pack",
    "Fastener kit",
    "Oak slab",
    "Steel leg",
    "Hardwax oil",
    "Cable set",
    "Bearing",
    "Control board",
    "Wheel",
    "Seat",
)
GOODS = ("City e-scooter", "Dining table", "Cargo bike")

COGS, WASTE, INVENTORY_ASSET = "80", "81", "82"
BUILD_DEBIT, BUILD_CREDIT, PRODUCTION_WASTE = "90", "91", "92"
INVENTORY_START = "2024-01-01"


@dataclass(frozen=True)
class Product:
    product_id: str
    sku: str
    name: str
    item_id: str | None  # the QuickBooks item it is linked to (synced mode)
    unit_cost: Decimal


@dataclass(frozen=True)
class Company:
    tenant_id: str
    realm_id: str
    name: str
    synced: bool
    refresh_token: str
    timezone: str
    components: tuple[Product, ...]
    finished_goods: tuple[Product, ...]


def make_companies(count: int, rng: random.Random, tag: str) -> list[Company]:
    """``count`` companies; odd numbers synced, even ones Partsemble-only."""
    return [_company(number, rng, tag) for number in range(1, count + 1)]


def _company(number: int, rng: random.Random, tag: str) -> Company:
    synced = number % 2 == 1
    prefix = f"C{number:02d}"
    components = tuple(
        Product(
            f"{prefix}-p{i}",
            f"{prefix}-{i:03d}",
            name,
            str(10 + i) if synced else None,
            Decimal(rng.randint(10_000, 2_500_000)) / 10_000,
        )
        for i, name in enumerate(PARTS, 1)
    )
    goods = tuple(
        Product(
            f"{prefix}-g{i}",
            f"{prefix}-FG{i}",
            name,
            str(50 + i) if synced else None,
            Decimal(0),
        )
        for i, name in enumerate(GOODS, 1)
    )
    return Company(
        tenant_id=f"chaos-{tag}-{number:02d}",
        realm_id=str(REALM_BASE + number),
        name=f"Chaos Manufacturing {number:02d}",
        synced=synced,
        refresh_token=f"RT-chaos-{number:02d}-{rng.getrandbits(64):016x}",
        timezone=TIMEZONES[number % len(TIMEZONES)],
        components=components,
        finished_goods=goods,
    )


def emulator_seed(companies: list[Company]) -> dict[str, Any]:
    """The emulator's seed: the app, and each company's accounts and items."""
    return {"apps": [APP], "companies": [_seed_company(c) for c in companies]}


def _seed_company(company: Company) -> dict[str, Any]:
    if company.synced:
        accounts = [
            _account(COGS, "Cost of Goods Sold", "Cost of Goods Sold"),
            _account(WASTE, "Inventory Shrinkage", "Cost of Goods Sold"),
            _account(INVENTORY_ASSET, "Inventory Asset", "Other Current Asset"),
        ]
        items = [_item(p) for p in (*company.components, *company.finished_goods)]
    else:
        accounts = [
            _account(BUILD_DEBIT, "Finished Goods Inventory", "Other Current Asset"),
            _account(BUILD_CREDIT, "Raw Materials Inventory", "Other Current Asset"),
            _account(PRODUCTION_WASTE, "Production Waste", "Expense"),
        ]
        items = []
    return {
        "realm_id": company.realm_id,
        "name": company.name,
        "inventory_tracking": company.synced,
        "refresh_token": company.refresh_token,
        "accounts": accounts,
        "items": items,
    }


def tenants_document(companies: list[Company]) -> dict[str, Any]:
    """What ``build-export tenants load`` reads: settings and connections."""
    return {"tenants": [_tenant(c) for c in companies]}


def _tenant(company: Company) -> dict[str, Any]:
    tenant: dict[str, Any] = {
        "tenant_id": company.tenant_id,
        "realm_id": company.realm_id,
        "export_mode": "AUTO",
        "timezone": company.timezone,
        "connection": {"refresh_token": company.refresh_token},
    }
    if company.synced:
        tenant.update(
            inventory_mode="SYNCED", cogs_account_id=COGS, waste_account_id=WASTE
        )
    else:
        tenant.update(
            inventory_mode="PARTSEMBLE_ONLY",
            build_debit_account_id=BUILD_DEBIT,
            build_credit_account_id=BUILD_CREDIT,
            waste_account_id=PRODUCTION_WASTE,
        )
    return tenant


def _account(account_id: str, name: str, account_type: str) -> dict[str, Any]:
    return {"Id": account_id, "Name": name, "AccountType": account_type, "Active": True}


def _item(product: Product) -> dict[str, Any]:
    return {
        "Id": product.item_id,
        "Name": f"{product.name} {product.sku}",
        "Sku": product.sku,
        "Type": "Inventory",
        "Active": True,
        "QtyOnHand": "1000000",
        "InvStartDate": INVENTORY_START,
        "AssetAccountRef": {"value": INVENTORY_ASSET},
    }
