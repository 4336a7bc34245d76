"""The demo's risk desk, on the last day of the demo: a new customer is onboarded through KYC, an
applicant matching the sanctions list is caught and blocked, an order beyond a customer's credit waits
for the credit analyst, and an order far above a customer's usual quantity waits for the fraud analyst.
Each is decided by the person whose job it is (never the one who entered the order), and the audit
chain is verified at the end."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal as D
from importlib import resources

from sqlalchemy import select

from o2c.core import clock
from o2c.core.auth import Actor
from o2c.core.db import read_session, transaction
from o2c.core.errors import Conflict, Forbidden, ValidationFailed

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
NEWCOMER = {
    "code": "C900", "legal_name": "Nordwind Handels GmbH", "trading_names": ["Nordwind"],
    "registration_id": "HRB 98765", "tax_id": "DE136695976", "email": "purchasing@nordwind.example",
    "phone": "+49 40 4284 1000", "currency": "USD", "payment_terms_days": 30,
    "billing_address": {"name": "Nordwind Handels GmbH", "line1": "Am Sandtorkai 1", "city": "Hamburg",
                        "postal_code": "20457", "country": "DE"},
    "shipping_addresses": [{"name": "Nordwind US receiving", "line1": "233 S Wacker Dr", "city": "Chicago",
                            "region": "IL", "postal_code": "60606", "country": "US"}],
    "contacts": [{"name": "Greta Lund", "role": "buyer", "email": "greta.lund@nordwind.example",
                  "phone": "+49 40 4284 1012"}],
    "bank_accounts": [{"iban": "DE89 3704 0044 0532 0130 00", "bic": "COBADEFFXXX",
                       "holder_name": "Nordwind Handels GmbH"}],
}
# Trading under a listed alias of an Iranian aircraft maker, from a free zone abroad.
LISTED = {
    "code": "C901", "legal_name": "Aero Parts Trading FZE", "trading_names": ["Iran Aircraft Manufacturing Industries"],
    "currency": "USD", "email": "purchasing@aeroparts.example",
    "billing_address": {"name": "Aero Parts Trading FZE", "line1": "Dubai Airport Freezone, Building 6W",
                        "city": "Dubai", "region": "Dubai", "country": "AE"},
    "shipping_addresses": [{"name": "Aero Parts c/o forwarder", "line1": "1 World Trade Center", "city": "New York",
                            "region": "NY", "postal_code": "10007", "country": "US"}],
}
CREDIT_CUSTOMER, FRAUD_CUSTOMER = "C005", "C010"
YANGON = {"name": "Sister school receiving", "line1": "No. 1 Pyay Road", "city": "Yangon", "postal_code": "11041",
          "country": "MM"}


@dataclass
class RiskReport:
    lines: list[str] = field(default_factory=list)  # what happened, for the summary
    failures: list[str] = field(default_factory=list)


def _sanctions_files() -> dict[str, bytes]:
    folder = resources.files("o2c.demo_data") / "sanctions"
    return {f.name: f.read_bytes() for f in folder.iterdir() if f.name.endswith(".csv")}


def _order(cid: int, desk: Actor, code: str, lines: list[dict]):
    from o2c.orders import service as orders
    from o2c.orders.schemas import OrderIn

    data = OrderIn(customer_code=code, channel="phone", lines=lines)
    return transaction(lambda s: orders.order_view(orders.capture(s, desk, cid, data)))


def _hold(order: dict, kind: str) -> bool:
    return order["status"] == "held" and any(h.kind == kind and h.active for h in order["holds"])


def _onboard(cid: int, a: dict[str, Actor], report: RiskReport) -> None:
    from o2c.customers import onboarding
    from o2c.customers.kyc import CHECKLIST
    from o2c.customers.onboarding_schemas import ApplicationIn

    app = transaction(lambda s: onboarding.apply(s, a["clerk"], cid, ApplicationIn(**NEWCOMER)))
    customer_id = app["id"]
    docs = transaction(lambda s: [onboarding.upload_document(s, a["clerk"], cid, customer_id, item.kind,
                                                             f"{item.kind}.pdf", "application/pdf", PDF).id
                                  for item in CHECKLIST])
    transaction(lambda s: onboarding.submit(s, a["clerk"], cid, customer_id))
    waiting = _order(cid, a["desk"], NEWCOMER["code"], [{"sku": "SKU-001", "quantity": "10"}])
    transaction(lambda s: [onboarding.review_document(s, a["compliance"], cid, customer_id, d, "accepted", None)
                           for d in docs])
    transaction(lambda s: onboarding.activate(s, a["compliance"], cid, customer_id, "KYC complete"))
    with read_session() as s:
        from o2c.orders.models import Order
        status = s.get(Order, waiting["id"]).status
    report.lines.append(f"Onboarded {NEWCOMER['code']} {NEWCOMER['legal_name']}: applied by the master-data "
                        f"clerk, {len(docs)} KYC documents accepted and the customer activated by compliance; "
                        f"its order {waiting['number']}, held while KYC was pending, is now {status}.")


def _sanctions(cid: int, a: dict[str, Actor], report: RiskReport) -> None:
    from o2c.compliance import service as compliance
    from o2c.compliance.models import ScreeningHit
    from o2c.customers import onboarding
    from o2c.customers.onboarding_schemas import ApplicationIn

    load = transaction(lambda s: compliance.load_list(s, a["compliance"], _sanctions_files()))
    report.lines.append(f"Sanctions list loaded ({load.entries} entries of the demo extract); "
                        f"{load.rescreened} customers screened, {load.hits_opened} hits.")
    app = transaction(lambda s: onboarding.apply(s, a["clerk"], cid, ApplicationIn(**LISTED)))
    with read_session() as s:
        hits = s.execute(select(ScreeningHit.id, ScreeningHit.entry_name, ScreeningHit.score)
                         .where(ScreeningHit.customer_id == app["id"], ScreeningHit.status == "open")).all()
    if not hits:
        report.failures.append(f"sanctions: {LISTED['legal_name']} was not caught")
        return
    # its first order waits on the compliance hold (and on the customer hold: it is not active yet)
    order = _order(cid, a["desk"], LISTED["code"], [{"sku": "SKU-001", "quantity": "5"}])
    kinds = sorted(h.kind for h in order["holds"] if h.active)
    for h in hits:
        transaction(lambda s: compliance.decide_hit(
            s, a["compliance"], h.id, "true_match", "trading name is an alias of the listed party; "
                                                    "registered in a free zone used to reach it"))
    report.lines.append(f"Sanctions hit: applicant {LISTED['code']} {LISTED['legal_name']} (trading as "
                        f"{LISTED['trading_names'][0]}) matched {hits[0].entry_name} at {hits[0].score}; "
                        f"its order {order['number']} was held ({', '.join(kinds)}); compliance confirmed the "
                        "hit as a true match and the customer is blocked, so the order stays held.")


def _credit(cid: int, a: dict[str, Actor], report: RiskReport) -> None:
    from o2c.credit import approvals, service as credit
    from o2c.credit.models import ApprovalRequest
    from o2c.customers import changes
    from o2c.customers.models import Customer

    with read_session() as s:
        customer_id = s.scalar(select(Customer.id).where(Customer.code == CREDIT_CUSTOMER))
        exposure = D(credit.profile(s, a["analyst"], cid, customer_id)["exposure"]["total"])
    limit = (exposure + D(500)).quantize(D(1))
    [change] = transaction(lambda s: credit.request_limit_change(
        s, a["analyst"], cid, customer_id, values={"credit_limit": limit}, reason="first limit after review"))
    transaction(lambda s: changes.approve_change(s, a["manager"], cid, change.id, "agreed"))
    big = _order(cid, a["desk"], CREDIT_CUSTOMER, [{"sku": "SKU-005", "quantity": "12"}])
    if not _hold(big, "credit"):
        report.failures.append(f"credit: order {big['number']} was not held ({big['status']})")
        return
    with read_session() as s:
        req_id, role = s.execute(select(ApprovalRequest.id, ApprovalRequest.role)
                                 .where(ApprovalRequest.order_id == big["id"])).one()
    try:
        transaction(lambda s: approvals.approve(s, a["desk"], cid, req_id, "I know them"))
        report.failures.append("credit: the order desk approved its own order's credit")
    except Forbidden:
        pass
    transaction(lambda s: approvals.approve(s, a["analyst"], cid, req_id, "long-standing customer, pays on time"))
    with read_session() as s:
        from o2c.orders.models import Order
        status = s.get(Order, big["id"]).status
    report.lines.append(f"Credit hold: {CREDIT_CUSTOMER} got a limit of {limit} USD (asked by the analyst, "
                        f"approved by the manager); order {big['number']} for {big['total']} went beyond it and "
                        f"waited in the {role} queue; the desk could not approve it, the analyst did: "
                        f"now {status}.")


def _fraud(cid: int, a: dict[str, Actor], report: RiskReport) -> None:
    from o2c.fraud import service as fraud
    from o2c.fraud.models import FraudReview
    from o2c.orders import service as orders
    from o2c.orders.models import Order
    from o2c.orders.schemas import OrderIn

    # a Chicago school district ships to Yangon: another country, on the high-risk destination list
    data = OrderIn(customer_code=FRAUD_CUSTOMER, channel="email", ship_to=YANGON,
                   lines=[{"sku": "SKU-001", "quantity": "40"}])
    odd = transaction(lambda s: orders.order_view(orders.capture(s, a["desk"], cid, data)))
    if not _hold(odd, "fraud"):
        report.failures.append(f"fraud: order {odd['number']} was not held ({odd['status']})")
        return
    with read_session() as s:
        review_id, score = s.execute(select(FraudReview.id, FraudReview.score)
                                     .where(FraudReview.order_id == odd["id"])).one()
    transaction(lambda s: fraud.decide(s, a["fraud"], cid, review_id, True,
                                       "called the district: supplies for its sister school, confirmed in writing"))
    with read_session() as s:
        status = s.get(Order, odd["id"]).status
    report.lines.append(f"Fraud review: order {odd['number']} ({FRAUD_CUSTOMER}, a Chicago school district, shipping "
                        f"to Yangon) scored {score}; the fraud analyst approved it: now {status}.")


def _audit(report: RiskReport) -> None:
    from o2c.core import audit

    with read_session() as s:
        result = audit.verify(s)
    if result.problems:
        report.failures.append(f"audit: the chain does not verify: {result.problems[:3]}")
    else:
        report.lines.append(f"Audit log verified: {result.head_seq} records chained, head {result.head_hash[:16]}…")


def run(cid: int, actors: dict[str, Actor], when: datetime) -> RiskReport:
    report = RiskReport()
    clock.freeze(when)
    for step in (_onboard, _sanctions, _credit, _fraud):
        try:
            step(cid, actors, report)
        except (ValidationFailed, Conflict, Forbidden) as exc:
            report.failures.append(f"{step.__name__.strip('_')}: {exc}")
    _audit(report)
    return report
