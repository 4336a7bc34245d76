"""The audit log as an auditor meets it: every change is a record sealed into a hash chain at commit;
`GET /audit/verify` (and `o2c audit verify`) says the chain holds; the database refuses edits and
deletes; and when an owner goes around the database (trigger disabled), verify names each record that
was changed, deleted or slipped in."""
from __future__ import annotations

import threading
from contextlib import contextmanager

import pytest
from sqlalchemy import insert, select, text
from typer.testing import CliRunner

from o2c.cli import app as cli_app
from o2c.core import audit, clock
from o2c.core.auth import SYSTEM
from o2c.core.db import get_engine, make_engine, read_session, transaction
from o2c.core.models import AuditChainHead, AuditRecord
from tests.api import order_body
from tests.concurrency.support import wide_pool


def _records() -> list[AuditRecord]:
    with read_session() as s:
        rows = list(s.scalars(select(AuditRecord).order_by(AuditRecord.seq)))
        s.expunge_all()  # kept as they are now, not expired by the read session's rollback
        return rows


def _verify() -> audit.Report:
    with read_session() as s:
        return audit.verify(s)


@contextmanager
def owner(url: str):
    """A connection as the database's owner, with the append-only triggers out of the way for the length
    of one transaction (PostgreSQL: disabled; SQLite: dropped and created again)."""
    engine = make_engine(url)
    try:
        with engine.begin() as c:
            if c.dialect.name == "postgresql":
                c.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
                yield c
                c.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))
            else:
                saved = c.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                                       "AND tbl_name = 'audit_log'")).all()
                assert len(saved) == 2
                for name, _ in saved:
                    c.execute(text(f"DROP TRIGGER {name}"))
                yield c
                for _, sql in saved:
                    c.execute(text(sql))
    finally:
        engine.dispose()


def _kinds(report: audit.Report) -> list[tuple[str, int | None]]:
    return [(p.kind, p.id) for p in report.problems]


def test_the_auditor_follows_an_order_through_the_sealed_chain_and_catches_every_tampering(api, world, db):
    # The world was built through the services: every record is sealed, in order, from seq 1.
    before = _records()
    assert before and [r.seq for r in before] == list(range(1, len(before) + 1))
    assert before[0].prev_hash == audit.GENESIS
    assert all(r.hash and r.data_hash and r.prev_hash == p.hash for p, r in zip(before, before[1:]))

    # The desk enters an order and cancels it: two more records, chained after the world's.
    cut = clock.now()
    order = api.post("/orders", json=order_body("BIGBUY")).json()
    assert api.post(f"/orders/{order['id']}/cancel", json={"reason": "customer changed their mind"}).status_code == 200
    page = api.get("/audit", user="auditor", params={"entity": "order", "entity_id": order["id"]}).json()
    actions = [i["action"] for i in page["items"]]
    assert actions[0] == "cancelled" and actions[-1] == "captured", actions
    assert all(i["seq"] > before[-1].seq and len(i["hash"]) == 64 for i in page["items"])
    assert api.get("/audit", user="auditor", params={"actor": "desk"}).json()["items"][0]["action"] == "cancelled"
    recent = api.get("/audit", user="auditor", params={"since": cut.isoformat()}).json()["items"]
    assert {(i["entity"], i["entity_id"]) for i in recent} == {("order", order["id"])}
    first = api.get("/audit", user="auditor", params={"limit": 1}).json()
    second = api.get("/audit", user="auditor", params={"limit": 1, "cursor": first["next_cursor"]}).json()
    assert [i["action"] for i in first["items"] + second["items"]] == actions[:2]

    # The chain verifies; its head is the last record's hash (written down elsewhere, it proves the past).
    checked = api.get("/audit/verify", user="auditor").json()
    last = _records()[-1]
    assert (checked["ok"], checked["problems"]) == (True, [])
    assert (checked["records"], checked["head_seq"], checked["head_hash"]) == (last.seq, last.seq, last.hash)
    # Only auditors (audit.read) read the log; the desk is refused.
    assert api.get("/audit", user="desk").status_code == 403
    assert api.get("/audit/verify", user="viewer").status_code == 403

    # The database refuses to change or delete a sealed record, even to its application.
    target = _records()[5]
    for statement in (f"UPDATE audit_log SET reason = 'nothing happened' WHERE id = {target.id}",
                      f"UPDATE audit_log SET seq = seq + 1000 WHERE id = {target.id}",
                      f"DELETE FROM audit_log WHERE id = {target.id}"):
        with pytest.raises(Exception, match="append-only"):
            with get_engine().begin() as c:
                c.execute(text(statement))
    assert _verify().ok

    # An owner goes around the triggers: edits a field, edits data, deletes a record in the middle.
    records = _records()
    edited, data_edited, deleted = records[3], records[7], records[10]
    with owner(db) as c:
        c.execute(text(f"UPDATE audit_log SET actor = 'someone else' WHERE id = {edited.id}"))
        c.execute(text(f"UPDATE audit_log SET data = NULL WHERE id = {data_edited.id}"))
        c.execute(text(f"DELETE FROM audit_log WHERE id = {deleted.id}"))
    report = api.get("/audit/verify", user="auditor").json()
    assert report["ok"] is False
    found = {(p["kind"], p["id"] or p["seq"]) for p in report["problems"]}
    assert ("changed", edited.id) in found
    assert ("data_changed", data_edited.id) in found
    assert ("missing", deleted.seq) in found
    assert len(report["problems"]) == 3, report["problems"]


