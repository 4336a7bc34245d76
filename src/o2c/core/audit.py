"""The audit log: one record per change, in the transaction of the change, chained by hashes.

Writing: `record` adds a row and marks the session; at COMMIT the session's `before_commit` hook
(o2c.core.db) calls `seal`, which locks the chain's head row, gives every unsealed record (its own, and
any committed leftovers) the next position `seq`, the hash of its data and a hash over its fields and the
previous record's hash, then moves the head. The head lock is taken last, after the transaction's own
work, so it is held only until COMMIT and never waits behind the transaction's other row locks.

Checking: `verify` walks the chain in seq order and reports every record that was changed, deleted,
inserted without sealing, or redacted without a record of the redaction, and a head that does not match
the last record. The database refuses DELETE and any UPDATE other than sealing and redaction (triggers,
migration 0010); verify is what catches an owner who goes around them.

Redaction (privacy erasure): a record's `data` may be replaced by a pseudonymised copy with
`redacted_at` set; its hashes stay, so the chain still verifies, and the redaction is itself a sealed
record (`audit_redacted`, naming the redacted ids) that verify requires.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from sqlalchemy import and_, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from o2c.core import clock
from o2c.core.auth import Actor
from o2c.core.models import AuditChainHead, AuditRecord

GENESIS = "0" * 64
HEAD_ID = 1
UNSEALED = "o2c_audit_unsealed"  # session.info key: this transaction wrote audit records
REDACTED_ACTION = "audit_redacted"

# Turned off only by the benchmark that measures what sealing costs; records stay unsealed meanwhile
# and the next sealing commit picks them up.
sealing_enabled = True

_T = AuditRecord.__table__
_HEAD = AuditChainHead.__table__
# The fields a record's hash covers, in this order (data through its own hash).
_FIELDS = ("id", "seq", "company_id", "at", "actor_id", "actor", "entity", "entity_id", "action",
           "from_status", "to_status", "reason")


def record(
    session: Session,
    actor: Actor,
    entity: str,
    entity_id: int,
    action: str,
    *,
    company_id: int | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    reason: str | None = None,
    data: dict | None = None,
) -> None:
    session.add(
        AuditRecord(
            company_id=company_id,
            at=clock.now(),
            actor_id=actor.user_id,
            actor=actor.username,
            entity=entity,
            entity_id=entity_id,
            action=action,
            from_status=from_status,
            to_status=to_status,
            reason=reason,
            data=data,
        )
    )
    mark(session)


def mark(session: Session) -> None:
    """Note that this transaction wrote audit records: they are sealed when it commits. Code that
    inserts audit rows directly (bulk capture) calls this too."""
    session.info[UNSEALED] = True


def history(session: Session, entity: str, entity_id: int) -> list[AuditRecord]:
    return list(
        session.scalars(
            select(AuditRecord)
            .where(AuditRecord.entity == entity, AuditRecord.entity_id == entity_id)
            .order_by(AuditRecord.id)
        )
    )


# ---------------------------------------------------------------- hashing (pure)

def canonical(value) -> str:
    """JSON with sorted keys and no spaces: the same data gives the same text on both databases."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def data_hash(data) -> str:
    return hashlib.sha256(canonical(data).encode()).hexdigest()


def _field(value):
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    return value


def record_hash(prev_hash: str, row: dict, dhash: str) -> str:
    """The hash of a record: the previous record's hash, its fields and the hash of its data."""
    body = canonical([_field(row[f]) for f in _FIELDS] + [dhash])
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


# ---------------------------------------------------------------- sealing (at commit)

def _lock_head(session: Session) -> tuple[int, str]:
    conn = session.connection()
    stmt = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == HEAD_ID)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:  # the first record ever: create the head; a racing creator's row wins, then lock it
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        conn.execute(insert(_HEAD).values(id=HEAD_ID, seq=0, hash=GENESIS, updated_at=clock.now())
                     .on_conflict_do_nothing(index_elements=["id"]))
        row = conn.execute(stmt).first()
    return row.seq, row.hash


class SealRace(Exception):
    """A committed leftover this transaction meant to seal was sealed by another one first: run again."""

    o2c_retryable = True  # o2c.core.db.is_retryable


