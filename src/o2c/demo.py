"""`o2c demo`: a demo trading company, and a few hundred orders pushed through every step built so far.

Everything goes through the same services the API calls, as the people of a small distributor would
use them: an administrator sets up the catalogue, customers, prices and tax rates, a warehouse keeper
counts the stock, the order desk and a sales rep enter orders from every channel, fix what the
validation holds, and a pricing approver (never the person who entered the order) approves discounts.
The mix of orders is drawn from a seeded random generator, so the same seed gives the same demo.

Running it again finds the company DEMO and reuses it: nothing is created twice, and a fresh API key
is issued for the administrator (keys are only ever shown once). `more=True` pushes another batch of
orders into the existing company.
"""
from __future__ import annotations

import random
import socket
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal as D

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from o2c import demo_cash, demo_risk, demo_warehouse
from o2c.core import clock
from o2c.core.auth import Actor, actor_for_user, create_user, hash_password, issue_api_key
from o2c.core.db import read_session, transaction
from o2c.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from o2c.core.models import Company, OutboxEvent, User, UserCompany
from o2c.core.settings import get_settings
from o2c.orders.models import Order, OrderHold

COMPANY = "DEMO"
API_DOCS = "http://127.0.0.1:8000/api/v1/docs"
WEB = "http://127.0.0.1:8000/"
# Every demo user logs in to the web pages with this password (a demo database only).
DEMO_PASSWORD = "demo"
# The portal user: a buyer of the contract customer, who sees that customer's records and nothing else.
PORTAL_USER = ("buyer", "Bo Buyer (customer portal)")

# demo user -> (roles, display name)
USERS = {
    "admin": (["admin"], "Ada Admin"),
    "desk": (["order_desk"], "Dana Desk (order desk)"),
    "rep": (["sales_rep"], "Sam Rep (sales)"),
    "approver": (["pricing_approver"], "Pat Approver (pricing)"),
    "keeper": (["warehouse"], "Kim Keeper (warehouse)"),
    "service": (["customer_service"], "Cory Service (customer service)"),
    "viewer": (["viewer"], "Vic Viewer (management)"),
    "biller": (["billing"], "Bea Biller (billing)"),
    "cashier": (["receivables"], "Cal Cashier (receivables)"),
    "steward": (["data_steward"], "Stella Steward (master data approvals)"),
    "clerk": (["master_data"], "Mia Clerk (master data)"),
    "compliance": (["compliance_officer"], "Cole Compliance (KYC and sanctions)"),
    "analyst": (["credit_analyst"], "Ann Analyst (credit)"),
    "manager": (["credit_manager"], "Max Manager (credit)"),
    "fraud": (["fraud_analyst"], "Fay Fraud (fraud review)"),
    "auditor": (["auditor"], "Aud Auditor (audit)"),
}

# ------------------------------------------------------------------ master data

# code, name, street, city, state/region, postal code, country, options
CUSTOMERS = [
    ("C001", "Lakeside Dental Group", "233 S Wacker Dr", "Chicago", "IL", "60606", "US", {}),
    ("C002", "Great Lakes Facility Services LLC", "1 N State St", "Chicago", "IL", "60602", "US", {}),
    ("C003", "Prairie State Logistics Inc.", "1200 W Jefferson St", "Springfield", "IL", "62702", "US",
     {"ship_preference": "ship_complete"}),
    ("C004", "Golden Gate Architects LLP", "500 Howard St", "San Francisco", "CA", "94105", "US",
     {"discount_pct": D("5")}),
    ("C005", "Sunset Boulevard Studios", "6255 Sunset Blvd", "Los Angeles", "CA", "90028", "US", {}),
    ("C006", "Bay Area Biotech Inc.", "1700 Owens St", "San Francisco", "CA", "94158", "US",
     {"ship_preference": "ship_complete"}),
    ("C007", "Hudson Yards Legal PC", "20 Hudson Yards", "New York", "NY", "10001", "US", {}),
    ("C008", "Empire Print & Copy Corp.", "350 5th Ave", "New York", "NY", "10118", "US", {}),
    ("C009", "Lone Star Energy Partners LP", "1000 Main St", "Houston", "TX", "77002", "US", {}),
    ("C010", "Lincoln Park Unified School District", "2001 N Clark St", "Chicago", "IL", "60614", "US",
     {"tax_exempt": True, "tax_exemption_ref": "IL-EX-2231-9", "payment_terms_days": 45}),
    ("C011", "Austin Makerspace Co-op", "300 E 6th St", "Austin", "TX", "78701", "US", {}),
    ("C012", "Puget Sound Marine Supply", "2401 Utah Ave S", "Seattle", "WA", "98134", "US",
     {"ship_preference": "ship_complete"}),
    ("C013", "Cascade Coffee Roasters LLC", "1124 Pike St", "Seattle", "WA", "98101", "US", {}),
    ("C014", "Peachtree Medical Center", "1968 Peachtree Rd NW", "Atlanta", "GA", "30309", "US", {}),
    ("C015", "Savannah Port Brokers Inc.", "2 E Bryan St", "Savannah", "GA", "31401", "US",
     {"ship_preference": "ship_complete"}),
    ("C016", "Beacon Hill Publishing", "10 Beacon St", "Boston", "MA", "02108", "US", {}),
    ("C017", "Cambridge Robotics Lab Inc.", "1 Broadway", "Cambridge", "MA", "02142", "US", {}),
    ("C018", "Front Range Outfitters", "1600 Champa St", "Denver", "CO", "80202", "US", {}),
    ("C019", "Rocky Mountain Clinics PLLC", "2500 Broadway", "Boulder", "CO", "80304", "US", {}),
    ("C020", "Silver State Hospitality Supply", "3600 S Las Vegas Blvd", "Las Vegas", "NV", "89109", "US",
     {"ship_preference": "ship_complete"}),
    ("C021", "Biscayne Hospitality Group", "1111 Brickell Ave", "Miami", "FL", "33131", "US", {}),
    ("C022", "Orlando Events & Expo LLC", "9800 International Dr", "Orlando", "FL", "32819", "US", {}),
    ("C023", "Twin Cities Print Works", "250 Marquette Ave", "Minneapolis", "MN", "55401", "US", {}),
    ("C024", "Motor City Fleet Services", "1 Campus Martius", "Detroit", "MI", "48226", "US",
     {"payment_terms_days": 60}),
    ("C025", "Nordlicht Bürobedarf GmbH", "Am Sandtorkai 50", "Hamburg", None, "20457", "DE",
     {"currency": "EUR", "tax_id": "DE811569869"}),
]
CONTRACT_CUSTOMER = "C002"
CONTRACT = {"SKU-001": "5.25", "SKU-005": "79.00", "SKU-017": "6.90"}