def test_deleting_the_newest_records_is_caught_by_the_head(world, db):
    last = _records()[-2:]
    with owner(db) as c:
        c.execute(text(f"DELETE FROM audit_log WHERE id IN ({last[0].id}, {last[1].id})"))
    report = _verify()
    assert _kinds(report) == [("head_mismatch", None)]
    assert report.problems[0].seq == last[0].seq - 1


def test_a_record_slipped_in_without_sealing_or_forged_after_the_head_is_reported(world, db):
    row = {"company_id": world["ids"]["company"], "at": clock.now(), "actor_id": None, "actor": "ghost",
           "entity": "order", "entity_id": 1, "action": "approved"}
    with owner(db) as c:
        c.execute(insert(AuditRecord.__table__).values(**row))
        head = c.execute(select(AuditChainHead.seq)).scalar()
        c.execute(insert(AuditRecord.__table__).values(**row, seq=head + 1, prev_hash="0" * 64,
                                                       data_hash="0" * 64, hash="f" * 64))
    ids = [r.id for r in _records() if r.actor == "ghost"]
    unsealed = min(ids)
    assert _kinds(_verify()) == [("unsealed", unsealed), ("beyond_head", max(ids))]


def test_a_redaction_keeps_the_chain_and_a_redaction_nobody_recorded_is_reported(world, db):
    target, sneaky = _records()[2], _records()[4]

    def erase(s):
        return audit.redact(s, SYSTEM, {target.id: {"erased": True}}, entity="contact", entity_id=1,
                            company_id=world["ids"]["company"], reason="erasure request")

    assert transaction(erase) == [target.id]
    after = {r.id: r for r in _records()}
    assert after[target.id].data == {"erased": True} and after[target.id].redacted_at is not None
    assert (after[target.id].hash, after[target.id].data_hash) == (target.hash, target.data_hash)
    recorded = [r for r in after.values() if r.action == audit.REDACTED_ACTION]
    assert [r.data for r in recorded] == [{"redacted_ids": [target.id]}] and recorded[0].seq is not None
    assert _verify().ok
    # The same change made quietly by an owner (the application's UPDATE would be allowed, so it is
    # made as the redaction would be, but no redaction record names it): verify reports it.
    with get_engine().begin() as c:
        c.execute(text(f"UPDATE audit_log SET data = NULL, redacted_at = '2026-01-01 00:00:00' WHERE id = {sneaky.id}"))
    assert _kinds(_verify()) == [("unrecorded_redaction", sneaky.id)]


