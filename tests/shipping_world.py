"""What a warehouse needs on top of tests/world.py: two carriers with rate tables, boxes, bin locations
and a barcode for the gadget. Set up through the API, as the warehouse manager would."""
from __future__ import annotations

WEBHOOK_SECRET = "whsec-parcelco-0123456789"


def zones(origin: str, near: tuple[str, str], far: tuple[str, str]) -> list[dict]:
    """Near: zone 2; far: zone 8; the rest of the US: zone 5 (bands must not overlap)."""
    bands = sorted([(near, 2), (far, 8)])
    out, start = [], 0
    for (lo, hi), z in bands:
        if int(lo) > start:
            out.append({"origin": origin, "country": "US", "from": f"{start:03d}", "to": f"{int(lo) - 1:03d}", "zone": 5})
        out.append({"origin": origin, "country": "US", "from": lo, "to": hi, "zone": z})
        start = int(hi) + 1
    if start <= 999:
        out.append({"origin": origin, "country": "US", "from": f"{start:03d}", "to": "999", "zone": 5})
    return out


def rate_table(code: str, ground: dict[int, str], express: dict[int, str], fuel: str) -> dict:
    """Ground: 2/3/5 business days by zone; Express: 1 day everywhere. Prices of the first kilo by zone,
    then steps of 1.00 per break, and 0.80 per kilo over 30 kg."""
    def breaks(first: str):
        return [{"max_kg": kg, "price": f"{float(first) + i:.2f}"} for i, kg in enumerate(("1", "5", "10", "30"))]

    return {
        "carrier": code, "currency": "USD", "origin_country": "US", "dim_divisor": 5000,
        "zones": zones("606", ("600", "629"), ("900", "961")) + zones("900", ("900", "961"), ("600", "629")),
        "surcharges": {"fuel_pct": fuel, "residential": "3.00"},
        "services": [
            {"code": "GND", "name": "Ground", "transit_days": {"2": 2, "5": 3, "8": 5},
             "rates": [{"zone": z, "breaks": breaks(p), "per_kg_over_last": "0.80"} for z, p in ground.items()]},
            {"code": "EXP", "name": "Express", "transit_days": {"2": 1, "5": 1, "8": 1},
             "rates": [{"zone": z, "breaks": breaks(p), "per_kg_over_last": "2.00"} for z, p in express.items()]},
        ],
    }


def equip(api) -> None:
    carriers = [
        {"code": "PARCELCO", "name": "ParcelCo", "tracking_format": "ups", "account": "A1B2C3",
         "webhook_secret": WEBHOOK_SECRET,
         "rate_table": rate_table("PARCELCO", {2: "6.00", 5: "9.00", 8: "14.00"}, {2: "18.00", 5: "24.00", 8: "30.00"}, "10")},
        {"code": "SWIFT", "name": "Swift Express", "tracking_format": "fedex_express",
         "rate_table": rate_table("SWIFT", {2: "6.50", 5: "9.50", 8: "15.00"}, {2: "16.00", 5: "22.00", 8: "28.00"}, "8")},
    ]
    for c in carriers:
        r = api.post("/carriers", user="admin", json=c)
        assert r.status_code == 201, r.text
    for code, l, w, h, maxkg, tare in (("S", 30, 20, 15, 10, "0.200"), ("M", 40, 30, 30, 20, "0.400"),
                                       ("L", 60, 40, 40, 30, "0.800")):
        r = api.post("/boxes", user="admin", json={"code": code, "inner_length_cm": l, "inner_width_cm": w,
                                                   "inner_height_cm": h, "max_weight_kg": maxkg, "tare_kg": tare})
        assert r.status_code == 201, r.text
    for sku, wh, b in (("WIDGET", "CHI", "A-01-05-1"), ("GADGET", "CHI", "B-03-02-2"), ("BOLT", "CHI", "A-02-10-1"),
                       ("WIDGET", "LAX", "A-01-01-1"), ("FLOUR", "LAX", "B-01-01-1")):
        r = api.put("/stock/bins", user="keeper", json={"sku": sku, "warehouse": wh, "bin": b})
        assert r.status_code == 200, r.text
    r = api.put("/fulfillment-policies", user="admin", json={"channel": "web", "policy": "cost"})
    assert r.status_code == 200, r.text
