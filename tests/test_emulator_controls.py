"""The emulator's per-company controls and the checks that need them, over HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from intuitlib.exceptions import AuthClientError
from quickbooks import QuickBooks
from quickbooks.exceptions import AuthorizationException, QuickbooksException
from quickbooks.objects.account import Account

from consumer.emulator import Emulator, EmulatorError
from tests.emulator_support import (
    accounts,
    adjustment,
    auth_client,
    connect,
    item_line,
    post_adjustment,
    post_controls,
    raw_get,
    seed,
    transactions,
    work_in_process_entry,
)

pytestmark = pytest.mark.usefixtures("plain_http_allowed")

REALM = "9130350000000101"
COMPANY: dict[str, Any] = {
    "realm_id": REALM,
    "name": "Controlled Widgets",
    "refresh_token": "RT-controlled",
    "accounts": accounts("81", "82", "83"),
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


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(seed()) as emulator:
        yield emulator


@pytest.fixture
def qb(emulator: Emulator) -> QuickBooks:
    """A client of a freshly seeded company: no controls, empty ledger."""
    return connect(emulator, COMPANY)


def adjust_widget(
    qb: QuickBooks, txn_date: str = "2024-05-01", account: str = "82"
) -> dict[str, Any]:
    """Posts the waste of one widget (item 11), offset to ``account``."""
    body = adjustment(item_line("11", QtyDiff=-1), account=account, TxnDate=txn_date)
    return post_adjustment(qb, body)


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

    html, xml, throttled, internal, in_ok = (
        raw_get(qb, "account/81") for _ in range(5)
    )
    after = raw_get(qb, "account/81")

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
        work_in_process_entry().save(qb=qb, request_id="lost-answer")
    posted = transactions(emulator, REALM)
    retried = work_in_process_entry().save(qb=qb, request_id="lost-answer")

    assert len(posted) == 1
    assert retried.Id == posted[0]["id"]
    assert len(transactions(emulator, REALM)) == 1


def test_closed_books_refuse_transactions_on_or_before_the_date(
    emulator: Emulator, qb: QuickBooks
) -> None:
    emulator.control(REALM, closed_books_date="2024-04-30")

    for refused_post in (
        lambda: work_in_process_entry(txn_date="2024-04-30").save(qb=qb),
        lambda: adjust_widget(qb, "2024-04-01"),
    ):
        with pytest.raises(QuickbooksException) as refused:
            refused_post()
        assert refused.value.error_code == 6210
        assert "2024-04-30" in refused.value.detail
    work_in_process_entry(txn_date="2024-05-01").save(qb=qb)
    emulator.control(REALM, closed_books_date=None)
    work_in_process_entry(txn_date="2024-01-15").save(qb=qb)

    assert len(transactions(emulator, REALM)) == 2


def test_item_used_before_its_inventory_start_date_is_refused(
    emulator: Emulator, qb: QuickBooks
) -> None:
    with pytest.raises(QuickbooksException) as refused:
        adjust_widget(qb, "2024-02-29")

    assert refused.value.error_code == 6270
    assert "Widget" in refused.value.detail and "2024-03-01" in refused.value.detail
    assert adjust_widget(qb, "2024-03-01")["InventoryAdjustment"]["Id"]


def test_offset_account_may_not_be_the_items_asset_account(
    emulator: Emulator, qb: QuickBooks
) -> None:
    with pytest.raises(QuickbooksException) as refused:
        adjust_widget(qb, account="81")

    assert refused.value.error_code == 6000
    assert "Inventory Asset" in refused.value.detail


def test_deactivated_references_are_refused_until_activated(
    emulator: Emulator, qb: QuickBooks
) -> None:
    emulator.control(REALM, deactivate={"accounts": ["83"], "items": ["11"]})

    with pytest.raises(QuickbooksException) as account_refused:
        work_in_process_entry().save(qb=qb)
    with pytest.raises(QuickbooksException) as item_refused:
        adjust_widget(qb)
    emulator.control(REALM, activate={"accounts": ["83"], "items": ["11"]})

    assert account_refused.value.error_code == item_refused.value.error_code == 610
    assert work_in_process_entry().save(qb=qb).Id


def test_switching_inventory_tracking_off_refuses_adjustments(
    emulator: Emulator, qb: QuickBooks
) -> None:
    emulator.control(REALM, inventory_tracking=False)

    with pytest.raises(QuickbooksException) as refused:
        adjust_widget(qb)

    assert refused.value.error_code == 6000


def test_revocation_ends_every_token_until_a_person_reconnects(
    emulator: Emulator, qb: QuickBooks
) -> None:
    reply = post_controls(emulator, REALM, {"revoke": True})

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
    over_http = post_controls(emulator, REALM, controls)

    with pytest.raises(EmulatorError):
        emulator.control(REALM, **controls)
    assert over_http.status_code == 400 and over_http.json()["message"]


def test_controls_of_an_unknown_company(emulator: Emulator) -> None:
    reply = post_controls(emulator, "nope", {})

    assert reply.status_code == 404
    with pytest.raises(EmulatorError, match="nope"):
        emulator.control("nope", latency_ms=0)
