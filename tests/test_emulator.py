"""The QuickBooks emulator, driven over real HTTP by the real python-quickbooks."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from intuitlib.exceptions import AuthClientError
from quickbooks.exceptions import AuthorizationException, QuickbooksException
from quickbooks.objects.account import Account
from quickbooks.objects.item import Item
from quickbooks.objects.journalentry import JournalEntry

from consumer.emulator import Emulator, EmulatorError
from tests.emulator_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    accounts,
    adjustment,
    auth_client,
    bearer,
    connect,
    item_line,
    journal_entry,
    on_hand,
    post_adjustment,
    raw_get,
    raw_post,
    seed,
    transactions,
)

pytestmark = pytest.mark.usefixtures("plain_http_allowed")

ACME_REALM, SIMPLE_REALM = "9130350000000001", "9130350000000002"
ACME: dict[str, Any] = {
    "realm_id": ACME_REALM,
    "name": "Acme Widgets",
    "inventory_tracking": True,
    "refresh_token": "RT-acme-initial",
    "accounts": [
        *accounts("80", "81", "82", "83"),
        {
            "Id": "90",
            "Name": "Old Adjustments",
            "AccountType": "Expense",
            "Active": False,
        },
    ],
    "items": [
        {
            "Id": "11",
            "Name": "Widget",
            "Sku": "WID-1",
            "Type": "Inventory",
            "QtyOnHand": "100",
            "InvStartDate": "2024-01-01",
            "AssetAccountRef": {"value": "81"},
        },
        {"Id": "12", "Name": "Assembly Labor", "Sku": "LAB-1", "Type": "Service"},
        {
            "Id": "13",
            "Name": "Retired Gizmo",
            "Sku": "GIZ-0",
            "Type": "Inventory",
            "QtyOnHand": 4,
            "Active": False,
        },
        {
            "Id": "14",
            "Name": "Gadget",
            "Sku": "GAD-1",
            "Type": "Inventory",
            "QtyOnHand": 5.5,
        },
    ],
}
SIMPLE: dict[str, Any] = {
    "realm_id": SIMPLE_REALM,
    "name": "Simple Start Shop",
    "inventory_tracking": False,
    "refresh_token": "RT-simple-initial",
    "accounts": [
        {"Id": "80", "Name": "Shrinkage", "AccountType": "Cost of Goods Sold"}
    ],
    "items": [{"Id": "21", "Name": "Widget", "Type": "Inventory", "QtyOnHand": 1}],
}
SEED = seed(ACME, SIMPLE)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(SEED) as emulator:
        yield emulator


def quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# --- OAuth --------------------------------------------------------------------------


def test_discovery_document_names_this_server(emulator: Emulator) -> None:
    auth = auth_client(emulator)

    assert auth.token_endpoint == emulator.url + "/oauth2/v1/tokens/bearer"
    assert auth.revoke_endpoint.startswith(emulator.url)
    assert auth.issuer_uri == emulator.url


def test_refresh_rotates_the_refresh_token_and_refuses_the_old_one(
    emulator: Emulator,
) -> None:
    emulator.load_seed({"companies": [ACME]})
    auth = auth_client(emulator)

    auth.refresh(refresh_token="RT-acme-initial")
    first = auth.refresh_token
    auth.refresh(refresh_token=first)

    assert first != "RT-acme-initial"
    assert auth.refresh_token not in (first, "RT-acme-initial")
    assert auth.expires_in == 3600
    assert auth.x_refresh_token_expires_in == 8726400
    for used in ("RT-acme-initial", first):
        with pytest.raises(AuthClientError) as refused:
            auth.refresh(refresh_token=used)
        assert refused.value.status_code == 400
        assert json.loads(refused.value.content) == {"error": "invalid_grant"}


def test_two_refreshes_racing_with_one_token_leave_exactly_one_winner(
    emulator: Emulator,
) -> None:
    emulator.load_seed({"companies": [ACME]})
    outcomes: list[int] = []

    def refresh() -> None:
        reply = requests.post(
            emulator.url + "/oauth2/v1/tokens/bearer",
            data={"grant_type": "refresh_token", "refresh_token": "RT-acme-initial"},
            auth=(CLIENT_ID, CLIENT_SECRET),
            timeout=5,
        )
        outcomes.append(reply.status_code)

    threads = [threading.Thread(target=refresh) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == [200] + [400] * 7


def test_wrong_client_secret_is_an_invalid_client(emulator: Emulator) -> None:
    with pytest.raises(AuthClientError) as refused:
        auth_client(emulator, secret="wrong").refresh(refresh_token="RT-acme-initial")

    assert refused.value.status_code == 401
    assert json.loads(refused.value.content) == {"error": "invalid_client"}


def test_expired_access_token_is_refused_with_an_authentication_fault() -> None:
    with Emulator(SEED, access_token_ttl=0.3) as short_lived:
        qb = connect(short_lived, ACME)
        assert Account.get("80", qb=qb).Name == "Cost of Goods Sold"

        time.sleep(0.4)
        with pytest.raises(AuthorizationException) as refused:
            Account.get("80", qb=qb)

    assert refused.value.error_code == 401
    fault = json.loads(refused.value.detail)["fault"]
    assert fault["type"] == "AUTHENTICATION"
    assert fault["error"][0]["code"] == "3200"
    assert fault["error"][0]["detail"].startswith("Token expired")


def test_token_of_another_company_is_refused(emulator: Emulator) -> None:
    qb = connect(emulator, ACME)
    other = f"{emulator.api_url}/company/{SIMPLE_REALM}/account/80"
    unknown = f"{emulator.api_url}/company/4620816365000000000/account/80"

    wrong_realm = requests.get(other, headers=bearer(qb), timeout=5)
    no_such_realm = requests.get(unknown, headers=bearer(qb), timeout=5)
    no_token = requests.get(other, timeout=5)

    assert wrong_realm.status_code == 401
    assert wrong_realm.json()["fault"]["error"][0]["code"] == "3200"
    assert no_token.status_code == 401
    assert no_such_realm.status_code == 403
    assert no_such_realm.json()["Fault"]["Error"][0]["code"] == "3100"


# --- Reading ------------------------------------------------------------------------


def test_accounts_and_items_are_read_and_unknown_ids_are_not_found(
    emulator: Emulator,
) -> None:
    qb = connect(emulator, ACME)

    account = Account.get("81", qb=qb)
    item = Item.get("11", qb=qb)
    with pytest.raises(QuickbooksException) as missing:
        Account.get("999", qb=qb)

    assert (account.Name, account.AccountType) == (
        "Inventory Asset",
        "Other Current Asset",
    )
    assert (item.Name, item.Sku, item.QtyOnHand, item.TrackQtyOnHand) == (
        "Widget",
        "WID-1",
        100,
        True,
    )
    assert missing.value.error_code == 610


# --- Journal entries ------------------------------------------------------------------


def test_balanced_journal_entry_is_stored_with_an_id_and_total(
    emulator: Emulator,
) -> None:
    qb = connect(emulator, ACME)
    entry = journal_entry(
        "PSB-00000001",
        ("Debit", "83", "125.40"),
        ("Credit", "81", "100.00"),
        ("Credit", "80", "25.40"),
    )

    saved = entry.save(qb=qb, request_id="je-balanced")

    assert saved.Id and saved.SyncToken == "0" and saved.TotalAmt == 125.4
    assert saved.MetaData["CreateTime"]
    assert saved.Line[0].JournalEntryLineDetail.AccountRef.name == "Work in Process"
    [recorded] = transactions(emulator, ACME_REALM)
    assert (recorded["type"], recorded["id"], recorded["request_id"]) == (
        "JournalEntry",
        saved.Id,
        "je-balanced",
    )
    assert JournalEntry.get(saved.Id, qb=qb).DocNumber == "PSB-00000001"


def test_unbalanced_journal_entry_is_refused_with_6000(emulator: Emulator) -> None:
    qb = connect(emulator, ACME)
    entry = journal_entry("PSB-2", ("Debit", "83", "100.00"), ("Credit", "81", "99.99"))

    with pytest.raises(QuickbooksException) as refused:
        entry.save(qb=qb)

    assert refused.value.error_code == 6000
    assert "not balanced" in refused.value.detail
    assert transactions(emulator, ACME_REALM) == []


@pytest.mark.parametrize(
    ("lines", "header", "code", "words"),
    [
        ([("Debit", "83", "10.00"), ("Debit", "81", "10.00")], {}, 6000, "one credit"),
        (
            [("Debit", "83", "10.005"), ("Credit", "81", "10.005")],
            {},
            2010,
            "2 decimals",
        ),
        ([("Debit", "83", "-10"), ("Credit", "81", "-10")], {}, 6000, "positive"),
        ([("Debit", "999", "10"), ("Credit", "81", "10")], {}, 2500, "Account 999"),
        ([("Debit", "90", "10"), ("Credit", "81", "10")], {}, 610, "inactive"),
        (
            [("Debit", "83", "10"), ("Credit", "81", "10")],
            {"DocNumber": "X" * 22},
            2050,
            "21",
        ),
        (
            [("Debit", "83", "10"), ("Credit", "81", "10")],
            {"TxnDate": "2024-02-30"},
            2010,
            "TxnDate",
        ),
    ],
    ids=[
        "no-credit",
        "three-decimals",
        "negative",
        "unknown-account",
        "inactive-account",
        "long-doc-number",
        "bad-date",
    ],
)
def test_journal_entry_checks(
    emulator: Emulator,
    lines: list[tuple[str, str, str]],
    header: dict[str, str],
    code: int,
    words: str,
) -> None:
    qb = connect(emulator, ACME)
    entry = journal_entry("PSB-3", *lines)
    for key, value in header.items():
        setattr(entry, key, value)

    with pytest.raises(QuickbooksException) as refused:
        entry.save(qb=qb)

    assert refused.value.error_code == code
    assert words in refused.value.detail
    assert transactions(emulator, ACME_REALM) == []


def test_fault_body_has_quickbooks_shape(emulator: Emulator) -> None:
    qb = connect(emulator, ACME)
    entry = journal_entry("PSB-4", ("Debit", "999", "1.00"), ("Credit", "81", "1.00"))

    reply = raw_post(qb, "journalentry", entry.to_json())

    assert reply.status_code == 400
    body = reply.json()
    assert set(body) == {"Fault", "time"}
    assert body["Fault"]["type"] == "ValidationFault"
    [error] = body["Fault"]["Error"]
    assert set(error) == {"Message", "Detail", "code", "element"}
    assert (error["Message"], error["code"]) == ("Invalid Reference Id", "2500")


# --- Inventory adjustments ------------------------------------------------------------


def test_adjustment_changes_quantity_on_hand(emulator: Emulator) -> None:
    qb = connect(emulator, ACME)
    body = adjustment(item_line("11", QtyDiff=-3), item_line("14", NewQty="2.25"))

    reply = post_adjustment(qb, body, request_id="ia-1")

    stored = reply["InventoryAdjustment"]
    assert stored["Id"] and stored["DocNumber"] == "PSB-00000001-W"
    assert stored["AdjustAccountRef"] == {"value": "82", "name": "Inventory Shrinkage"}
    assert on_hand(emulator, ACME_REALM, "11") == 97
    assert on_hand(emulator, ACME_REALM, "14") == 2.25
    assert Item.get("11", qb=qb).QtyOnHand == 97


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        (adjustment(item_line("12", QtyDiff=-1)), 6000, "Assembly Labor"),
        (adjustment(item_line("13", QtyDiff=-1)), 610, "Retired Gizmo"),
        (adjustment(item_line("404", QtyDiff=-1)), 2500, "Item 404"),
        (adjustment(item_line("11", QtyDiff=-1, NewQty=5)), 2010, "not both"),
        (adjustment(item_line("11")), 2020, "QtyDiff"),
        (adjustment(item_line("11", QtyDiff="lots")), 2010, "QtyDiff"),
        (adjustment(item_line("11", QtyDiff=-1), account="404"), 2500, "Account 404"),
        (adjustment(item_line("11", QtyDiff=-1), account="90"), 610, "Old Adjustments"),
        (adjustment(), 2020, "Line"),
        (
            adjustment(item_line("11", QtyDiff=-1), DocNumber="PSB-0000000000000001-W"),
            2050,
            "DocNumber",
        ),
    ],
    ids=[
        "service-item",
        "inactive-item",
        "unknown-item",
        "both-quantities",
        "no-quantity",
        "bad-quantity",
        "unknown-account",
        "inactive-account",
        "no-lines",
        "long-doc-number",
    ],
)
def test_adjustment_checks(
    emulator: Emulator, body: dict[str, Any], code: int, words: str
) -> None:
    qb = connect(emulator, ACME)

    with pytest.raises(QuickbooksException) as refused:
        post_adjustment(qb, body)

    assert refused.value.error_code == code
    assert words in refused.value.detail
    assert transactions(emulator, ACME_REALM) == []
    assert on_hand(emulator, ACME_REALM, "11") == 100


def test_edition_without_inventory_refuses_adjustments(emulator: Emulator) -> None:
    qb = connect(emulator, SIMPLE)

    with pytest.raises(QuickbooksException) as refused:
        post_adjustment(qb, adjustment(item_line("21", QtyDiff=-1), account="80"))

    assert refused.value.error_code == 6000
    assert "cannot track inventory" in refused.value.detail


# --- requestid ----------------------------------------------------------------------


def test_repeated_request_id_returns_the_original_reply_without_acting_again(
    emulator: Emulator,
) -> None:
    qb = connect(emulator, ACME)
    entry = journal_entry("PSB-5", ("Debit", "83", "10.00"), ("Credit", "81", "10.00"))
    body = adjustment(item_line("11", QtyDiff=-2))

    first = entry.save(qb=qb, request_id="je-once")
    again = journal_entry("PSB-5", ("Debit", "83", "10.00"), ("Credit", "81", "10.00"))
    second = again.save(qb=qb, request_id="je-once")
    first_adjustment = post_adjustment(qb, body, request_id="ia-once")
    second_adjustment = post_adjustment(qb, body, request_id="ia-once")

    assert second.Id == first.Id
    assert second_adjustment == first_adjustment
    assert len(transactions(emulator, ACME_REALM)) == 2
    assert on_hand(emulator, ACME_REALM, "11") == 98


def test_repeated_request_id_repeats_a_failure_even_after_the_cause_is_fixed(
    emulator: Emulator,
) -> None:
    qb = connect(emulator, ACME)
    wrong = journal_entry("PSB-6", ("Debit", "83", "10.00"), ("Credit", "81", "9.00"))
    fixed = journal_entry("PSB-6", ("Debit", "83", "10.00"), ("Credit", "81", "10.00"))

    with pytest.raises(QuickbooksException) as first:
        wrong.save(qb=qb, request_id="je-fail")
    with pytest.raises(QuickbooksException) as repeated:
        fixed.save(qb=qb, request_id="je-fail")
    assert transactions(emulator, ACME_REALM) == []
    saved = fixed.save(qb=qb, request_id="je-fail-retry")

    assert first.value.error_code == repeated.value.error_code == 6000
    assert repeated.value.detail == first.value.detail
    assert [t["id"] for t in transactions(emulator, ACME_REALM)] == [saved.Id]


def test_concurrent_requests_with_one_request_id_post_once(emulator: Emulator) -> None:
    qb = connect(emulator, ACME)
    entry = journal_entry("PSB-7", ("Debit", "83", "1.00"), ("Credit", "81", "1.00"))
    body = entry.to_json()
    ids: list[str] = []

    def post() -> None:
        reply = raw_post(qb, "journalentry", body, request_id="je-race")
        ids.append(reply.json()["JournalEntry"]["Id"])

    threads = [threading.Thread(target=post) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(ids)) == 1 and len(ids) == 6
    assert len(transactions(emulator, ACME_REALM)) == 1


def test_request_id_longer_than_fifty_characters_is_refused(emulator: Emulator) -> None:
    qb = connect(emulator, ACME)
    entry = journal_entry("PSB-8", ("Debit", "83", "1.00"), ("Credit", "81", "1.00"))

    with pytest.raises(QuickbooksException) as refused:
        entry.save(qb=qb, request_id="r" * 51)

    assert refused.value.error_code == 2050


# --- Queries ------------------------------------------------------------------------


def test_query_by_doc_number_with_a_quote_and_a_backslash(emulator: Emulator) -> None:
    qb = connect(emulator, ACME)
    awkward = "O'Neil\\B-7"
    journal_entry(awkward, ("Debit", "83", "5.00"), ("Credit", "81", "5.00")).save(
        qb=qb
    )
    journal_entry("O'Neil", ("Debit", "83", "6.00"), ("Credit", "81", "6.00")).save(
        qb=qb
    )
    post_adjustment(qb, adjustment(item_line("11", QtyDiff=-1), DocNumber=awkward))

    entries = JournalEntry.query(
        f"select * from JournalEntry where DocNumber = {quoted(awkward)}", qb=qb
    )
    adjustments = qb.query(
        f"SELECT * FROM InventoryAdjustment WHERE DocNumber = {quoted(awkward)}"
    )["QueryResponse"]

    assert [e.DocNumber for e in entries] == [awkward]
    assert entries[0].TotalAmt == 5
    assert [a["DocNumber"] for a in adjustments["InventoryAdjustment"]] == [awkward]
    assert (adjustments["startPosition"], adjustments["maxResults"]) == (1, 1)


def test_query_forms_the_service_uses(emulator: Emulator) -> None:
    qb = connect(emulator, ACME)

    by_ids = Item.choose(["11", "14", "13"], qb=qb)
    by_sku = Item.filter(Sku="GAD-1", qb=qb)
    inactive = qb.query("select * from Item where Active = false")["QueryResponse"]
    page = qb.query("select * from Account startposition 2 maxresults 2")[
        "QueryResponse"
    ]
    nothing = qb.query("select * from JournalEntry where DocNumber = 'none'")
    count = qb.query("select count(*) from Item")["QueryResponse"]

    assert [item.Id for item in by_ids] == ["11", "14"]  # inactive items stay hidden
    assert [item.Name for item in by_sku] == ["Gadget"]
    assert [item["Id"] for item in inactive["Item"]] == ["13"]
    assert [a["Id"] for a in page["Account"]] == ["81", "82"]
    assert (page["startPosition"], page["maxResults"]) == (2, 2)
    assert nothing["QueryResponse"] == {} and "time" in nothing
    assert count == {"totalCount": 3}


def test_query_can_travel_as_a_url_parameter(emulator: Emulator) -> None:
    qb = connect(emulator, ACME)

    reply = qb.get(
        f"{qb.api_url}/company/{qb.company_id}/query",
        params={"query": "select * from Account where Name = 'Inventory Asset'"},
    )

    assert [a["Id"] for a in reply["QueryResponse"]["Account"]] == ["81"]


@pytest.mark.parametrize(
    ("statement", "code"),
    [
        ("select * from JournalEntry where DocNumber = 'open", 4000),
        ("select * JournalEntry", 4000),
        ("select * from JournalEntry where DocNumber == 'x'", 4000),
        ("select * from JournalEntry maxresults many", 4000),
        ("select * from Invoice", 4001),
        ("select * from JournalEntry where Memo = 'x'", 4001),
    ],
)
def test_malformed_queries_are_refused(
    emulator: Emulator, statement: str, code: int
) -> None:
    qb = connect(emulator, ACME)

    with pytest.raises(QuickbooksException) as refused:
        qb.query(statement)

    assert refused.value.error_code == code


# --- Ledger, seed and plumbing --------------------------------------------------------


def test_ledger_lists_transactions_and_current_items(emulator: Emulator) -> None:
    qb = connect(emulator, ACME)
    saved = journal_entry(
        "PSB-9", ("Debit", "83", "7.25"), ("Credit", "81", "7.25")
    ).save(qb=qb, request_id="je-ledger")
    post_adjustment(qb, adjustment(item_line("14", QtyDiff="-0.5")))

    over_http = requests.get(
        emulator.url + "/_emulator/ledger",
        params={"realm": ACME_REALM},
        timeout=5,
    ).json()
    everything = requests.get(emulator.url + "/_emulator/ledger", timeout=5).json()

    assert over_http == emulator.ledger(ACME_REALM)
    assert set(everything["companies"]) >= {ACME_REALM, SIMPLE_REALM}
    company = over_http["companies"][ACME_REALM]
    assert [(t["type"], t["request_id"]) for t in company["transactions"]] == [
        ("JournalEntry", "je-ledger"),
        ("InventoryAdjustment", None),
    ]
    assert company["transactions"][0]["id"] == saved.Id
    assert company["transactions"][0]["body"]["TotalAmt"] == 7.25
    assert {item["Id"]: item["QtyOnHand"] for item in company["items"]}["14"] == 5
    assert int(company["transactions"][1]["id"]) > int(saved.Id)


def test_ledger_of_an_unknown_realm(emulator: Emulator) -> None:
    reply = requests.get(emulator.url + "/_emulator/ledger?realm=nope", timeout=5)

    assert reply.status_code == 404
    with pytest.raises(EmulatorError):
        emulator.ledger("nope")


def test_seed_endpoint_adds_and_replaces_companies(emulator: Emulator) -> None:
    qb = connect(emulator, ACME)
    journal_entry("PSB-10", ("Debit", "83", "1.00"), ("Credit", "81", "1.00")).save(
        qb=qb
    )
    extra = copy.deepcopy(SIMPLE) | {
        "realm_id": "9130350000000077",
        "refresh_token": "RT-77",
    }
    replaced = copy.deepcopy(ACME) | {"refresh_token": "RT-acme-reseeded"}

    reply = requests.post(
        emulator.url + "/_emulator/seed",
        json={"companies": [extra, replaced]},
        timeout=5,
    )
    bad = requests.post(
        emulator.url + "/_emulator/seed", json={"companies": [{"name": "x"}]}, timeout=5
    )

    assert reply.json() == {"companies": ["9130350000000077", ACME_REALM]}
    assert transactions(emulator, ACME_REALM) == []
    with pytest.raises(AuthorizationException):
        Account.get("80", qb=qb)  # a replaced company's old tokens stop working
    auth = auth_client(emulator)
    auth.refresh(refresh_token="RT-77")
    assert auth.access_token
    assert bad.status_code == 400 and "realm_id" in bad.json()["message"]


def test_body_that_is_not_json_is_refused_with_2010(emulator: Emulator) -> None:
    qb = connect(emulator, ACME)

    with pytest.raises(QuickbooksException) as refused:
        qb.post(f"{qb.api_url}/company/{qb.company_id}/journalentry", "{not json")

    assert refused.value.error_code == 2010


def test_unknown_paths_answer_404_in_json(emulator: Emulator) -> None:
    qb = connect(emulator, ACME)

    outside = requests.get(emulator.url + "/nowhere", timeout=5)
    inside = raw_get(qb, "customer/1")

    assert (outside.status_code, inside.status_code) == (404, 404)
    assert outside.json()["error"] == inside.json()["error"] == "not_found"


@pytest.mark.parametrize(
    "seed",
    [
        {"companies": "all of them"},
        {
            "companies": [
                {"realm_id": "1", "refresh_token": "RT", "items": [{"Name": "x"}]}
            ]
        },
        {
            "companies": [
                {
                    "realm_id": "1",
                    "refresh_token": "RT",
                    "items": [{"Name": "x", "Type": "Inventory", "QtyOnHand": "many"}],
                }
            ]
        },
        {
            "companies": [
                {
                    "realm_id": "1",
                    "refresh_token": "RT",
                    "items": [
                        {
                            "Name": "x",
                            "Type": "Inventory",
                            "AssetAccountRef": {"value": "1"},
                        }
                    ],
                }
            ]
        },
        {"apps": [{"client_id": "only"}]},
        {
            "companies": [
                {"realm_id": "1", "refresh_token": "RT"},
                {"realm_id": "1", "refresh_token": "RT2"},
            ]
        },
    ],
    ids=[
        "not-a-list",
        "item-type-missing",
        "bad-quantity",
        "unknown-asset-account",
        "secret-missing",
        "duplicate-realm",
    ],
)
def test_bad_seeds_are_refused_with_a_reason(seed: dict[str, Any]) -> None:
    with pytest.raises(EmulatorError, match=r"\S"):
        Emulator(seed)
