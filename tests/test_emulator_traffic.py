"""The emulator's rate limits, throttling, timeouts and random trouble, over HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from quickbooks import QuickBooks
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.account import Account

from consumer.emulator import Emulator, EmulatorError, RateLimits
from consumer.emulator.limits import RateWindow
from tests.emulator_support import (
    accounts,
    connect,
    post_controls,
    raw_get,
    raw_post,
    seed,
    transactions,
    work_in_process_entry,
)

pytestmark = pytest.mark.usefixtures("plain_http_allowed")

REALM = "9130350000000201"
COMPANY: dict[str, Any] = {
    "realm_id": REALM,
    "name": "Busy Widgets",
    "refresh_token": "RT-busy",
    "accounts": accounts("81", "83"),
    "items": [],
}
NO_LIMITS = {"per_second": None, "per_minute": None, "batches_per_minute": None}


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(seed()) as emulator:  # QuickBooks' own limits
        yield emulator


@pytest.fixture
def qb(emulator: Emulator) -> QuickBooks:
    """A client of a freshly seeded company: real limits, nothing counted yet."""
    return connect(emulator, COMPANY)


def control_over_http(emulator: Emulator, **controls: Any) -> dict[str, Any]:
    reply = post_controls(emulator, REALM, controls)
    assert reply.status_code == 200, reply.text
    in_force: dict[str, Any] = reply.json()
    return in_force


# --- Rate limits ----------------------------------------------------------------------


def test_eleventh_request_within_a_second_is_throttled_until_the_window_rolls(
    emulator: Emulator, qb: QuickBooks
) -> None:
    for _ in range(10):
        Account.get("81", qb=qb)
    with pytest.raises(QuickbooksException) as throttled:
        Account.get("81", qb=qb)
    counted = emulator.stats(REALM)
    time.sleep(1.0)

    assert throttled.value.error_code == 3001
    assert "ThrottleExceeded" in throttled.value.message
    assert counted == {"requests": 11, "throttled": 1, "batches": 0}
    assert Account.get("81", qb=qb).Id == "81"


def test_per_minute_limit_set_by_control_refuses_without_acting(
    emulator: Emulator, qb: QuickBooks
) -> None:
    in_force = control_over_http(emulator, rate_limits={"per_minute": 3})

    for _ in range(3):
        work_in_process_entry().save(qb=qb)
    refused = raw_post(qb, "journalentry", work_in_process_entry().to_json())

    assert in_force["rate_limits"] == {
        "per_second": 10,
        "per_minute": 3,
        "batches_per_minute": 40,
    }
    assert refused.status_code == 429 and "Retry-After" not in refused.headers
    fault = refused.json()["Fault"]
    assert fault["type"] == "SERVICE"
    assert fault["Error"][0]["code"] == "3001"
    assert fault["Error"][0]["Message"] == (
        "message=ThrottleExceeded; errorCode=003001; statusCode=429"
    )
    assert "3 requests per minute" in fault["Error"][0]["Detail"]
    assert len(transactions(emulator, REALM)) == 3


def test_batch_requests_have_a_limit_of_their_own(
    emulator: Emulator, qb: QuickBooks
) -> None:
    emulator.control(REALM, rate_limits={"batches_per_minute": 2})
    batch = json.dumps(
        {"BatchItemRequest": [{"bId": "1", "Query": "select * from Account"}]}
    )

    for _ in range(2):
        qb.batch_operation(batch)
    with pytest.raises(QuickbooksException) as throttled:
        qb.batch_operation(batch)
    single = Account.get("81", qb=qb)

    assert throttled.value.error_code == 3001
    assert single.Id == "81"
    assert emulator.stats(REALM) == {"requests": 4, "throttled": 1, "batches": 3}


def test_throttle_for_seconds_refuses_everything_and_says_how_long(
    emulator: Emulator, qb: QuickBooks
) -> None:
    emulator.control(REALM, throttle_for_seconds=0.5)

    refused = [raw_get(qb, "account/81") for _ in range(3)]
    time.sleep(0.6)
    after = raw_get(qb, "account/81")
    emulator.control(REALM, throttle_for_seconds=30)
    emulator.control(REALM, throttle_for_seconds=0)

    assert {reply.status_code for reply in refused} == {429}
    assert {reply.headers["Retry-After"] for reply in refused} == {"1"}
    assert refused[0].json()["Fault"]["Error"][0]["code"] == "3001"
    assert after.status_code == 200
    assert raw_get(qb, "account/81").status_code == 200
    assert emulator.stats(REALM)["throttled"] == 3


def test_control_lifts_one_companys_limits(emulator: Emulator, qb: QuickBooks) -> None:
    in_force = control_over_http(emulator, rate_limits=None)

    for _ in range(25):
        Account.get("81", qb=qb)

    assert in_force["rate_limits"] == NO_LIMITS
    assert emulator.stats(REALM) == {"requests": 25, "throttled": 0, "batches": 0}


@pytest.mark.parametrize("limits", [None, RateLimits.off()], ids=["none", "off"])
def test_emulator_without_limits(limits: RateLimits | None) -> None:
    with Emulator(seed(), rate_limits=limits) as unlimited:
        qb = connect(unlimited, COMPANY)
        for _ in range(25):
            Account.get("81", qb=qb)

        assert unlimited.stats(REALM)["throttled"] == 0
        assert unlimited.control(REALM)["rate_limits"] == NO_LIMITS


def test_ledger_shows_each_companys_request_counts(
    emulator: Emulator, qb: QuickBooks
) -> None:
    emulator.control(REALM, fail_next=[{"status": 429}])
    raw_get(qb, "account/81")
    raw_get(qb, "account/81")

    ledger = requests.get(
        emulator.url + "/_emulator/ledger", params={"realm": REALM}, timeout=5
    ).json()

    assert ledger["companies"][REALM]["stats"] == {
        "requests": 2,
        "throttled": 1,
        "batches": 0,
    }
    with pytest.raises(EmulatorError, match="nope"):
        emulator.stats("nope")


def test_rolling_windows_free_up_as_requests_age() -> None:
    window, limits = RateWindow(), RateLimits(per_second=3, per_minute=5)

    admitted = [window.admit(limits, t, batch=False) for t in (0.0, 0.4, 0.8)]
    refused_in_second = window.admit(limits, 0.99, batch=False)
    freed = window.admit(limits, 1.0, batch=False)
    admitted_later = window.admit(limits, 30.0, batch=False)
    refused_in_minute = window.admit(limits, 59.9, batch=False)
    after_a_minute = window.admit(limits, 60.0, batch=False)

    assert admitted == [None, None, None]
    assert refused_in_second == "3 requests per second"
    assert freed is None and admitted_later is None
    assert refused_in_minute == "5 requests per minute"
    assert after_a_minute is None


def test_batch_window_counts_only_batches() -> None:
    window, limits = RateWindow(), RateLimits(None, None, batches_per_minute=1)

    first = window.admit(limits, 0.0, batch=True)
    second = window.admit(limits, 1.0, batch=True)
    single = window.admit(limits, 2.0, batch=False)

    assert (first, single) == (None, None)
    assert second == "1 batch requests per minute"


# --- Injected trouble -----------------------------------------------------------------


def test_fault_inside_http_200_refuses_a_post_without_acting(
    emulator: Emulator, qb: QuickBooks
) -> None:
    emulator.control(REALM, fail_next=[{"status": 200, "code": "6000"}] * 2)

    raw = raw_post(qb, "journalentry", work_in_process_entry().to_json())
    with pytest.raises(QuickbooksException) as refused:
        work_in_process_entry().save(qb=qb, request_id="je-fault-in-200")
    saved = work_in_process_entry().save(qb=qb, request_id="je-fault-in-200")

    assert raw.status_code == 200
    assert raw.json()["Fault"]["Error"][0]["code"] == "6000"
    assert refused.value.error_code == 6000
    assert [t["id"] for t in transactions(emulator, REALM)] == [saved.Id]


def test_timeout_answers_nothing_and_does_not_act(
    emulator: Emulator, qb: QuickBooks
) -> None:
    emulator.control(REALM, timeout_seconds=0.2, fail_next=[{"kind": "timeout"}] * 2)

    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        raw_get(qb, "account/81", timeout=0.1)
    with pytest.raises(requests.ConnectionError):
        # The library sets no timeout: it waits until the emulator drops the request.
        work_in_process_entry().save(qb=qb, request_id="je-timeout")
    held = time.monotonic() - started
    saved = work_in_process_entry().save(qb=qb, request_id="je-timeout")

    assert held >= 0.2
    assert [t["id"] for t in transactions(emulator, REALM)] == [saved.Id]


@pytest.mark.parametrize(
    "controls",
    [
        {"error_rates": {"applied_then_timeout": 1}},
        {"fail_next": [{"kind": "timeout", "applied": True}]},
    ],
    ids=["error-rate", "fail-next"],
)
def test_applied_then_timeout_posts_and_a_retry_gets_the_lost_answer(
    emulator: Emulator, qb: QuickBooks, controls: dict[str, Any]
) -> None:
    emulator.control(REALM, timeout_seconds=0.1, **controls)

    with pytest.raises(requests.ConnectionError):
        work_in_process_entry().save(qb=qb, request_id="je-lost")
    posted = transactions(emulator, REALM)
    emulator.control(REALM, error_rates=None)
    retried = work_in_process_entry().save(qb=qb, request_id="je-lost")

    assert len(posted) == 1
    assert retried.Id == posted[0]["id"]
    assert len(transactions(emulator, REALM)) == 1


def test_error_rates_with_a_seed_repeat_the_same_trouble(
    emulator: Emulator, qb: QuickBooks
) -> None:
    rates = {
        "http_500": 0.2,
        "http_503_html": 0.2,
        "throttle_xml": 0.2,
        "auth_401": 0.2,
    }

    runs = []
    for _ in range(2):
        emulator.control(REALM, rate_limits=None, error_rates=rates, random_seed=7)
        runs.append([raw_get(qb, "account/81") for _ in range(25)])
    first, second = runs
    by_status = {reply.status_code: reply for reply in first}

    assert [r.status_code for r in first] == [r.status_code for r in second]
    assert set(by_status) == {200, 401, 429, 500, 503}
    assert by_status[401].json()["fault"]["error"][0]["code"] == "3200"
    assert by_status[429].headers["Content-Type"] == "application/xml"
    assert '<Error code="3001">' in by_status[429].text
    assert by_status[500].json()["Fault"]["Error"][0]["code"] == "10000"
    assert by_status[503].headers["Content-Type"].startswith("text/html")
    throttled = sum(r.status_code == 429 for r in first + second)
    assert emulator.stats(REALM)["throttled"] == throttled


def test_injected_errors_never_act_and_are_not_replayed(
    emulator: Emulator, qb: QuickBooks
) -> None:
    emulator.control(REALM, error_rates={"http_500": 0.5, "auth_401": 0.5})

    for _ in range(4):
        with pytest.raises(QuickbooksException):
            work_in_process_entry().save(qb=qb, request_id="je-unlucky")
    emulator.control(REALM, error_rates={})
    saved = work_in_process_entry().save(qb=qb, request_id="je-unlucky")

    assert [t["id"] for t in transactions(emulator, REALM)] == [saved.Id]


@pytest.mark.parametrize(
    "controls",
    [
        {"rate_limits": {"per_second": 0}},
        {"rate_limits": {"per_hour": 5}},
        {"rate_limits": "fast"},
        {"throttle_for_seconds": -1},
        {"error_rates": {"http_418": 0.1}},
        {"error_rates": {"http_500": 1.5}},
        {"error_rates": {"http_500": 0.6, "timeout": 0.6}},
        {"random_seed": "seven"},
        {"timeout_seconds": 0},
        {"fail_next": [{"kind": "timeout", "status": 504}]},
    ],
)
def test_bad_traffic_controls_are_refused(
    emulator: Emulator, qb: QuickBooks, controls: dict[str, Any]
) -> None:
    over_http = post_controls(emulator, REALM, controls)

    with pytest.raises(EmulatorError):
        emulator.control(REALM, **controls)
    assert over_http.status_code == 400 and over_http.json()["message"]
