"""Sanctions screening of customers: load a published list, screen customers against it, decide hits.

A customer whose legal name or a trading name matches a listed party (o2c.compliance.sanctions, at the
threshold) gets a screening hit and goes on compliance hold, and with it its orders (o2c.compliance.gate).
A compliance officer decides each hit once: a true match blocks the customer; a false positive lifts
the hold when no other hit keeps it, and the same name is not flagged again for the same listed party.
Loading a new list screens every customer again. The customer master is global, so the lists, hits and
holds are too: their timeline records carry no company (they show in every company's timeline).
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from threading import Lock

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from o2c.compliance import sanctions
from o2c.compliance.models import SanctionsEntry, SanctionsListLoad, ScreeningHit
from o2c.core import audit, clock, events
from o2c.core.auth import Actor, require
from o2c.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from o2c.customers.models import Customer, CustomerAccount, CustomerAddress

SOURCE = "OFAC SDN"
FILES = ("sdn.csv", "alt.csv", "add.csv", "sdn_comments.csv")
# A customer is a person or a company: vessels and aircraft are listed as property, not as parties one
# trades with, and a company named like a ship ("NS Leader") would only make false hits.
PARTY_TYPES = ("individual", "entity")
THRESHOLD = sanctions.DEFAULT_THRESHOLD

OPEN, TRUE_MATCH, FALSE_POSITIVE = "open", "true_match", "false_positive"
DECISIONS = (TRUE_MATCH, FALSE_POSITIVE)
HOLDING = (OPEN, TRUE_MATCH)  # hits that keep a customer on compliance hold


# -- reading the files ------------------------------------------------------------------------------

def _decode(name: str, raw: bytes | str) -> str:
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise sanctions.SanctionsFileError(name, raw[:e.start].count(b"\n") + 1, "not UTF-8 text") from None


def fingerprint(files: dict[str, bytes | str]) -> str:
    """SHA-256 of the files as given (names and contents, in name order): the same files, the same list."""
    h = hashlib.sha256()
    for name in sorted(files):
        raw = files[name]
        h.update(name.encode() + b"\0" + (raw.encode() if isinstance(raw, str) else raw) + b"\0")
    return h.hexdigest()


def parse_files(files: dict[str, bytes | str]) -> sanctions.SanctionsList:
    """The list in the files; refuses unknown file names, a missing sdn.csv and any broken row."""
    unknown = sorted(set(files) - set(FILES))
    if unknown:
        raise ValidationFailed.one(unknown[0], "unknown_file",
                                   f"{', '.join(unknown)}: not a file of the list; send {', '.join(FILES)}")
    if "sdn.csv" not in files:
        raise ValidationFailed.one("sdn.csv", "required", "sdn.csv (the listed parties) is required")
    texts = {name: _decode(name, raw) for name, raw in files.items()}
    return sanctions.build(
        sanctions.read_sdn(texts["sdn.csv"]),
        sanctions.read_add(texts["add.csv"]) if "add.csv" in texts else [],
        sanctions.read_alt(texts["alt.csv"]) if "alt.csv" in texts else [],
        sanctions.read_comments(texts["sdn_comments.csv"]) if "sdn_comments.csv" in texts else [],
    )


# -- entries as stored, and the index built from them -------------------------------------------------

def _entry_row(list_id: int, e: sanctions.Entry) -> dict:
    return {
        "list_id": list_id, "uid": e.uid, "name": e.name, "sdn_type": e.type, "programs": list(e.programs),
        "data": {"title": e.title, "remarks": e.remarks,
                 "aliases": [[a.uid, a.kind, a.name, a.remarks] for a in e.aliases],
                 "addresses": [[a.uid, a.address, a.city, a.country, a.remarks] for a in e.addresses]},
    }


def _entry(uid: int, name: str, sdn_type: str | None, programs: list, data: dict) -> sanctions.Entry:
    return sanctions.Entry(
        uid, name, sdn_type or "entity", tuple(programs or ()), data.get("title"), data.get("remarks"),
        tuple(sanctions.Alias(*a) for a in data.get("aliases", ())),
        tuple(sanctions.Address(*a) for a in data.get("addresses", ())),
    )


# One index per process per list load. Keyed by id and fingerprint: ids can be used again (a rolled-back
# load on SQLite, a test database emptied), and the same files make the same index.
_indexes: dict[tuple[int, str], sanctions.ScreeningIndex] = {}
_indexes_lock = Lock()
_KEEP = 2  # the active list and the one before it


def _remember(load: SanctionsListLoad, index: sanctions.ScreeningIndex) -> sanctions.ScreeningIndex:
    with _indexes_lock:
        _indexes[(load.id, load.sha256)] = index
        while len(_indexes) > _KEEP:
            _indexes.pop(next(iter(_indexes)))
    return index


def index_for(session: Session, load: SanctionsListLoad) -> sanctions.ScreeningIndex:
    """The screening index of a load, built from its stored entries the first time this process needs it."""
    with _indexes_lock:
        found = _indexes.get((load.id, load.sha256))
    if found is not None:
        return found
    rows = session.execute(select(SanctionsEntry.uid, SanctionsEntry.name, SanctionsEntry.sdn_type,
                                  SanctionsEntry.programs, SanctionsEntry.data)
                           .where(SanctionsEntry.list_id == load.id,
                                  SanctionsEntry.sdn_type.in_(PARTY_TYPES)))
    entries = {r.uid: _entry(*r) for r in rows}
    return _remember(load, sanctions.ScreeningIndex(sanctions.SanctionsList(entries)))


def active_load(session: Session) -> SanctionsListLoad | None:
    """The list customers are screened against: the newest active load."""
    return session.scalar(select(SanctionsListLoad).where(SanctionsListLoad.active.is_(True))
                          .order_by(SanctionsListLoad.id.desc()).limit(1))


# -- screening ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Target:
    id: int
    code: str
    legal_name: str
    trading_names: tuple[str, ...]
    country: str | None

    def party(self) -> sanctions.Party:
        return sanctions.Party(self.legal_name, self.country, self.trading_names)


def _names(trading_names) -> tuple[str, ...]:
    return tuple(n for n in (trading_names or ()) if isinstance(n, str) and n.strip())


def _billing_country(session: Session, customer_id: int) -> str | None:
    return session.scalar(select(CustomerAddress.country)
                          .where(CustomerAddress.customer_id == customer_id, CustomerAddress.kind == "billing")
                          .order_by(CustomerAddress.is_default.desc(), CustomerAddress.id).limit(1))


def _known(session: Session, customer_ids: list[int] | None = None) -> dict[int, dict[tuple[int, str], str]]:
    """Per customer, the hits it has: (entry uid, matched name) -> status."""
    stmt = select(ScreeningHit.customer_id, ScreeningHit.entry_uid, ScreeningHit.matched_name, ScreeningHit.status)
    if customer_ids is not None:
        stmt = stmt.where(ScreeningHit.customer_id.in_(customer_ids))
    out: dict[int, dict[tuple[int, str], str]] = defaultdict(dict)
    for cid, uid, name, status in session.execute(stmt.order_by(ScreeningHit.id)):
        # An open or true hit counts over an older decided one for the same name.
        if out[cid].get((uid, name)) not in HOLDING:
            out[cid][(uid, name)] = status
    return out


def _hit(customer_id: int, load: SanctionsListLoad, m: sanctions.Match, now) -> ScreeningHit:
    e = m.entry
    return ScreeningHit(
        customer_id=customer_id, list_id=load.id, entry_uid=e.uid, entry_name=e.name[:400],
        matched_name=m.party_name[:400], listed_name=m.list_name[:400],
        score=Decimal(str(m.score)).quantize(Decimal("0.01")),
        details={"programs": list(e.programs), "type": e.type, "countries": sorted(e.countries),
                 "listed_name_kind": m.list_name_kind, "reasons": list(m.reasons), "source": load.source},
        status=OPEN, created_at=now,
    )


def _open_hits(session: Session, actor: Actor, target: _Target, load: SanctionsListLoad,
               matches: list[sanctions.Match], known: dict[tuple[int, str], str]) -> list[ScreeningHit]:
    """A hit per match not seen before: a name already open, confirmed or cleared for the same listed
    party is not flagged again."""
    now = clock.now()
    hits = [_hit(target.id, load, m, now) for m in matches if (m.entry.uid, m.party_name[:400]) not in known]
    if not hits:
        return []
    session.add_all(hits)
    session.flush()
    for h in hits:
        known[(h.entry_uid, h.matched_name)] = OPEN
        audit.record(session, actor, "customer", target.id, "screening_hit",
                     reason=f"{h.matched_name!r} matches {h.listed_name!r} ({load.source} {h.entry_uid}, "
                            f"{', '.join(h.details['programs']) or 'no program'}), score {h.score}",
                     data={"hit_id": h.id, "list_id": load.id, "entry_uid": h.entry_uid, "score": str(h.score)})
        events.emit(session, "screening.hit_opened",
                    {"hit_id": h.id, "customer_id": target.id, "customer_code": target.code,
                     "entry_uid": h.entry_uid, "listed_name": h.listed_name, "score": str(h.score)},
                    company_id=None, entity_id=h.id)
    return hits


def _lock_customer(session: Session, customer_id: int) -> Customer:
    c = session.get(Customer, customer_id, with_for_update=True, populate_existing=True)
    if c is None:
        raise NotFound(f"customer {customer_id} not found")
    return c


def _sync_hold(session: Session, actor: Actor, customer: Customer, why: str) -> bool:
    """Hold the customer while a hit is open or confirmed, release it otherwise; its live orders are
    checked again when the hold changes. True when it changed."""
    session.flush()
    wanted = session.scalar(select(ScreeningHit.id).where(ScreeningHit.customer_id == customer.id,
                                                          ScreeningHit.status.in_(HOLDING)).limit(1)) is not None
    if wanted == bool(customer.compliance_hold):
        return False
    customer.compliance_hold = wanted
    audit.record(session, actor, "customer", customer.id, "compliance_hold" if wanted else "compliance_hold_lifted",
                 reason=why, data={"compliance_hold": wanted})
    events.emit(session, "customer.compliance_hold", {"customer_id": customer.id, "compliance_hold": wanted},
                company_id=None, entity_id=customer.id)
    session.flush()
    from o2c.orders import service as orders  # orders build on customers; compliance reacts after them

    orders.recheck_customer(session, actor, customer.id, why)
    return True


def _screen(session: Session, actor: Actor, target: _Target, load: SanctionsListLoad,
            index: sanctions.ScreeningIndex, known: dict[tuple[int, str], str], *, always_record: bool
            ) -> tuple[list[ScreeningHit], bool]:
    """Screen one customer; (hits opened, whether its hold changed). Its screened_at is set by the caller."""
    matches = index.screen(target.party(), THRESHOLD)
    hits = _open_hits(session, actor, target, load, matches, known)
    if always_record or hits:
        audit.record(session, actor, "customer", target.id, "screened",
                     reason=f"screened against {load.source} list {load.id}: "
                            + (f"{len(matches)} match(es), {len(hits)} new hit(s)" if matches else "no match"),
                     data={"list_id": load.id, "matches": [[m.entry.uid, m.score] for m in matches],
                           "hits_opened": [h.id for h in hits]})
    changed = False
    holding = any(s in HOLDING for s in known.values())
    if always_record or holding:
        customer = _lock_customer(session, target.id)
        if holding != bool(customer.compliance_hold):
            changed = _sync_hold(session, actor, customer,
                                 f"sanctions screening against {load.source} list {load.id}")
    return hits, changed


def screen_customer(session: Session, actor: Actor, customer_id: int) -> list[ScreeningHit]:
    """Screen one customer (legal name and trading names, with its billing country) against the active
    list; returns the hits opened now. No list loaded, or a merged record: nothing happens. Called by
    the services that create or change a customer (their permission covers it); `screen_now` is the
    compliance officer's own request."""
    load = active_load(session)
    if load is None:
        if session.get(Customer, customer_id) is None:
            raise NotFound(f"customer {customer_id} not found")
        return []
    customer = _lock_customer(session, customer_id)
    if customer.merged_into_id is not None:
        return []
    target = _Target(customer.id, customer.code, customer.legal_name, _names(customer.trading_names),
                     _billing_country(session, customer.id))
    known = _known(session, [customer.id]).get(customer.id, {})
    hits, _ = _screen(session, actor, target, load, index_for(session, load), known, always_record=True)
    customer.screened_at, customer.screened_list_id = clock.now(), load.id
    return hits