# sku: name, weight kg, (l, w, h cm), tax class, USD price, {min qty: price}, order multiple, uom, decimals
PRODUCTS = {
    "SKU-001": ("Copy paper, letter, 20 lb (ream of 500)", "2.3", (28, 22, 5), "standard", "6.49",
                {10: "5.99", 50: "5.49"}, 1, "EA", 0),
    "SKU-002": ("Ballpoint pens, blue (box of 50)", "0.6", (16, 10, 4), "standard", "12.90", {10: "11.90"}, 1, "EA", 0),
    "SKU-003": ("Stapler, heavy duty", "1.1", (30, 8, 12), "standard", "24.00", {}, 1, "EA", 0),
    "SKU-004": ("Staples 1/4 in (box of 5,000)", "0.5", (12, 6, 4), "standard", "3.20", {20: "2.80"}, 1, "EA", 0),
    "SKU-005": ("Toner cartridge, black, high yield", "1.2", (38, 14, 12), "standard", "89.00", {5: "84.50"},
                1, "EA", 0),
    "SKU-006": ("Nitrile gloves, size L (box of 100)", "0.7", (24, 12, 7), "standard", "11.40", {10: "10.20"},
                1, "EA", 0),
    "SKU-007": ("Hex bolt M8x40, zinc plated", "0.02", (4, 1, 1), "standard", "0.1240", {500: "0.1090"},
                50, "EA", 0),
    "SKU-008": ("Hex nut M8, zinc plated", "0.005", (1, 1, 1), "standard", "0.0450", {1000: "0.0390"},
                100, "EA", 0),
    "SKU-009": ("Cable ties 300 mm (bag of 100)", "0.4", (32, 10, 2), "standard", "4.75", {}, 1, "EA", 0),
    "SKU-010": ("Packing tape 48 mm x 66 m", "0.3", (10, 10, 5), "standard", "2.10", {36: "1.85"}, 6, "EA", 0),
    "SKU-011": ("Stretch film 500 mm x 300 m", "2.4", (50, 10, 10), "standard", "18.50", {}, 1, "EA", 0),
    "SKU-012": ("Shipping box 16x12x12 in", "0.45", (41, 30, 1), "standard", "1.15", {250: "0.98"}, 25, "EA", 0),
    "SKU-013": ("Coffee beans, medium roast (1 kg bag)", "1.0", (25, 12, 8), "reduced", "18.90", {10: "17.50"},
                1, "EA", 0),
    "SKU-014": ("Tea bags, English breakfast (box of 100)", "0.3", (20, 12, 7), "reduced", "6.40", {}, 1, "EA", 0),
    "SKU-015": ("Cane sugar, bulk", "1.0", None, "reduced", "1.480", {25: "1.390"}, "0.001", "KG", 3),
    "SKU-016": ("Spring water 0.5 L (case of 24)", "12.5", (40, 27, 21), "reduced", "7.99", {}, 1, "EA", 0),
    "SKU-017": ("LED tube T8, 4 ft", "0.3", (122, 3, 3), "standard", "8.40", {25: "7.60"}, 1, "EA", 0),
    "SKU-018": ("Extension cord, 25 ft", "1.0", (25, 25, 8), "standard", "14.90", {}, 1, "EA", 0),
    "SKU-019": ("AA batteries (pack of 24)", "0.6", (15, 10, 4), "standard", "15.60", {}, 1, "EA", 0),
    "SKU-020": ("USB headset with microphone", "0.4", (22, 18, 9), "standard", "59.00", {}, 1, "EA", 0),
    "SKU-021": ("Monitor 27 in, 4K", "6.9", (68, 48, 15), "standard", "329.00", {}, 1, "EA", 0),
    "SKU-022": ("Ergonomic office chair", "15.8", (70, 66, 60), "standard", "249.00", {}, 1, "EA", 0),
    "SKU-023": ("Desk lamp, LED", "1.4", (45, 20, 15), "standard", "34.50", {}, 1, "EA", 0),
    "SKU-024": ("Whiteboard 48 x 36 in", "9.0", (125, 95, 4), "standard", "89.00", {}, 1, "EA", 0),
    "SKU-025": ("Dry-erase markers (set of 4)", "0.1", (14, 8, 2), "standard", "5.80", {}, 1, "EA", 0),
    "SKU-026": ("Sticky notes 3x3 in (12 pads)", "0.5", (16, 8, 8), "standard", "7.20", {}, 1, "EA", 0),
    "SKU-027": ("File folders, letter (box of 100)", "2.0", (30, 24, 10), "standard", "16.40", {}, 1, "EA", 0),
    "SKU-028": ("First aid kit, 50 person", "1.6", (30, 22, 9), "standard", "42.00", {}, 1, "EA", 0),
    "SKU-029": ("Safety glasses, clear", "0.05", (16, 6, 5), "standard", "4.30", {12: "3.90"}, 1, "EA", 0),
    "SKU-030": ("Hi-vis vest, class 2", "0.2", (30, 22, 2), "standard", "6.90", {}, 1, "EA", 0),
}
EUR_PRICES = {"SKU-001": "5.95", "SKU-002": "11.90", "SKU-004": "2.95", "SKU-005": "82.00", "SKU-006": "10.50",
              "SKU-009": "4.40", "SKU-013": "17.40", "SKU-014": "5.90", "SKU-019": "14.40", "SKU-020": "54.00",
              "SKU-023": "31.80", "SKU-025": "5.35", "SKU-029": "3.95"}