def seal(session: Session) -> int:
    """Chain every unsealed record after the head; returns how many were sealed. Runs in the caller's
    transaction (normally from the before_commit hook).

    The records are read before the head is locked, so under the lock there are only the hashing, one
    statement and the COMMIT (on PostgreSQL the rows and the head are updated in one statement): the
    lock is held as briefly as possible. Own records cannot change meanwhile; a committed leftover can be
    sealed by another transaction first, which the update's count reveals (SealRace, retried)."""
    session.flush()
    session.info.pop(UNSEALED, None)
    conn = session.connection()
    rows = conn.execute(select(_T).where(_T.c.seq.is_(None)).order_by(_T.c.id)).mappings().all()
    if not rows:
        return 0
    hashed = [(row, data_hash(row["data"])) for row in rows]
    seq, prev = _lock_head(session)
    ids, seqs, prevs, dhs, hs = [], [], [], [], []
    for row, dh in hashed:
        seq += 1
        h = record_hash(prev, {**row, "seq": seq}, dh)
        ids.append(row["id"]), seqs.append(seq), prevs.append(prev), dhs.append(dh), hs.append(h)
        prev = h
    now = clock.now()
    if conn.dialect.name == "postgresql":
        done = conn.execute(text(
            "WITH head AS (UPDATE audit_chain_head SET seq = :seq, hash = :hash, updated_at = :now WHERE id = :hid) "
            "UPDATE audit_log AS a SET seq = v.seq, prev_hash = v.prev, data_hash = v.dh, hash = v.h "
            "FROM unnest(CAST(:ids AS bigint[]), CAST(:seqs AS bigint[]), CAST(:prevs AS text[]), "
            "CAST(:dhs AS text[]), CAST(:hs AS text[])) AS v(id, seq, prev, dh, h) "
            "WHERE a.id = v.id AND a.seq IS NULL"),
            {"seq": seq, "hash": prev, "now": now, "hid": HEAD_ID, "ids": ids, "seqs": seqs, "prevs": prevs,
             "dhs": dhs, "hs": hs}).rowcount
    else:
        done = conn.execute(
            update(_T).where(and_(_T.c.id == bindparam("rid"), _T.c.seq.is_(None)))
            .values(seq=bindparam("s"), prev_hash=bindparam("p"), data_hash=bindparam("d"), hash=bindparam("h")),
            [{"rid": i, "s": q, "p": p, "d": d, "h": h} for i, q, p, d, h in zip(ids, seqs, prevs, dhs, hs)]).rowcount
        conn.execute(update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(seq=seq, hash=prev, updated_at=now))
    if done != len(ids):
        raise SealRace(f"{len(ids) - done} audit record(s) were sealed by another transaction meanwhile")
    return len(ids)


def seal_on_commit(session: Session) -> None:
    """The before_commit hook's work: seal when this transaction wrote audit records."""
    if session.info.get(UNSEALED) and sealing_enabled:
        seal(session)


# ---------------------------------------------------------------- redaction (privacy erasure)

def redact(session: Session, actor: Actor, replacements: dict[int, dict | None], *, entity: str, entity_id: int,
           company_id: int | None, reason: str) -> list[int]:
    """Replace the data of sealed records (id -> new data) keeping their hashes, and record the redaction.
    Unsealed records are sealed first, so every redacted record has the hash of its original data."""
    if not replacements:
        return []
    seal(session)
    now = clock.now()
    ids = sorted(replacements)
    session.connection().execute(
        update(_T).where(_T.c.id == bindparam("rid")).values(data=bindparam("new", type_=_T.c.data.type),
                                                             redacted_at=bindparam("when")),
        [{"rid": i, "new": replacements[i], "when": now} for i in ids])
    record(session, actor, entity, entity_id, REDACTED_ACTION, company_id=company_id, reason=reason,
           data={"redacted_ids": ids})
    return ids


# ---------------------------------------------------------------- verifying

@dataclass
class Problem:
    kind: str  # changed, data_changed, missing, broken_link, unsealed, unrecorded_redaction, head_mismatch, beyond_head
    message: str
    seq: int | None = None
    id: int | None = None


@dataclass
class Report:
    records: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    redacted: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict:
        return {"ok": self.ok, **asdict(self)}