def screen_now(session: Session, actor: Actor, customer_id: int) -> dict:
    """A compliance officer screens a customer now (screening.write): the customer's screening state."""
    require(actor, "screening.write")
    _check_access(session, actor, customer_id)
    if active_load(session) is None:
        raise Conflict("no sanctions list is loaded: load one first (POST /screening/lists)")
    hits = screen_customer(session, actor, customer_id)
    return customer_state(session, customer_id) | {"hits_opened": [hit_view(session, h) for h in hits]}


def customer_state(session: Session, customer_id: int) -> dict:
    c = session.get(Customer, customer_id)
    if c is None:
        raise NotFound(f"customer {customer_id} not found")
    return {"customer_id": c.id, "customer_code": c.code, "status": c.status, "compliance_hold": c.compliance_hold,
            "screened_at": c.screened_at, "screened_list_id": c.screened_list_id}


# -- loading a list -----------------------------------------------------------------------------------

def load_list(session: Session, actor: Actor, files: dict[str, bytes | str]) -> SanctionsListLoad:
    """Store a new list (sdn.csv with alt.csv, add.csv, sdn_comments.csv when given), make it the active
    one, and screen every customer against it. A broken row refuses the whole load (its file and line
    named) before anything is written; the files of the active list again are refused too (a load
    changes nothing then)."""
    require(actor, "screening.write")
    parsed = parse_files(files)
    sha = fingerprint(files)
    current = active_load(session)
    if current is not None and current.sha256 == sha:
        raise Conflict(f"these files are the active list already (load {current.id} of "
                       f"{current.loaded_at:%Y-%m-%d %H:%M} UTC)", load_id=current.id)
    load = SanctionsListLoad(
        source=SOURCE, sha256=sha, entries=len(parsed.entries), aliases=parsed.alias_count,
        addresses=parsed.address_count, loaded_by=actor.user_id, loaded_at=clock.now(),
        rescreened=0, hits_opened=0, active=True,
    )
    session.add(load)
    session.flush()
    session.execute(update(SanctionsListLoad)
                    .where(SanctionsListLoad.id != load.id, SanctionsListLoad.active.is_(True))
                    .values(active=False).execution_options(synchronize_session=False))
    rows = [_entry_row(load.id, e) for e in parsed.entries.values()]
    for start in range(0, len(rows), 2000):
        session.execute(insert(SanctionsEntry), rows[start:start + 2000])
    kept = {uid: e for uid, e in parsed.entries.items() if e.type in PARTY_TYPES}
    index = _remember(load, sanctions.ScreeningIndex(sanctions.SanctionsList(kept)))
    load.rescreened, load.hits_opened, held = _rescreen_all(session, actor, load, index)
    audit.record(session, actor, "sanctions_list", load.id, "loaded",
                 reason=f"{SOURCE} list: {load.entries} entries; {load.rescreened} customers screened again",
                 data={"sha256": sha, "files": sorted(files), "entries": load.entries, "aliases": load.aliases,
                       "addresses": load.addresses, "orphans": len(parsed.orphans),
                       "replaced": current.id if current else None, "rescreened": load.rescreened,
                       "hits_opened": load.hits_opened, "holds_placed": held})
    events.emit(session, "sanctions.list_loaded",
                {"list_id": load.id, "entries": load.entries, "rescreened": load.rescreened,
                 "hits_opened": load.hits_opened}, company_id=None, entity_id=load.id)
    session.flush()
    return load