SCARCE = {"SKU-021": {"CHI": 6, "RNO": 3}, "SKU-022": {"ATL": 4, "CHI": 2}}

# state: (standard %, reduced %) — state-level sales tax; groceries mostly exempt
US_TAX = {"IL": ("6.25", "1"), "CA": ("7.25", "0"), "NY": ("4", "0"), "TX": ("6.25", "0"), "WA": ("6.5", "0"),
          "GA": ("4", "0"), "MA": ("6.25", "0"), "CO": ("2.9", "0"), "NV": ("6.85", "0"), "FL": ("6", "0"),
          "MN": ("6.875", "0"), "MI": ("6", "0")}

WAREHOUSES = [
    ("CHI", "Central DC", "2400 S Western Ave", "Chicago", "IL", "60608", D("41.847500"), D("-87.685300")),
    ("RNO", "West DC", "4950 Longley Ln", "Reno", "NV", "89502", D("39.480100"), D("-119.777700")),
    ("ATL", "Southeast DC", "1500 Southland Cir NW", "Atlanta", "GA", "30318", D("33.806100"), D("-84.428400")),
]

CHANNEL_WEIGHTS = {"web": 25, "b2b_portal": 20, "sales_rep": 15, "email": 15, "phone": 10, "edi": 10, "csv": 5}

# What happens to an order, and how often.
SCENARIOS = {
    "clean": 60,          # captured, validated and confirmed without anyone touching it
    "short": 7,           # asks for more of a scarce product than is free: backordered
    "bad_postal": 7,      # ship-to postal code invalid: held, corrected by the desk, confirmed
    "no_reason": 5,       # a price differs from the list with no reason: held, reason added, confirmed
    "override": 6,        # a discount beyond the threshold: pricing hold, released by the approver
    "duplicate": 4,       # the same PO sent twice: duplicate hold, then released or cancelled
    "cancel": 4,          # confirmed, then cancelled by the customer: stock given back
    "quote": 3,           # entered without confirming: validated, waits for the customer's go-ahead
    "left_held": 2,       # held and still waiting for the desk when the demo ends
}


def gtin13(n: int) -> str:
    """A valid GTIN-13 under the GS1 US example company prefix 0614141."""
    body = f"0614141{n:05d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


# ------------------------------------------------------------------ result


@dataclass
class DemoReport:
    company_id: int
    created: bool
    orders_pushed: int = 0
    outcomes: Counter = field(default_factory=Counter)  # (scenario, the order's status at the end) -> orders
    failures: list[str] = field(default_factory=list)
    by_status: dict[str, int] = field(default_factory=dict)
    holds: dict[str, tuple[int, int]] = field(default_factory=dict)  # kind -> (raised, still active)
    error_rate: dict = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    events_pending: int = 0
    events_delivered: int | None = None  # None: no SMTP server reachable, left for the dispatcher
    fulfilment: demo_warehouse.FulfilmentReport | None = None
    cash: demo_cash.CashReport | None = None
    risk: demo_risk.RiskReport | None = None