def test_the_command_prints_the_head_and_exits_1_on_a_broken_chain(world, db):
    runner = CliRunner()
    ok = runner.invoke(cli_app, ["audit", "verify", "--database-url", db])
    assert ok.exit_code == 0, ok.output
    assert _records()[-1].hash in ok.output and "ok" in ok.output
    victim = _records()[1]
    with owner(db) as c:
        c.execute(text(f"UPDATE audit_log SET reason = 'rewritten' WHERE id = {victim.id}"))
    broken = runner.invoke(cli_app, ["audit", "verify", "--database-url", db])
    assert broken.exit_code == 1, broken.output
    assert f"record {victim.id}" in broken.output and "changed" in broken.output


def test_records_left_unsealed_are_sealed_by_the_next_commit_or_the_command(world, db, monkeypatch):
    monkeypatch.setattr(audit, "sealing_enabled", False)
    transaction(lambda s: audit.record(s, SYSTEM, "order", 1, "noted", company_id=world["ids"]["company"]))
    assert [k for k, _ in _kinds(_verify())] == ["unsealed"]
    result = CliRunner().invoke(cli_app, ["audit", "seal", "--database-url", db])
    assert result.exit_code == 0 and "sealed 1" in result.output, result.output
    assert _verify().ok
    transaction(lambda s: audit.record(s, SYSTEM, "order", 1, "noted again", company_id=world["ids"]["company"]))
    monkeypatch.setattr(audit, "sealing_enabled", True)
    transaction(lambda s: audit.record(s, SYSTEM, "order", 1, "and again", company_id=world["ids"]["company"]))
    report = _verify()
    assert report.ok and [r.action for r in _records()[-2:]] == ["noted again", "and again"]


def test_many_writers_at_once_leave_one_unbroken_chain(pg, monkeypatch):
    from tests.world import make

    world = make()
    wide_pool(monkeypatch, 12)
    start = len(_records())
    errors: list[BaseException] = []

    def writer(n: int):
        try:
            for i in range(25):
                transaction(lambda s: [audit.record(s, SYSTEM, "order", n, f"step {i}.{k}",
                                                    company_id=world["ids"]["company"], data={"n": n, "i": i})
                                       for k in range(2)])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    records = _records()
    assert len(records) == start + 10 * 25 * 2
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    report = _verify()
    assert report.ok and report.records == len(records), report.problems[:3]
    # A transaction's records are sealed together, one after the other.
    for n in range(10):
        steps = [r for r in records if r.entity == "order" and r.entity_id == n and r.action.startswith("step ")]
        pairs = {}
        for r in steps:
            pairs.setdefault(r.data["i"], []).append(r.seq)
        assert all(b == a + 1 for a, b in pairs.values())


def test_a_leftover_sealed_by_another_transaction_first_makes_the_commit_run_again(pg, monkeypatch):
    from tests.world import make

    world = make()
    cid = world["ids"]["company"]
    monkeypatch.setattr(audit, "sealing_enabled", False)
    transaction(lambda s: audit.record(s, SYSTEM, "order", 1, "left over", company_id=cid))
    monkeypatch.setattr(audit, "sealing_enabled", True)
    real_lock, attempts = audit._lock_head, []

    def lock_after_someone_else_sealed(session):
        attempts.append(1)
        if len(attempts) == 1:  # between our read of the unsealed records and our lock, another commit seals them
            t = threading.Thread(target=lambda: transaction(audit.seal))
            t.start()
            t.join()
        return real_lock(session)

    monkeypatch.setattr(audit, "_lock_head", lock_after_someone_else_sealed)
    transaction(lambda s: audit.record(s, SYSTEM, "order", 1, "mine", company_id=cid))
    assert len(attempts) == 3  # the other's seal, our refused attempt, our retry
    assert _verify().ok
    assert [r.action for r in _records()[-2:]] == ["left over", "mine"]


def test_a_deleted_head_is_reported_and_the_chain_still_walked(world, db):
    victim = _records()[3]
    with owner(db) as c:
        c.execute(text("DELETE FROM audit_chain_head"))
        c.execute(text(f"UPDATE audit_log SET reason = 'rewritten' WHERE id = {victim.id}"))
    report = _verify()
    assert _kinds(report) == [("head_mismatch", None), ("changed", victim.id)]
    assert report.records == len(_records())