def _rescreen_all(session: Session, actor: Actor, load: SanctionsListLoad,
                  index: sanctions.ScreeningIndex) -> tuple[int, int, int]:
    """Screen every customer (merged records left out) against the new list, in id order:
    (customers screened, hits opened, holds placed). Customers are read in one query, their countries
    and hits in one more each; only customers with a new hit or a changed hold are written one by one."""
    customers = session.execute(select(Customer.id, Customer.code, Customer.legal_name, Customer.trading_names)
                                .where(Customer.merged_into_id.is_(None)).order_by(Customer.id)).all()
    countries: dict[int, str | None] = {}
    for cid, country in session.execute(
            select(CustomerAddress.customer_id, CustomerAddress.country).where(CustomerAddress.kind == "billing")
            .order_by(CustomerAddress.customer_id, CustomerAddress.is_default, CustomerAddress.id.desc())):
        countries[cid] = country  # the last row per customer wins: its default billing address
    known = _known(session)
    opened = placed = 0
    for cid, code, name, trading in customers:
        target = _Target(cid, code, name, _names(trading), countries.get(cid))
        mine = known.get(cid, {})
        hits, changed = _screen(session, actor, target, load, index, mine, always_record=False)
        opened += len(hits)
        placed += int(changed)
    session.execute(update(Customer).where(Customer.merged_into_id.is_(None))
                    .values(screened_at=clock.now(), screened_list_id=load.id)
                    .execution_options(synchronize_session=False))
    for c in session.identity_map.values():  # rows already loaded: keep them as written
        if isinstance(c, Customer) and c.merged_into_id is None:
            session.expire(c, ["screened_at", "screened_list_id"])
    return len(customers), opened, placed