# ------------------------------------------------------------------ setting up


def _create_master_data(session: Session) -> tuple[int, dict[str, str]]:
    from o2c.catalog import service as catalog
    from o2c.catalog.schemas import PriceListIn, ProductIn, TaxRateIn
    from o2c.core.setup import create_company
    from o2c.customers import service as customers
    from o2c.customers.schemas import CustomerIn
    from o2c.inventory import service as inventory
    from o2c.inventory.schemas import WarehouseIn

    company, _ = create_company(session, COMPANY, "Demo Office & Industrial Supply Inc.", "USD", "US",
                                "America/Chicago", admin=None)
    cid = company.id
    keys, users = {}, {}
    password = hash_password(DEMO_PASSWORD)  # once: scrypt is slow on purpose

    def username_for(name: str) -> str:
        return name if session.scalar(select(User.id).where(User.username == name)) is None else f"demo-{name}"

    for name, (roles, display) in USERS.items():
        username = username_for(name)
        user = create_user(session, username, roles, [cid], display_name=display,
                           email=f"{name}@demo-supply.example")
        user.password_hash = password
        users[name] = user
        keys[username] = issue_api_key(session, user, "demo")
    session.flush()
    admin = actor_for_user(session, users["admin"])

    for n, (sku, (name, kg, dims, klass, _p, _b, multiple, uom, decimals)) in enumerate(PRODUCTS.items(), start=1):
        dim = dict(zip(("length_cm", "width_cm", "height_cm"), (D(x) for x in dims))) if dims else {}
        catalog.create_product(session, admin, cid, ProductIn(
            sku=sku, name=name, uom=uom, uom_decimals=decimals, order_multiple=D(multiple), weight_kg=D(kg),
            tax_class=klass, gtin=gtin13(n), **dim))

    items = []
    for sku, (_n, _kg, _d, _c, price, breaks, *_rest) in PRODUCTS.items():
        items.append({"sku": sku, "min_qty": "1", "unit_price": price})
        items += [{"sku": sku, "min_qty": str(q), "unit_price": p} for q, p in breaks.items()]
    catalog.create_price_list(session, admin, cid, PriceListIn(name="US list prices", currency="USD", items=items))
    catalog.create_price_list(session, admin, cid, PriceListIn(
        name="EU list prices", currency="EUR",
        items=[{"sku": s, "min_qty": "1", "unit_price": p} for s, p in EUR_PRICES.items()]))

    customer_ids = {}
    for code, legal, street, city, region, postal, country, opts in CUSTOMERS:
        addr = {"name": legal, "line1": street, "city": city,
                "region": region, "postal_code": postal, "country": country}
        slug = "".join(ch for ch in legal.lower().split()[0] if ch.isalnum()) or code.lower()
        data = CustomerIn(code=code, legal_name=legal, email=f"purchasing@{slug}.example",
                          currency=opts.get("currency", "USD"), billing_address=addr, shipping_addresses=[addr],
                          **{k: v for k, v in opts.items() if k != "currency"})
        customer_ids[code] = customers.create_customer(session, admin, cid, data)["id"]
    buyer = create_user(session, username_for(PORTAL_USER[0]), ["customer"], [cid], display_name=PORTAL_USER[1],
                        email="buyer@demo-supply.example", customer_id=customer_ids[CONTRACT_CUSTOMER])
    buyer.password_hash = password
    keys[buyer.username] = issue_api_key(session, buyer, "demo")
    catalog.create_price_list(session, admin, cid, PriceListIn(
        name=f"{CONTRACT_CUSTOMER} contract prices", currency="USD", customer_id=customer_ids[CONTRACT_CUSTOMER],
        items=[{"sku": s, "min_qty": "1", "unit_price": p} for s, p in CONTRACT.items()]))

    since = date(2020, 1, 1)
    for state, (standard, reduced) in US_TAX.items():
        for klass, rate in (("standard", standard), ("reduced", reduced)):
            catalog.create_tax_rate(session, admin, cid, TaxRateIn(
                country="US", region=state, tax_class=klass, rate_pct=D(rate), name=f"{state} sales tax ({klass})",
                valid_from=since))
    # Illinois drops its 1% state tax on groceries from 2026.
    catalog.create_tax_rate(session, admin, cid, TaxRateIn(
        country="US", region="IL", tax_class="reduced", rate_pct=D(0), name="IL grocery tax repealed",
        valid_from=date(2026, 1, 1)))
    for klass, rate in (("standard", "19"), ("reduced", "7")):
        catalog.create_tax_rate(session, admin, cid, TaxRateIn(
            country="DE", tax_class=klass, rate_pct=D(rate), name=f"DE USt {rate}%", valid_from=since))

    for code, name, street, city, state, postal, lat, lon in WAREHOUSES:
        inventory.create_warehouse(session, admin, cid, WarehouseIn(
            code=code, latitude=lat, longitude=lon,
            address={"name": name, "line1": street, "city": city, "region": state, "postal_code": postal,
                     "country": "US"}))
    demo_warehouse.equip(session, admin, admin, cid, list(PRODUCTS), [w[0] for w in WAREHOUSES])
    return cid, keys


