"""The emulator's per-company controls and the checks that need them, over HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
from intuitlib.client import AuthClient
from intuitlib.exceptions import AuthClientError
from quickbooks import QuickBooks
from quickbooks.exceptions import AuthorizationException, QuickbooksException
from quickbooks.objects.account import Account
from quickbooks.objects.base import Ref
from quickbooks.objects.journalentry import (
    JournalEntry,
    JournalEntryLine,
    JournalEntryLineDetail,
)

from consumer.emulator import Emulator, EmulatorError

CLIENT_ID, CLIENT_SECRET = "partsemble-test", "test-secret"
REALM = "9130350000000101"
COMPANY: dict[str, Any] = {
    "realm_id": REALM,
    "name": "Controlled Widgets",
    "refresh_token": "RT-controlled",
    "accounts": [
        {"Id": "81", "Name": "Inventory Asset", "AccountType": "Other Current Asset"},
        {
            "Id": "82",
            "Name": "Inventory Shrinkage",
            "AccountType": "Cost of Goods Sold",
        },
        {"Id": "83", "Name": "Work in Process", "AccountType": "Other Current Asset"},
    ],
    "items": [
        {
            "Id": "11",
            "Name": "Widget",
            "Type": "Inventory",
            "QtyOnHand": 10,
            "InvStartDate": "2024-03-01",
            "AssetAccountRef": {"value": "81"},
        }
    ],
}
SEED = {"apps": [{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}]}


@pytest.fixture(scope="module", autouse=True)
def plain_http_allowed() -> Iterator[None]:
    # requests-oauthlib refuses http:// URLs unless told the transport is trusted.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
        yield


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(SEED) as emulator:
        yield emulator


@pytest.fixture
def qb(emulator: Emulator) -> QuickBooks:
    """A client of a freshly seeded company: no controls, empty ledger."""
    emulator.load_seed({"companies": [COMPANY]})
    auth = auth_client(emulator)
    auth.refresh(refresh_token=COMPANY["refresh_token"])
    client = QuickBooks(
        auth_client=auth,
        refresh_token=auth.refresh_token,
        company_id=REALM,
        minorversion=75,
    )
    client.api_url_v3 = emulator.api_url
    return client


def auth_client(emulator: Emulator) -> AuthClient:
    return AuthClient(
        CLIENT_ID,
        CLIENT_SECRET,
        redirect_uri="http://127.0.0.1/callback",
        environment=emulator.discovery_url,
    )


def journal_entry(txn_date: str = "2024-05-01") -> JournalEntry:
    entry = JournalEntry()
    entry.DocNumber = "PSB-00000042"
    entry.TxnDate = txn_date
    for posting, account_id in (("Debit", "83"), ("Credit", "81")):
        detail = JournalEntryLineDetail()
        detail.PostingType = posting
        detail.AccountRef = Ref()
        detail.AccountRef.value = account_id
        line = JournalEntryLine()
        line.Amount = Decimal("42.00")
        line.JournalEntryLineDetail = detail
        entry.Line.append(line)
    return entry


def post_adjustment(
    qb: QuickBooks, txn_date: str = "2024-05-01", account: str = "82"
) -> dict[str, Any]:
    body = {
        "TxnDate": txn_date,
        "DocNumber": "PSB-00000042-W",
        "AdjustAccountRef": {"value": account},
        "Line": [
            {
                "DetailType": "ItemAdjustmentLineDetail",
                "ItemAdjustmentLineDetail": {"ItemRef": {"value": "11"}, "QtyDiff": -1},
            }
        ],
    }
    url = f"{qb.api_url}/company/{REALM}/inventoryadjustment"
    result: dict[str, Any] = qb.post(url, json.dumps(body))
    return result


def transactions(emulator: Emulator) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = emulator.ledger(REALM)["companies"][REALM][
        "transactions"
    ]
    return found


def raw_get(emulator: Emulator, qb: QuickBooks) -> requests.Response:
    return requests.get(
        f"{emulator.api_url}/company/{REALM}/account/81",
        headers={"Authorization": f"Bearer {qb.session.access_token}"},
        timeout=5,
    )


def test_latency_delays_every_answer(emulator: Emulator, qb: QuickBooks) -> None:
    emulator.control(REALM, latency_ms=200)

    started = time.monotonic()
    Account.get("81", qb=qb)

    assert time.monotonic() - started >= 0.2


def test_injected_faults_answer_the_next_requests_in_order(
    emulator: Emulator, qb: QuickBooks
) -> None:
    emulator.control(
        REALM,
        fail_next=[
            {"status": 503},
            {"status": 429, "retry_after": 60},
            {"status": 429, "kind": "json"},
            {"status": 500},
            {"status": 200, "code": "6190"},
        ],
    )

    html, xml, throttled, internal, in_ok = (raw_get(emulator, qb) for _ in range(5))
    after = raw_get(emulator, qb)

    assert html.status_code == 503 and html.headers["Content-Type"].startswith(
        "text/html"
    )
    assert xml.status_code == 429 and xml.headers["Content-Type"] == "application/xml"
    assert '<Error code="3001">' in xml.text and xml.headers["Retry-After"] == "60"
    assert throttled.json()["Fault"]["Error"][0]["code"] == "3001"
    assert (internal.status_code, internal.json()["Fault"]["type"]) == (
        500,
        "SystemFault",
    )
    assert (in_ok.status_code, in_ok.json()["Fault"]["Error"][0]["code"]) == (
        200,
        "6190",
    )
    assert after.status_code == 200 and after.json()["Account"]["Id"] == "81"


def test_library_sees_non_json_faults_as_code_10000(
    emulator: Emulator, qb: QuickBooks
) -> None:
    emulator.control(REALM, fail_next=[{"status": 503}, {"status": 429}])

    for _ in range(2):
        with pytest.raises(QuickbooksException) as refused:
            Account.get("81", qb=qb)
        assert refused.value.error_code == 10000


def test_applied_fault_posts_but_loses_the_answer(
    emulator: Emulator, qb: QuickBooks
) -> None:
    emulator.control(REALM, fail_next=[{"status": 502, "applied": True}])

    with pytest.raises(QuickbooksException):
        journal_entry().save(qb=qb, request_id="lost-answer")
    posted = transactions(emulator)
    retried = journal_entry().save(qb=qb, request_id="lost-answer")

    assert len(posted) == 1
    assert retried.Id == posted[0]["id"]
    assert len(transactions(emulator)) == 1


def test_closed_books_refuse_transactions_on_or_before_the_date(
    emulator: Emulator, qb: QuickBooks
) -> None:
    emulator.control(REALM, closed_books_date="2024-04-30")

    for refused_post in (
        lambda: journal_entry("2024-04-30").save(qb=qb),
        lambda: post_adjustment(qb, "2024-04-01"),
    ):
        with pytest.raises(QuickbooksException) as refused:
            refused_post()
        assert refused.value.error_code == 6210
        assert "2024-04-30" in refused.value.detail
    journal_entry("2024-05-01").save(qb=qb)
    emulator.control(REALM, closed_books_date=None)
    journal_entry("2024-01-15").save(qb=qb)

    assert len(transactions(emulator)) == 2


def test_item_used_before_its_inventory_start_date_is_refused(
    emulator: Emulator, qb: QuickBooks
) -> None:
    with pytest.raises(QuickbooksException) as refused:
        post_adjustment(qb, "2024-02-29")

    assert refused.value.error_code == 6270
    assert "Widget" in refused.value.detail and "2024-03-01" in refused.value.detail
    assert post_adjustment(qb, "2024-03-01")["InventoryAdjustment"]["Id"]


def test_offset_account_may_not_be_the_items_asset_account(
    emulator: Emulator, qb: QuickBooks
) -> None:
    with pytest.raises(QuickbooksException) as refused:
        post_adjustment(qb, account="81")

    assert refused.value.error_code == 6000
    assert "Inventory Asset" in refused.value.detail


def test_deactivated_references_are_refused_until_activated(
    emulator: Emulator, qb: QuickBooks
) -> None:
    emulator.control(REALM, deactivate={"accounts": ["83"], "items": ["11"]})

    with pytest.raises(QuickbooksException) as account_refused:
        journal_entry().save(qb=qb)
    with pytest.raises(QuickbooksException) as item_refused:
        post_adjustment(qb)
    emulator.control(REALM, activate={"accounts": ["83"], "items": ["11"]})

    assert account_refused.value.error_code == item_refused.value.error_code == 610
    assert journal_entry().save(qb=qb).Id


def test_switching_inventory_tracking_off_refuses_adjustments(
    emulator: Emulator, qb: QuickBooks
) -> None:
    emulator.control(REALM, inventory_tracking=False)

    with pytest.raises(QuickbooksException) as refused:
        post_adjustment(qb)

    assert refused.value.error_code == 6000


def test_revocation_ends_every_token_until_a_person_reconnects(
    emulator: Emulator, qb: QuickBooks
) -> None:
    reply = requests.post(
        f"{emulator.url}/_emulator/companies/{REALM}/controls",
        json={"revoke": True},
        timeout=5,
    )

    with pytest.raises(AuthorizationException):
        Account.get("81", qb=qb)
    with pytest.raises(AuthClientError) as refresh_refused:
        auth_client(emulator).refresh(refresh_token=qb.refresh_token)
    emulator.control(REALM, refresh_token="RT-reconnected")
    auth = auth_client(emulator)
    auth.refresh(refresh_token="RT-reconnected")

    assert reply.status_code == 200
    assert json.loads(refresh_refused.value.content) == {"error": "invalid_grant"}
    assert auth.access_token


def test_revoke_endpoint_ends_the_connection(
    emulator: Emulator, qb: QuickBooks
) -> None:
    auth = auth_client(emulator)

    assert auth.revoke(token=qb.refresh_token) is True
    with pytest.raises(AuthorizationException):
        Account.get("81", qb=qb)


@pytest.mark.parametrize(
    "controls",
    [
        {"latency": 5},
        {"latency_ms": -1},
        {"fail_next": [{"status": 418}]},
        {"fail_next": [{"status": 503, "kind": "yaml"}]},
        {"closed_books_date": "31/03/2024"},
        {"deactivate": {"accounts": ["404"]}},
    ],
)
def test_bad_controls_are_refused(
    emulator: Emulator, qb: QuickBooks, controls: dict[str, Any]
) -> None:
    over_http = requests.post(
        f"{emulator.url}/_emulator/companies/{REALM}/controls", json=controls, timeout=5
    )

    with pytest.raises(EmulatorError):
        emulator.control(REALM, **controls)
    assert over_http.status_code == 400 and over_http.json()["message"]


def test_controls_of_an_unknown_company(emulator: Emulator) -> None:
    reply = requests.post(
        f"{emulator.url}/_emulator/companies/nope/controls", json={}, timeout=5
    )

    assert reply.status_code == 404
    with pytest.raises(EmulatorError, match="nope"):
        emulator.control("nope", latency_ms=0)