def _staff_reader(actor: Actor) -> None:
    """Screening is read by staff only: a customer's portal user must not learn it was flagged."""
    require(actor, "read")
    if actor.customer_id is not None:
        raise Forbidden("sanctions screening is not shown to customers' portal users")


def lists(session: Session, actor: Actor) -> list[dict]:
    """The loads, newest first."""
    _staff_reader(actor)
    return [load_view(x) for x in session.scalars(select(SanctionsListLoad).order_by(SanctionsListLoad.id.desc()))]


def load_view(load: SanctionsListLoad) -> dict:
    return {k: getattr(load, k) for k in ("id", "source", "sha256", "entries", "aliases", "addresses", "loaded_by",
                                          "loaded_at", "rescreened", "hits_opened", "active")}


# -- the queue and decisions --------------------------------------------------------------------------

def _check_access(session: Session, actor: Actor, customer_id: int) -> None:
    """A user sees the customers their companies have an account with (the system sees all)."""
    if actor.user_id is None:
        if session.get(Customer, customer_id) is None:
            raise NotFound(f"customer {customer_id} not found")
        return
    found = session.scalar(select(CustomerAccount.id).where(CustomerAccount.customer_id == customer_id,
                                                            CustomerAccount.company_id.in_(sorted(actor.company_ids)))
                           .limit(1))
    if found is None or (actor.customer_id is not None and actor.customer_id != customer_id):
        raise NotFound(f"customer {customer_id} not found")