def _count_stock(session: Session, cid: int, orders: int, rng: random.Random) -> None:
    """The keeper's opening count: plenty of the everyday lines, a handful of the scarce ones."""
    from o2c.inventory import service as inventory
    from o2c.inventory.schemas import StockSet

    keeper = _actors(session, cid)["keeper"]
    for n, (sku, (_n, _kg, _d, _c, _p, _b, multiple, _u, decimals)) in enumerate(PRODUCTS.items()):
        if sku in SCARCE:
            counts = SCARCE[sku]
        else:  # Chicago carries everything; Reno and Atlanta half the range each
            base = orders + 60
            counts = {"CHI": base, ("RNO", "ATL")[n % 2]: base // 2 + rng.randint(0, 20)}
        for wh, units in counts.items():
            qty = D(units) * D(multiple) if not decimals else D(units * 25)
            inventory.set_on_hand(session, keeper, cid, StockSet(sku=sku, warehouse=wh, on_hand=qty,
                                                                 reason="opening stock count"))


def _actors(session: Session, cid: int) -> dict[str, Actor]:
    rows = session.scalars(
        select(User).join(UserCompany, UserCompany.user_id == User.id).where(UserCompany.company_id == cid)
    )
    out = {}
    for user in rows:
        name = user.username.removeprefix("demo-")
        if name in USERS:
            out[name] = actor_for_user(session, user)
    missing = sorted(set(USERS) - set(out))
    if missing:
        raise NotFound(f"demo company {COMPANY} lacks its users {', '.join(missing)}; create a new database")
    return out


# ------------------------------------------------------------------ orders


class _Desk:
    """The people entering and fixing orders, one transaction per step, through the order services."""

    def __init__(self, cid: int, actors: dict[str, Actor], rng: random.Random, serial: int):
        self.cid = cid
        self.actors = actors
        self.rng = rng
        self.serial = serial
        self.placed: list[tuple[str, str, int]] = []  # (customer, PO, order id) of live orders
        self.today = clock.today_in("America/Chicago")

    # -- shapes of orders
    def _customer(self, exclude_eu: bool = False) -> tuple:
        pool = [c for c in CUSTOMERS if not (exclude_eu and c[6] != "US")]
        return self.rng.choice(pool)

    def _quantity(self, sku: str) -> D:
        _n, _kg, _d, _c, _p, breaks, multiple, _u, decimals = PRODUCTS[sku]
        if decimals:
            return D(self.rng.randint(5000, 60000)) / 1000
        if D(multiple) > 1:
            return D(multiple) * self.rng.choice([1, 2, 2, 4, 10, 20])
        return D(self.rng.choice([1, 1, 2, 2, 3, 4, 5, 6, 10, 12, 20, 24]))

    def _lines(self, customer: tuple, n: int | None = None) -> list[dict]:
        eu = customer[6] != "US"
        skus = [s for s in (EUR_PRICES if eu else PRODUCTS) if s not in SCARCE]
        picked = self.rng.sample(skus, n or self.rng.choice([1, 1, 2, 2, 3, 3, 4, 5]))
        return [{"sku": s, "quantity": self._quantity(s)} for s in picked]

    def list_price(self, customer: tuple, sku: str, qty: D) -> D:
        if customer[6] != "US":
            return D(EUR_PRICES[sku])
        if customer[0] == CONTRACT_CUSTOMER and sku in CONTRACT:
            return D(CONTRACT[sku])
        _n, _kg, _d, _c, price, breaks, *_ = PRODUCTS[sku]
        best = D(price)
        for q, p in sorted(breaks.items()):
            if qty >= q:
                best = D(p)
        return best

    def _po(self, channel: str) -> str:
        self.serial += 1
        prefix = {"web": "WEB-", "edi": "4500", "csv": "IMP-", "b2b_portal": "BP-"}.get(channel, "PO-")
        return f"{prefix}{self.serial:06d}"

    def _channel(self) -> str:
        return self.rng.choices(list(CHANNEL_WEIGHTS), weights=list(CHANNEL_WEIGHTS.values()))[0]

    def _requested(self) -> date | None:
        return self.today + timedelta(days=self.rng.choice([3, 5, 7, 10, 14, 21])) if self.rng.random() < 0.4 else None

    # -- the services
    def _run(self, fn):
        return transaction(fn)

    def capture(self, body: dict, user: str | None = None) -> tuple[int, str, list[tuple[int, str]]]:
        from o2c.orders import service
        from o2c.orders.schemas import OrderIn

        data = OrderIn.model_validate(body)
        actor = self.actors[user or ("rep" if body["channel"] == "sales_rep" else "desk")]

        def go(s):
            order = service.capture(s, actor, self.cid, data)
            return order.id, order.status, [(h.id, h.kind) for h in order.holds if h.active]

        return self._run(go)

    def _change(self, user: str, fn) -> tuple[int, str, list[tuple[int, str]]]:
        def go(s):
            order = fn(s, self.actors[user])
            return order.id, order.status, [(h.id, h.kind) for h in order.holds if h.active]

        return self._run(go)

    def correct(self, order_id: int, patch: dict, user: str = "desk"):
        from o2c.orders import service
        from o2c.orders.schemas import OrderPatch

        p = OrderPatch.model_validate(patch)
        return self._change(user, lambda s, a: service.update(s, a, self.cid, order_id, p))

    def release(self, order_id: int, hold_id: int, reason: str, user: str):
        from o2c.orders import service

        return self._change(user, lambda s, a: service.release_hold(s, a, self.cid, order_id, hold_id, reason))

    def cancel(self, order_id: int, reason: str, user: str = "desk"):
        from o2c.orders import service

        return self._change(user, lambda s, a: service.cancel(s, a, self.cid, order_id, reason))

    def available(self, sku: str) -> D:
        from o2c.inventory import service as inventory

        with read_session() as s:
            return sum((r["available"] for r in inventory.list_stock(s, self.cid, sku, None, 0, 100)), D(0))

    # -- one order, from arrival to where the demo leaves it
    def push(self, scenario: str) -> tuple[str, str]:
        """Enter one order of this scenario and take it as far as the people would; return the scenario
        played and the order's status at the end."""
        if scenario == "duplicate" and not self.placed:
            scenario = "clean"
        channel = self._channel()
        customer = self._customer(exclude_eu=scenario in ("bad_postal", "short"))
        body = {"customer_code": customer[0], "channel": channel, "po_number": self._po(channel),
                "requested_date": self._requested(), "lines": self._lines(customer)}
        ship_to = {"name": customer[1], "line1": customer[2], "city": customer[3], "region": customer[4],
                   "postal_code": customer[5], "country": customer[6]}

        if scenario == "short":
            sku = self.rng.choice(sorted(SCARCE))
            body["lines"].append({"sku": sku, "quantity": self.available(sku) + self.rng.randint(1, 6)})
        elif scenario in ("bad_postal", "left_held"):
            body["ship_to"] = ship_to | {"postal_code": self.rng.choice([customer[5][:4], "ABCDE", customer[5] + "9"])}
        elif scenario == "no_reason":
            li = body["lines"][0]
            li["unit_price"] = (self.list_price(customer, li["sku"], li["quantity"]) * D("0.95")).quantize(D("0.01"))
        elif scenario == "override":
            li = body["lines"][0]
            li["unit_price"] = (self.list_price(customer, li["sku"], li["quantity"]) * D("0.8")).quantize(D("0.01"))
            li["override_reason"] = "matching a competitor's quote to win the account"
        elif scenario == "duplicate":
            code, po, _ = self.rng.choice(self.placed)
            customer = next(c for c in CUSTOMERS if c[0] == code)
            body |= {"customer_code": code, "po_number": po, "lines": self._lines(customer)}
        elif scenario == "quote":
            body["confirm"] = False

        order_id, status, holds = self.capture(body)
        if status != "cancelled":
            self.placed.append((body["customer_code"], body["po_number"], order_id))

        if scenario == "bad_postal" and status == "held":
            order_id, status, holds = self.correct(order_id, {
                "ship_to": ship_to, "reason": "postal code confirmed with the customer by phone"})
        elif scenario == "no_reason" and status == "held":
            lines = [dict(li) for li in body["lines"]]
            lines[0]["override_reason"] = "price agreed with the buyer on the last call"
            order_id, status, holds = self.correct(order_id, {"lines": lines, "reason": "override reason added"})
        elif scenario == "override":
            pricing = [h for h, kind in holds if kind == "pricing"]
            if pricing:
                order_id, status, holds = self.release(order_id, pricing[0], "discount approved for a new account",
                                                       "approver")
        elif scenario == "duplicate":
            dup = [h for h, kind in holds if kind == "duplicate"]
            if dup and self.rng.random() < 0.5:
                order_id, status, holds = self.release(
                    order_id, dup[0], "the customer confirmed a second delivery on the same PO", "desk")
            elif dup:
                order_id, status, holds = self.cancel(order_id, "a duplicate: the customer sent the PO twice")
        elif scenario == "cancel" and status in ("confirmed", "backordered", "validated", "held"):
            order_id, status, holds = self.cancel(order_id, "the customer withdrew the order")
        return scenario, status


def _plan(orders: int, rng: random.Random) -> list[str]:
    """The scenario of each order: every kind at least once (when there are enough orders), the rest by weight."""
    kinds = list(SCENARIOS)
    plan = kinds[:] if orders >= len(kinds) else []
    plan += rng.choices(kinds, weights=list(SCENARIOS.values()), k=orders - len(plan))
    rng.shuffle(plan)
    if plan and plan[0] == "duplicate":  # a duplicate needs an order before it
        j = next((i for i, k in enumerate(plan) if k != "duplicate"), 0)
        plan[0], plan[j] = plan[j], plan[0]
    return plan


# ------------------------------------------------------------------ reporting


def _summarise(report: DemoReport) -> None:
    from o2c.orders import service

    with read_session() as s:
        cid = report.company_id
        report.by_status = dict(s.execute(
            select(Order.status, func.count(Order.id)).where(Order.company_id == cid).group_by(Order.status)
        ).all())
        rows = s.execute(
            select(OrderHold.kind, func.count(OrderHold.id),
                   func.count(OrderHold.id).filter(OrderHold.active.is_(True)))
            .join(Order, Order.id == OrderHold.order_id).where(Order.company_id == cid).group_by(OrderHold.kind)
        ).all()
        report.holds = {kind: (raised, active) for kind, raised, active in rows}
        report.error_rate = service.entry_error_rate(s, cid)
        report.events_pending = s.scalar(
            select(func.count(OutboxEvent.id)).where(OutboxEvent.company_id == cid, OutboxEvent.processed_at.is_(None))
        )


def _analyse(url: str) -> None:
    """Fresh planner statistics on PostgreSQL, so the tables seeded here are not planned as if empty."""
    if url.startswith("postgresql"):
        from sqlalchemy import text

        from o2c.core.db import get_engine

        with get_engine(url).connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))


