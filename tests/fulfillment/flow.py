"""Steps of the warehouse's work through the API, for the fulfilment and shipping tests that need a
shipment at some stage (released, picked, packed, shipped) without retelling the whole story, and a
dump of every table to prove that a refused request changed nothing."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from o2c.core.db import read_session
from o2c.models import metadata

MONDAY = datetime(2026, 11, 30, 15, 0, tzinfo=timezone.utc)  # 09:00 in Chicago, as in the story


def ok(r, status: int = 200) -> dict:
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:500]}"
    return r.json()


def place(api, customer: str, lines: list[tuple[str, str]], **extra) -> dict:
    """A confirmed order (stock reserved at capture)."""
    order = ok(api.post("/orders", json={"customer_code": customer, "channel": "web",
                                         "lines": [{"sku": s, "quantity": q} for s, q in lines], **extra}), 201)
    assert order["status"] == "confirmed", order
    return order


def release(api, **body) -> dict:
    return ok(api.post("/waves", user="keeper", json=body), 201)


def shipment_of(api, order_id: int, user: str = "keeper") -> dict:
    [sh] = ok(api.get("/shipments", user=user, params={"order_id": order_id}))["items"]
    return sh


def pick_lists(api, wave: dict) -> list[dict]:
    return [ok(api.get(f"/pick-lists/{i}", user="keeper")) for i in wave["pick_lists"]]


def tasks(pick_list: dict) -> list[dict]:
    return [t for stop in pick_list["stops"] for t in stop["tasks"]]


def pick_all(api, wave: dict) -> None:
    """Every task of the wave confirmed at its full quantity."""
    for pl in pick_lists(api, wave):
        ok(api.post(f"/pick-lists/{pl['id']}/picks", user="keeper",
                    json={"picks": [{"task_id": t["task_id"], "quantity": t["quantity"]} for t in tasks(pl)]}))


def open_parcel(api, shipment_id: int) -> dict:
    return ok(api.post(f"/shipments/{shipment_id}/packages", user="keeper"), 201)


def scan(api, package_id: int, barcode: str, quantity: int | str = 1) -> dict:
    return ok(api.post(f"/packages/{package_id}/scans", user="keeper", json={"barcode": barcode, "quantity": quantity}))


def pack(api, shipment_id: int, scans: list[tuple[str, int | str]], weight: str, box: str | None = None) -> dict:
    """One parcel with these scans, closed with this weight (and box, else the suggested one)."""
    pkg = open_parcel(api, shipment_id)
    for barcode, qty in scans:
        scan(api, pkg["id"], barcode, qty)
    body = {"weight_kg": weight, **({"box_code": box} if box else {})}
    return ok(api.post(f"/packages/{pkg['id']}/close", user="keeper", json=body))


def ship(api, shipment_id: int, **body) -> dict:
    return ok(api.post(f"/shipments/{shipment_id}/ship", user="keeper", json=body))


def everything() -> dict[str, list[tuple]]:
    """Every row of every table, as text, table by table: equal before and after a refused request
    means it changed nothing at all (no stock figure, no state, no audit record, no outbox event)."""
    out = {}
    with read_session() as s:
        for table in metadata.sorted_tables:
            rows = s.execute(select(table).order_by(*table.primary_key.columns)).all()
            out[table.name] = [tuple(map(str, row)) for row in rows]
    return out


def changed(before: dict, after: dict) -> list[str]:
    """The tables whose rows differ."""
    return [name for name in before if before[name] != after[name]]