def hit_view(session: Session, h: ScreeningHit, customer: tuple[str, str] | None = None) -> dict:
    if customer is None:
        customer = session.execute(select(Customer.code, Customer.legal_name).where(Customer.id == h.customer_id)).one()
    return {
        "id": h.id, "customer_id": h.customer_id, "customer_code": customer[0], "customer_name": customer[1],
        "list_id": h.list_id, "entry_uid": h.entry_uid, "entry_name": h.entry_name, "matched_name": h.matched_name,
        "listed_name": h.listed_name, "score": h.score, "programs": h.details.get("programs", []),
        "entry_type": h.details.get("type"), "countries": h.details.get("countries", []),
        "reasons": h.details.get("reasons", []), "status": h.status, "created_at": h.created_at,
        "decided_by": h.decided_by, "decided_at": h.decided_at, "decision_reason": h.decision_reason,
    }


def list_hits(session: Session, actor: Actor, company_id: int, status: str | None = OPEN,
              customer_id: int | None = None, after: int = 0, limit: int = 100) -> list[dict]:
    """The compliance queue: hits of this company's customers, oldest first."""
    _staff_reader(actor)
    if status is not None and status not in (OPEN, *DECISIONS):
        raise ValidationFailed.one("status", "invalid", f"status is one of {OPEN}, {TRUE_MATCH}, {FALSE_POSITIVE}")
    stmt = (select(ScreeningHit, Customer.code, Customer.legal_name)
            .join(Customer, Customer.id == ScreeningHit.customer_id)
            .join(CustomerAccount, (CustomerAccount.customer_id == Customer.id)
                  & (CustomerAccount.company_id == company_id))
            .where(ScreeningHit.id > after).order_by(ScreeningHit.id).limit(limit))
    if status is not None:
        stmt = stmt.where(ScreeningHit.status == status)
    if customer_id is not None:
        stmt = stmt.where(ScreeningHit.customer_id == customer_id)
    return [hit_view(session, h, (code, name)) for h, code, name in session.execute(stmt)]