def _smtp_reachable() -> bool:
    s = get_settings()
    try:
        with socket.create_connection((s.smtp_host, s.smtp_port), timeout=1.0):
            return True
    except OSError:
        return False


def _deliver(report: DemoReport, console: Console, progress_columns) -> None:
    from o2c.core.events import dispatch_pending

    s = get_settings()
    with read_session() as session:
        due = session.scalar(select(func.count(OutboxEvent.id)).where(OutboxEvent.processed_at.is_(None)))
    if not due:
        report.events_delivered = 0
        return
    if not _smtp_reachable():
        console.print(f"[yellow]No SMTP server answers at {s.smtp_host}:{s.smtp_port}[/]: the {due} events "
                      "(order confirmations among them) stay in the outbox; `o2c serve` or `o2c worker` delivers "
                      "them once O2C_SMTP_HOST / O2C_SMTP_PORT point at a mail server.")
        return
    # The demo's own rounds (o2c.demo_cash) may have found no mail server and put emails back for a
    # later retry: that later is now.
    transaction(lambda session: session.execute(update(OutboxEvent).where(OutboxEvent.processed_at.is_(None))
                                                .values(available_at=clock.now())))
    delivered = 0
    with Progress(*progress_columns, console=console) as progress:
        task = progress.add_task("Events", total=due)
        while True:
            n = dispatch_pending(limit=50)
            if not n:
                break
            delivered += n
            progress.update(task, completed=min(delivered, due))
    report.events_delivered = delivered


