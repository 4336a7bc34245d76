"""The onboarding routes' contract: Idempotency-Key on applications, bad requests refused naming the
field (and changing nothing), records of other customers not found, /customers/applications not read
as a customer id."""
from __future__ import annotations

from sqlalchemy import func, select

from o2c.core.db import read_session
from o2c.customers.models import CustomerContact, KycDocument
from o2c.customers import kyc
from tests.api import assert_problem, snapshot
from tests.customers.test_onboarding_story import APPLICATION, PDF


def _state() -> dict:
    with read_session() as s:
        return snapshot() | {m.__tablename__: s.scalar(select(func.count()).select_from(m))
                             for m in (CustomerContact, KycDocument)}


def test_an_application_retried_with_its_key_is_stored_once(api, world):
    key = {"Idempotency-Key": "apply-nordhafen-1"}
    first = api.post("/customers/applications", user="onboarder", json=APPLICATION, headers=key)
    again = api.post("/customers/applications", user="onboarder", json=APPLICATION, headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json()["id"] == first.json()["id"]
    other = api.post("/customers/applications", user="onboarder", json=APPLICATION | {"code": "NH2"}, headers=key)
    assert_problem(other, 422)  # the same key with another body
    assert [a["code"] for a in api.get("/customers/applications").json()["items"]] == ["NORDHAFEN"]


def test_bad_requests_name_the_field_and_change_nothing(api, world):
    cid = api.post("/customers/applications", user="onboarder", json=APPLICATION).json()["id"]
    doc = api.post(f"/customers/{cid}/documents", user="onboarder", data={"kind": "director_id"},
                   files={"file": ("id.pdf", PDF, "application/pdf")}).json()
    contact = api.get(f"/customers/{cid}/contacts").json()[0]
    bigbuy = world["ids"]["BIGBUY"]
    too_big = PDF + b" " * kyc.MAX_SIZE
    cases = [
        ("post", "/customers/applications", {"json": APPLICATION | {"nickname": "NH"}}, 422, "nickname"),
        ("post", "/customers/applications", {"json": APPLICATION | {"bank_accounts": [{"bic": "COBADEFF"}]}}, 422,
         "bank_accounts[0].iban"),
        ("get", "/customers/applications", {"params": {"status": "sleeping"}}, 422, "status"),
        ("patch", f"/customers/{cid}/application", {"json": {"legal_name": None}}, 422, "legal_name"),
        ("patch", f"/customers/{cid}/application", {"json": {"tax_id": "DE1"}}, 422, "tax_id"),
        ("post", f"/customers/{cid}/documents", {"data": {"kind": "director_id"}}, 422, "file"),
        ("post", f"/customers/{cid}/documents", {"files": {"file": ("id.pdf", PDF, "application/pdf")}}, 422, "kind"),
        ("post", f"/customers/{cid}/documents", {"data": {"kind": "director_id"},
                                                 "files": {"file": ("big.pdf", too_big, "application/pdf")}}, 422, "file"),
        ("post", f"/customers/{cid}/documents/{doc['id']}/review", {"json": {"decision": "maybe"}}, 422, "decision"),
        ("post", f"/customers/{cid}/suspend", {"json": {"reason": "x", "when": "now"}}, 422, "when"),
        ("post", f"/customers/{cid}/contacts", {"json": {"email": "a@b.example"}}, 422, "name"),
        ("patch", f"/customers/{cid}/contacts/{contact['id']}", {"json": {"name": None}}, 422, "name"),
        # Other customers' records, and records that do not exist, are not found.
        ("get", f"/customers/{bigbuy}/documents/{doc['id']}/content", {}, 404, None),
        ("post", f"/customers/{bigbuy}/documents/{doc['id']}/review", {"json": {"decision": "accepted"}}, 404, None),
        ("patch", f"/customers/{bigbuy}/contacts/{contact['id']}", {"json": {"role": "x"}}, 404, None),
        ("get", "/customers/999999/application", {}, 404, None),
        ("post", "/customers/999999/activate", {}, 404, None),
    ]
    failures = []
    for verb, path, kw, status, field in cases:
        before = _state()
        r = getattr(api, verb)(path, user="admin" if "review" not in path else "compliance", **kw)
        try:
            assert_problem(r, status, field)
        except AssertionError as exc:
            failures.append(f"{verb} {path} {kw.get('json') or kw.get('data') or ''}: {exc}")
        if _state() != before:
            failures.append(f"{verb} {path}: refused but changed data")
    assert failures == []


def test_the_applications_list_is_not_a_customer_id(api, world):
    r = api.get("/customers/applications")
    assert r.status_code == 200 and r.json() == {"items": [], "next_cursor": None}
    assert api.get("/customers/applications", params={"status": "active"}).json()["items"][0]["code"] == "BIGBUY"
    assert api.get(f"/customers/{world['ids']['BIGBUY']}").json()["status"] == "active"


def test_a_document_upload_retried_with_its_key_is_stored_once_and_an_untyped_one_is_read(api, world):
    cid = api.post("/customers/applications", user="onboarder", json=APPLICATION).json()["id"]
    key = {"Idempotency-Key": "hrb-extract-1"}
    form = {"data": {"kind": "registry_extract"}, "files": {"file": ("hrb", PDF, "application/octet-stream")}}
    first = api.post(f"/customers/{cid}/documents", user="onboarder", headers=key, **form)
    again = api.post(f"/customers/{cid}/documents", user="onboarder", headers=key, **form)
    assert (first.status_code, again.status_code) == (201, 201), first.text
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json()["id"] == first.json()["id"]
    assert first.json()["content_type"] == "application/pdf"  # no type declared: the first bytes say PDF
    other = api.post(f"/customers/{cid}/documents", user="onboarder", headers=key, data={"kind": "registry_extract"},
                     files={"file": ("hrb", PDF + b"%v2", "application/octet-stream")})
    assert_problem(other, 422)  # the same key with another file
    assert len(api.get(f"/customers/{cid}/documents").json()) == 1
    untyped = api.post(f"/customers/{cid}/documents", user="onboarder", data={"kind": "director_id"},
                       files={"file": ("id", b"just text", "application/octet-stream")})
    assert assert_problem(untyped, 422, "file")["errors"][0]["code"] == "content_type"
