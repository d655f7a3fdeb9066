"""Dead letters through the real broker: a thousand malformed inputs, and replay once
the cause is fixed (twice does nothing the second time)."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from consumer import codec, jsonform, replay, tenants
from consumer.emulator import Emulator
from consumer.kafka_clients import producer as make_producer
from consumer.schemas import BUILD_STATUS_CHANGED, EXPORT_STATUS_CHANGED
from producers.jsonl import Message
from tests.builders import avro_bytes, event, line, rejected
from tests.pipeline import APP, Pipeline
from tests.test_end_to_end import JOURNAL_REALM, TENANTS, _seed

pytestmark = pytest.mark.broker


@pytest.fixture
def pipeline(kafka_bootstrap, tmp_path):
    with Emulator(_seed()) as emulator:
        yield Pipeline.start(kafka_bootstrap, emulator, tmp_path, TENANTS)


def _valid() -> dict:
    return event(tenant_id="journal-co", components=[line("c", "2", "5", None)])


def _raw_avro(record: dict) -> bytes:
    """Avro bytes written straight from a record, past the JSON form's checks."""
    return codec.encode(BUILD_STATUS_CHANGED, record)


def malformed(rng: random.Random, n: int) -> bytes:
    """The n-th malformed input: fuzzed bytes, truncated or corrupted Avro, wrong types,
    extreme values, huge strings. None of them can ever be a valid export."""
    base = jsonform.to_avro(
        BUILD_STATUS_CHANGED, {**_valid(), "tenant_id": "no-such-tenant"}
    )
    kind = n % 12
    if kind == 0:
        return rng.randbytes(rng.randint(0, 3000))
    if kind == 1:
        good = avro_bytes({**_valid(), "tenant_id": "no-such-tenant"})
        return good[: rng.randint(0, len(good) - 1)]
    if kind == 2:
        good = bytearray(avro_bytes({**_valid(), "tenant_id": "no-such-tenant"}))
        for _ in range(rng.randint(1, 8)):
            good[rng.randrange(10, len(good))] ^= 1 << rng.randrange(8)
        return bytes(good)
    if kind == 3:
        return b"\xc3\x01" + rng.randbytes(8) + rng.randbytes(rng.randint(0, 200))
    if kind == 4:
        return json.dumps(_valid()).encode()  # JSON, not Avro
    if kind == 5:
        return (
            b"\x00" + rng.randbytes(4) + avro_bytes(_valid())[10:]
        )  # Schema Registry framing
    if kind == 6:  # a record of another type on the builds topic
        return codec.encode(
            EXPORT_STATUS_CHANGED,
            {
                "event_id": str(uuid.uuid4()),
                "occurred_at": datetime.now(UTC),
                "tenant_id": "journal-co",
                "build_id": str(uuid.uuid4()),
                "build_number": "B-1",
                "kind": "BUILD",
                "reference": "PSB-1",
                "status": "SYNCED",
                "transaction": None,
                "error": None,
                "attempt": 1,
                "causation_id": "x",
            },
        )
    valid = jsonform.to_avro(BUILD_STATUS_CHANGED, _valid())
    if kind == 7:  # negative consumed quantity, for a real company
        valid["components"][0]["quantity"] = -valid["components"][0]["quantity"]
        return _raw_avro(valid)
    if kind == 8:  # huge strings
        valid["components"][0]["sku"] = "S" * rng.randint(201, 200_000)
        return _raw_avro(valid)
    if kind == 9:  # extreme values: the largest quantity, and a negative cost
        valid["finished_good"]["quantity"] = valid["finished_good"][
            "quantity"
        ].__class__("99999999999999.9999")
        valid["components"][0]["unit_cost"] = -valid["components"][0]["unit_cost"] - 1
        return _raw_avro(valid)
    if kind == 10:  # a partial loss of more than was consumed
        valid["qa"] = jsonform.to_avro(
            BUILD_STATUS_CHANGED,
            {
                **_valid(),
                "qa": rejected("PARTIAL_LOSS", [{"product_id": "c", "quantity": "1"}]),
            },
        )["qa"]
        valid["qa"]["lost"][0]["quantity"] = valid["components"][0]["quantity"] * 10
        return _raw_avro(valid)
    base["build_number"] = " " * rng.randint(1, 50)  # blank where a name is required
    return _raw_avro(base)


