"""The RouterStore contract, run against every implementation: SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from openpcc.services.store import NodeRecord, RouterStore, open_router_store

NODE = "0190f2a4-7b1c-7d3e-8f00-000000000001"
OTHER = "0190f2a4-7b1c-7d3e-8f00-000000000002"


def record(node_id: str = NODE, **change: object) -> NodeRecord:
    base = NodeRecord(
        node_id=node_id, url="http://127.0.0.1:3700/", healthcheck_url="http://127.0.0.1:3700/_health",
        tags=("llm", "model=echo"), evidence=b"\x0a\x02ev", admitted_at=100.0, attested_at=100.0,
        attested=True, verdict='{"failed": []}', last_event_index=3, last_event_at=100.0,
    )
    return dataclasses.replace(base, **change)  # type: ignore[arg-type]


@pytest.fixture
def store(database: str) -> Iterator[RouterStore]:
    s = open_router_store(database)
    try:
        yield s
    finally:
        s.close()


def test_admitted_nodes_come_back_exactly(store: RouterStore) -> None:
    assert store.nodes() == []
    store.admit(record())
    store.admit(record(OTHER, tags=("a",), evidence=bytes(range(256))))
    assert store.nodes() == [record(), record(OTHER, tags=("a",), evidence=bytes(range(256)))]


def test_readmission_replaces_routing_info_but_never_lowers_the_event_index(store: RouterStore) -> None:
    store.admit(record(last_event_index=9))
    again = record(url="http://127.0.0.1:3800/", evidence=b"new", last_event_index=2, admitted_at=200.0)
    store.admit(again)
    (kept,) = store.nodes()
    assert kept == dataclasses.replace(again, last_event_index=9)


def test_events_attestations_and_shutdowns_change_only_known_nodes(store: RouterStore) -> None:
    assert store.record_event(OTHER, 1, 5.0) is False
    assert store.record_attestation(OTHER, b"x", True, "{}", 5.0) is False
    assert store.record_shutdown(OTHER, 1, 5.0) is False
    assert store.remove(OTHER) is False
    assert store.nodes() == []
    store.admit(record())
    assert store.record_event(NODE, 7, 150.0) is True
    assert store.record_event(NODE, 5, 160.0) is True  # an older index still refreshes the time
    (kept,) = store.nodes()
    assert (kept.last_event_index, kept.last_event_at) == (7, 160.0)
    assert store.record_attestation(NODE, None, False, '{"failed": ["x"]}', 170.0) is True
    (kept,) = store.nodes()
    assert (kept.attested, kept.verdict, kept.attested_at, kept.evidence) == (False, '{"failed": ["x"]}', 170.0, b"\x0a\x02ev")
    assert store.record_attestation(NODE, b"fresh", True, "{}", 180.0) is True
    assert store.nodes()[0].evidence == b"fresh"
    assert store.record_shutdown(NODE, 6, 190.0) is False  # older than the last event: a stale shutdown
    assert store.nodes()[0].shutdown_at is None
    assert store.record_shutdown(NODE, 8, 190.0) is True
    assert store.nodes()[0].shutdown_at == 190.0
    store.admit(record(last_event_index=9))  # re-admission clears the shutdown
    assert store.nodes()[0].shutdown_at is None
    assert store.remove(NODE) is True
    assert store.nodes() == []


def test_a_reopened_store_keeps_its_nodes(database: str) -> None:
    first = open_router_store(database)
    try:
        first.admit(record())
    finally:
        first.close()
    second = open_router_store(database)
    try:
        assert second.nodes() == [record()]
        second.ping()
    finally:
        second.close()


CLAIM = bytes(range(32))


def test_a_refund_is_taken_once_and_only_under_its_claim(store: RouterStore) -> None:
    assert store.take_refund(CLAIM, 10.0) is None
    assert store.put_refund(CLAIM, "refund-text", 100.0) is True
    assert store.put_refund(CLAIM, "another", 200.0) is False  # the first one stays
    assert store.take_refund(bytes(32), 10.0) is None  # another claim: nothing, nothing changes
    assert store.take_refund(CLAIM, 10.0) == "refund-text"
    assert store.take_refund(CLAIM, 10.0) is None


def test_an_expired_refund_is_not_handed_out_and_is_purged(store: RouterStore) -> None:
    store.put_refund(CLAIM, "old", 50.0)
    store.put_refund(bytes(32), "young", 500.0)
    assert store.take_refund(CLAIM, 50.0) is None
    assert store.purge_refunds(100.0) == 1
    assert store.take_refund(bytes(32), 100.0) == "young"


def test_a_claim_must_be_a_sha256(store: RouterStore) -> None:
    from openpcc.exceptions import StoreError

    with pytest.raises(StoreError):  # the table's CHECK
        store.put_refund(b"short", "x", 100.0)
    assert store.take_refund(b"short", 0.0) is None


def test_a_reopened_store_keeps_its_refunds(database: str) -> None:
    first = open_router_store(database)
    try:
        first.put_refund(CLAIM, "kept", 1e12)
    finally:
        first.close()
    second = open_router_store(database)
    try:
        assert second.take_refund(CLAIM, 0.0) == "kept"
    finally:
        second.close()