def get_hit(session: Session, actor: Actor, hit_id: int) -> dict:
    _staff_reader(actor)
    h = session.get(ScreeningHit, hit_id)
    if h is None:
        raise NotFound(f"screening hit {hit_id} not found")
    _check_access(session, actor, h.customer_id)
    return hit_view(session, h)


def _held_order_ids(session: Session, customer_id: int) -> list:
    """(order id, company id) of the customer's orders on compliance hold."""
    from o2c.compliance.gate import KIND
    from o2c.orders.models import Order, OrderHold  # read only: the orders' own service moves them

    return list(session.execute(select(Order.id, Order.company_id).join(OrderHold, OrderHold.order_id == Order.id)
                                .where(Order.customer_id == customer_id, OrderHold.kind == KIND,
                                       OrderHold.active.is_(True)).order_by(Order.id)).all())


def decide_hit(session: Session, actor: Actor, hit_id: int, decision: str, reason: str | None) -> ScreeningHit:
    """Decide an open hit once (screening.write), with a reason. true_match: the customer is blocked
    and stays on hold. false_positive: the hold lifts when no other hit keeps it, and held orders move on."""
    require(actor, "screening.write")
    if decision not in DECISIONS:
        raise ValidationFailed.one("decision", "invalid", f"decision is {TRUE_MATCH} or {FALSE_POSITIVE}")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed.one("reason", "required", "say why: the decision is kept with its reason")
    found = session.get(ScreeningHit, hit_id)
    if found is None:
        raise NotFound(f"screening hit {hit_id} not found")
    _check_access(session, actor, found.customer_id)
    customer = _lock_customer(session, found.customer_id)  # customer first, then its hit: one fixed order
    hit = session.get(ScreeningHit, hit_id, with_for_update=True, populate_existing=True)
    if hit.status != OPEN:
        raise Conflict(f"screening hit {hit_id} was decided already: {hit.status} "
                       f"on {hit.decided_at:%Y-%m-%d %H:%M} UTC", status_now=hit.status)
    now = clock.now()
    hit.status, hit.decided_by, hit.decided_at, hit.decision_reason = decision, actor.user_id, now, reason
    what = "a true match" if decision == TRUE_MATCH else "a false positive"
    summary = f"screening hit {hit.id} ({hit.matched_name!r} ~ {hit.listed_name!r}) decided {what}: {reason}"
    audit.record(session, actor, "customer", customer.id, "screening_decided", reason=reason,
                 data={"hit_id": hit.id, "decision": decision, "entry_uid": hit.entry_uid,
                       "listed_name": hit.listed_name, "score": str(hit.score)})
    for order_id, company_id in _held_order_ids(session, customer.id):
        audit.record(session, actor, "order", order_id, "screening_decided", company_id=company_id,
                     reason=summary, data={"hit_id": hit.id, "decision": decision})
    events.emit(session, "screening.hit_decided",
                {"hit_id": hit.id, "customer_id": customer.id, "decision": decision},
                company_id=None, entity_id=hit.id)
    blocked = False
    if decision == TRUE_MATCH and customer.status != "blocked":
        audit.record(session, actor, "customer", customer.id, "blocked", from_status=customer.status,
                     to_status="blocked", reason=summary, data={"hit_id": hit.id})
        customer.status, blocked = "blocked", True
    changed = _sync_hold(session, actor, customer, summary)
    if blocked and not changed:  # the customer gate now holds what the compliance gate did not
        from o2c.orders import service as orders

        orders.recheck_customer(session, actor, customer.id, summary)
    session.flush()
    return hit
