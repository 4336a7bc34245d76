"""Products: a barcode must be a real GTIN."""


def test_a_gtin_with_a_wrong_check_digit_is_refused(api):
    base = {"sku": "NEWBIE", "name": "New thing"}
    r = api.post("/products", user="admin", json=base | {"gtin": "04006381333932"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "gtin"
    assert api.get("/products?q=NEWBIE", user="admin").json()["items"] == []
    r = api.post("/products", user="admin", json=base | {"gtin": "04006381333931"})
    assert r.status_code == 201 and r.json()["gtin"] == "04006381333931"
    r = api.patch(f"/products/{r.json()['id']}", user="admin", json={"gtin": "12345678"})
    assert r.status_code == 422