def _print_summary(report: DemoReport, console: Console) -> None:
    t = Table(title=f"Demo company {COMPANY}: orders by status")
    t.add_column("status")
    t.add_column("orders", justify="right")
    for status in ("confirmed", "backordered", "validated", "held", "cancelled"):
        t.add_row(status, str(report.by_status.get(status, 0)))
    t.add_row("[b]all[/]", f"[b]{sum(report.by_status.values())}[/]")
    console.print(t)

    h = Table(title="Holds by kind")
    h.add_column("kind")
    h.add_column("raised", justify="right")
    h.add_column("still open", justify="right")
    for kind in ("validation", "duplicate", "pricing", "customer", "compliance", "credit", "fraud"):
        raised, active = report.holds.get(kind, (0, 0))
        h.add_row(kind, str(raised), str(active))
    console.print(h)

    f = report.fulfilment
    if f is not None:
        console.print(
            f"Warehouse: {f.waves} wave ({f.saving} USD saved against greedy allocation), {f.shipments} shipments, "
            f"{f.shipped} shipped ({f.partial} partial), {f.short_picks} short pick, {f.held_parcels} parcel held "
            f"by the weight check; {f.delivered} delivered ({f.late} late), {f.in_transit} still in transit; "
            f"{f.returns} return.")
        for failure in f.failures[:10]:
            console.print(f"  [red]{failure}[/]")
    c = report.cash
    if c is not None:
        st = c.statement
        console.print(
            f"Cash: {c.invoices} invoices ({len(c.invoiced_twice)} orders invoiced twice, their rest shipped "
            f"later: {', '.join(c.invoiced_twice[:3]) or 'none'}), {c.payments} payments, "
            f"{c.unapplied_credit} USD unapplied credit on account; bank statement: {st.get('lines', 0)} lines, "
            f"{st.get('auto', 0)} matched automatically ({st.get('auto_rate', '0')}), {st.get('suggested', 0)} "
            f"suggested and {st.get('unmatched', 0)} unmatched (then decided by the cashier); reminded: "
            f"{', '.join(c.reminded) or 'nobody'}.")
        for failure in c.failures[:10]:
            console.print(f"  [red]{failure}[/]")
    if report.risk is not None:
        for line in report.risk.lines:
            console.print(line)
        for failure in report.risk.failures[:10]:
            console.print(f"  [red]{failure}[/]")
    er = report.error_rate
    console.print(f"Order entry error rate: {er['needed_correction']} of {er['orders']} orders needed a correction "
                  f"({er['rate'] * 100:.1f}%).")
    if report.events_delivered is not None:
        console.print(f"Events delivered: {report.events_delivered}; still pending: {report.events_pending}.")
    if report.failures:
        console.print(f"[red]{len(report.failures)} orders failed unexpectedly:[/]")
        for f in report.failures[:10]:
            console.print(f"  {f}")

    console.print(f"Open {WEB} and log in as one of these users with the password '{DEMO_PASSWORD}' "
                  f"({PORTAL_USER[0]} is a customer's buyer: the portal). The API takes their keys "
                  "('Authorization: Bearer <key>'), shown only this once:", soft_wrap=True)
    for username, key in report.keys.items():
        name = username.removeprefix("demo-")
        roles = "customer portal" if name == PORTAL_USER[0] else ", ".join(USERS.get(name, ([], ""))[0])
        console.print(f"  {username:<14} {roles:<18} {key}", soft_wrap=True, highlight=False)
    console.print(f"Start the server with `o2c serve` and open {API_DOCS}", soft_wrap=True)