def verify(session: Session, limit: int = 1000) -> Report:
    """Walk the chain in seq order and report what does not hold (at most `limit` problems)."""
    conn = session.connection()
    head = conn.execute(select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == HEAD_ID)).first()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    report = Report(head_seq=head_seq, head_hash=head_hash)
    problems = report.problems

    def add(kind, message, seq=None, rid=None):
        if len(problems) < limit:
            problems.append(Problem(kind, message, seq, rid))

    if head is None:  # no head row: fine for an empty log; otherwise it was deleted. Walk what is there.
        last = conn.execute(select(_T.c.seq, _T.c.hash).where(_T.c.seq.is_not(None))
                            .order_by(_T.c.seq.desc()).limit(1)).first()
        if last is not None:
            add("head_mismatch", f"the chain's head row is missing, yet records up to seq {last.seq} are sealed")
            head_seq, head_hash = last.seq, last.hash

    redaction_ids: set[int] = set()
    redacted_rows: list[tuple[int, int]] = []
    expected, prev = 1, GENESIS
    rows = conn.execute(select(_T).where(_T.c.seq.is_not(None), _T.c.seq <= head_seq).order_by(_T.c.seq),
                        execution_options={"yield_per": 2000}).mappings()
    for row in rows:
        report.records += 1
        seq = row["seq"]
        if seq != expected:
            add("missing", f"records with seq {expected}..{seq - 1} are missing (deleted)", expected)
            prev = row["prev_hash"]  # carry on from the record that is there, to find more problems
        if row["prev_hash"] != prev:
            add("broken_link", f"record {row['id']} (seq {seq}) does not follow the record before it", seq, row["id"])
        if row["redacted_at"] is not None:
            report.redacted += 1
            redacted_rows.append((row["id"], seq))
        elif data_hash(row["data"]) != row["data_hash"]:
            add("data_changed", f"record {row['id']} (seq {seq}): its data was changed", seq, row["id"])
        if record_hash(row["prev_hash"] or "", row, row["data_hash"] or "") != row["hash"]:
            add("changed", f"record {row['id']} (seq {seq}) was changed after it was sealed", seq, row["id"])
        if row["action"] == REDACTED_ACTION and isinstance(row["data"], dict):
            redaction_ids.update(row["data"].get("redacted_ids") or ())
        expected, prev = seq + 1, row["hash"]
    last = expected - 1
    if last != head_seq or prev != head_hash:
        add("head_mismatch", f"the chain ends at seq {last} but the head says seq {head_seq}: "
                             "records at the end were deleted or the head was changed", last)
    for rid, seq in redacted_rows:
        if rid not in redaction_ids:
            add("unrecorded_redaction", f"record {rid} (seq {seq}) is marked redacted but no sealed record "
                                        "of a redaction names it", seq, rid)
    for rid in conn.execute(select(_T.c.id).where(_T.c.seq.is_(None)).order_by(_T.c.id)).scalars():
        add("unsealed", f"record {rid} was inserted without being sealed", None, rid)
    again = conn.execute(select(_HEAD.c.seq).where(_HEAD.c.id == HEAD_ID)).scalar()
    if again == (head_seq if head else None) and head:  # the head did not move meanwhile: rows past it are strays
        for rid, seq in conn.execute(select(_T.c.id, _T.c.seq).where(_T.c.seq > head_seq).order_by(_T.c.seq)):
            add("beyond_head", f"record {rid} has seq {seq}, after the head", seq, rid)
    return report


def chain_length(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(_T).where(_T.c.seq.is_not(None))) or 0


# ---------------------------------------------------------------- reading (auditors)

def search(session: Session, actor: Actor, company_id: int, *, entity: str | None = None,
           entity_id: int | None = None, actor_name: str | None = None, since: datetime | None = None,
           before_id: int | None = None, limit: int = 100) -> list[dict]:
    """The company's audit records (and those of no company: users, the conflict matrix), newest first."""
    from o2c.core.auth import require

    require(actor, "audit.read")
    stmt = select(_T).where((_T.c.company_id == company_id) | _T.c.company_id.is_(None))
    if entity:
        stmt = stmt.where(_T.c.entity == entity)
    if entity_id is not None:
        stmt = stmt.where(_T.c.entity_id == entity_id)
    if actor_name:
        stmt = stmt.where(_T.c.actor == actor_name)
    if since is not None:
        since = since if since.tzinfo else since.replace(tzinfo=timezone.utc)  # a time without offset is UTC
        stmt = stmt.where(_T.c.at >= since)
    if before_id is not None:
        stmt = stmt.where(_T.c.id < before_id)
    rows = session.connection().execute(stmt.order_by(_T.c.id.desc()).limit(limit)).mappings()
    return [dict(r) for r in rows]


def verify_as(session: Session, actor: Actor) -> Report:
    from o2c.core.auth import require

    require(actor, "audit.read")
    return verify(session)