def test_a_thousand_malformed_inputs_all_reach_the_dead_letter_topic(pipeline):
    rng = random.Random(20261204)
    inputs = [Message(f"fuzz-{n}".encode(), malformed(rng, n)) for n in range(1000)]
    good = _valid()
    pipeline.publish_raw(
        [*inputs, Message(good["build_id"].encode(), avro_bytes(good))]
    )
    pipeline.run_until_settled([good["build_id"]], timeout=120)
    pipeline.run_until_idle(2)

    letters = {
        key: headers for key, _, headers in pipeline.dead_letters(1000, timeout=60)
    }
    assert set(letters) == {m.key for m in inputs}
    assert all(
        h["dlt.error.message"] and h["dlt.stage"] in ("decode", "validate")
        for h in letters.values()
    )
    # Nothing malformed was posted; the one valid build was, after all of them.
    [txn] = pipeline.transactions(JOURNAL_REALM)
    assert good["build_id"] in txn["body"]["PrivateNote"]


def _replay(pipeline: Pipeline, dry_run: bool = False, **filters) -> replay.Summary:
    config = pipeline.config
    letters = [
        m
        for m in replay.read_dead_letters(pipeline.servers, config.topics.dlt)
        if replay.Filters(**filters).match(m)
    ]
    producer = None if dry_run else make_producer(pipeline.servers)
    try:
        return replay.Replayer(pipeline.store, producer, config.topics.commands).replay(
            letters, dry_run
        )
    finally:
        if producer is not None:
            producer.close()


def test_replay_of_an_unknown_company_fails_cleanly_until_it_is_loaded(pipeline):
    newcomer = event(tenant_id="newcomer", components=[line("c", "1", "4", None)])
    pipeline.publish([newcomer])
    pipeline.run_until_idle(3)

    dry = _replay(pipeline, dry_run=True, tenant="newcomer")
    assert (dry.matched, dry.republished) == (1, 1)
    assert (
        _replay(pipeline, dry_run=True, tenant="newcomer").already_replayed == 0
    )  # dry runs record nothing

    first = _replay(
        pipeline, tenant="newcomer"
    )  # cause not fixed yet: fails again, cleanly
    assert first.republished == 1
    pipeline.run_until_idle(3)
    assert len(pipeline.dead_letters(2)) == 2

    # The cause is fixed: the company is connected to a QuickBooks company of its own.
    newcomer_realm = "4620816365000099"
    company = {
        **_seed()["companies"][1],
        "realm_id": newcomer_realm,
        "refresh_token": "RT-newcomer",
    }
    pipeline.emulator.load_seed({"apps": [APP], "companies": [company]})
    tenants.load_into(
        pipeline.store,
        tenants.parse(
            {
                "tenants": [
                    {
                        "tenant_id": "newcomer",
                        "realm_id": newcomer_realm,
                        "inventory_mode": "PARTSEMBLE_ONLY",
                        "build_debit_account_id": "90",
                        "build_credit_account_id": "91",
                        "connection": {"refresh_token": "RT-newcomer"},
                    }
                ]
            }
        ),
    )
    second = _replay(pipeline, tenant="newcomer", stage="validate")
    assert (second.already_replayed, second.republished) == (1, 1)
    pipeline.run_until_settled([newcomer["build_id"]])
    assert pipeline.store.exports([newcomer["build_id"]])[0].state == "SYNCED"

    third = _replay(pipeline, tenant="newcomer")
    assert (third.already_replayed, third.republished, third.retried) == (2, 0, 0)


def test_replay_retries_failed_exports_once_the_setting_is_fixed(pipeline):
    builds = [
        event(tenant_id="journal-co", components=[line("c", "1", "4", None)])
        for _ in range(3)
    ]
    settings = pipeline.store.tenant("journal-co")
    pipeline.store.save_tenant(
        type(settings)(**{**vars(settings), "build_credit_account_id": None})
    )
    pipeline.publish(builds)
    pipeline.run_until_settled([b["build_id"] for b in builds])
    assert {
        r.error_code for r in pipeline.store.exports([b["build_id"] for b in builds])
    } == {"SETTINGS_MISSING"}

    later = datetime.now(UTC) + timedelta(hours=1)
    assert _replay(pipeline, since=later).matched == 0  # the time range filters
    assert _replay(pipeline, code="QB_6000").matched == 0  # so does the error code

    pipeline.store.save_tenant(settings)
    summary = _replay(
        pipeline, tenant="journal-co", code="SETTINGS_MISSING", stage="export"
    )
    assert (summary.matched, summary.retried) == (3, 3)
    pipeline.run_until(
        lambda: pipeline.states([b["build_id"] for b in builds]) == ["SYNCED"] * 3
    )
    assert len(pipeline.transactions(JOURNAL_REALM)) == 3

    again = _replay(pipeline, tenant="journal-co")
    assert (again.already_replayed, again.retried) == (3, 0)
    pipeline.run_until_idle(2)
    assert len(pipeline.transactions(JOURNAL_REALM)) == 3