# ------------------------------------------------------------------ entry point


def run_demo(orders: int = 300, *, seed: int = 42, more: bool = False, console: Console | None = None) -> DemoReport:
    """Create (or reuse) the demo company and push `orders` orders through capture, validation, holds,
    corrections, approvals, reservation and cancellation; print a summary and how to log in."""
    from o2c.core.migrate import upgrade

    console = console or Console()
    if orders < 0:
        raise ValidationFailed.one("orders", "negative", "the number of orders cannot be negative")
    url = get_settings().database_url
    upgrade(url)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())

    with read_session() as s:
        cid = s.scalar(select(Company.id).where(Company.code == COMPANY))
        offset = s.scalar(select(func.count(Order.id)).where(Order.company_id == cid)) if cid else 0
    created = cid is None
    rng = random.Random(f"{seed}:{offset}")

    # The orders come in ten days ago, the warehouse ships them the next day and the carriers deliver
    # over the days after: the demo ends today with a history to look at. The company is set up and its
    # stock counted the morning of that first day.
    start = datetime.now(timezone.utc).replace(hour=14, minute=0, second=0, microsecond=0) - timedelta(days=10)
    if created:
        with console.status("Creating the demo company: users, catalogue, customers, prices, tax, warehouses"):
            clock.freeze(start - timedelta(hours=2))
            try:
                cid, keys = transaction(_create_master_data)
                transaction(lambda s: _count_stock(s, cid, max(orders, 100), rng))
            except Conflict as exc:
                raise Conflict(f"cannot create the demo company: {exc}") from exc
            finally:
                clock.freeze(None)
        report = DemoReport(company_id=cid, created=True, keys=keys)
        console.print(f"Created demo company {COMPANY}: {len(USERS)} users, {len(PRODUCTS)} products, "
                      f"{len(CUSTOMERS)} customers, {len(WAREHOUSES)} warehouses with stock.")
    else:
        def fresh_admin_key(s):
            admin = s.get(User, _actors(s, cid)["admin"].user_id)
            return admin.username, issue_api_key(s, admin, "demo (re-issued)")

        username, key = transaction(fresh_admin_key)
        report = DemoReport(company_id=cid, created=False, keys={username: key})
        console.print(f"The demo company {COMPANY} exists already ({offset} orders); reusing it"
                      + (f" and pushing {orders} more orders." if more else
                         "; no new orders (pass --more to push another batch)."))

    if created or more:
        with read_session() as s:
            actors = _actors(s, cid)
        desk = _Desk(cid, actors, rng, serial=offset)
        plan = _plan(orders, rng)
        clock.freeze(start)
        try:
            with Progress(*columns, console=console) as progress:
                task = progress.add_task("Orders", total=len(plan))
                for scenario in plan:
                    try:
                        report.outcomes[desk.push(scenario)] += 1
                    except (ValidationFailed, Conflict, Forbidden, NotFound) as exc:
                        report.failures.append(f"{scenario}: {exc}")
                    progress.advance(task)
                report.orders_pushed = len(plan) - len(report.failures)
                report.fulfilment = demo_warehouse.run_day(cid, actors, rng, start + timedelta(days=1), progress)
            with console.status("Invoices, payments, the bank statement and reminders"):
                report.cash = demo_cash.run(cid, actors, start)
            if created:  # once: its customers and decisions are the demo company's own
                with console.status("Onboarding, a sanctions hit, a credit hold and a fraud review"):
                    report.risk = demo_risk.run(cid, actors, min(start + timedelta(days=10, hours=2),
                                                                 datetime.now(timezone.utc)))
        finally:
            clock.freeze(None)
        _analyse(url)
        _deliver(report, console, columns)

    _summarise(report)
    _print_summary(report, console)
    return report
