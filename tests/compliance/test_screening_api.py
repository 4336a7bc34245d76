"""The /screening API's refusals: each names what is wrong and stores nothing; a repeated upload with
its Idempotency-Key is answered once."""
from __future__ import annotations

from pathlib import Path

SUBSET = Path(__file__).resolve().parents[1] / "fixtures" / "sanctions" / "ofac-sdn-subset"


def upload(**extra) -> list[tuple]:
    files = {p.name: p.read_bytes() for p in SUBSET.glob("*.csv")} | extra
    return [("files", (name, data, "text/csv")) for name, data in sorted(files.items())]


def loads(api) -> list[int]:
    return [x["id"] for x in api.get("/screening/lists", user="compliance").json()]


def test_refused_uploads_name_the_problem_and_store_nothing(api):
    r = api.post("/screening/lists", user="compliance", content=b"x", headers={"Content-Type": "text/csv"})
    assert r.status_code == 415, r.text
    r = api.post("/screening/lists", user="compliance", files=upload(**{"readme.txt": b"hi"}))
    assert (r.status_code, r.json()["errors"][0]["field"]) == (422, "readme.txt")
    r = api.post("/screening/lists", user="compliance",
                 files=[f for f in upload() if f[1][0] != "sdn.csv"])
    assert (r.status_code, r.json()["errors"][0]["field"]) == (422, "sdn.csv")
    r = api.post("/screening/lists", user="compliance", files=upload(), data={"note": "monthly"})
    assert (r.status_code, r.json()["errors"][0]["code"]) == (422, "not_a_file")
    sdn = (SUBSET / "sdn.csv").read_bytes().replace(b'15102,"MORENO', b'15x02,"MORENO')
    r = api.post("/screening/lists", user="compliance", files=upload(**{"sdn.csv": sdn}))
    assert r.status_code == 422
    assert r.json()["errors"][0] == {"field": "sdn.csv:4", "code": "sanctions_row",
                                     "message": "sdn.csv line 4: ent_num '15x02' is not a number"}
    assert loads(api) == []


def test_a_load_is_answered_once_per_idempotency_key_and_the_same_list_twice_is_a_conflict(api):
    key = {"Idempotency-Key": "sdn-2026-11"}
    first = api.post("/screening/lists", user="compliance", files=upload(), headers=key)
    again = api.post("/screening/lists", user="compliance", files=upload(), headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first.json()
    assert loads(api) == [first.json()["id"]]
    r = api.post("/screening/lists", user="compliance", files=upload())
    assert r.status_code == 409 and r.json()["load_id"] == first.json()["id"]


def test_queue_and_decision_refusals(api, world):
    assert api.post("/screening/customers/1", user="compliance").status_code == 409  # no list loaded yet
    api.post("/screening/lists", user="compliance", files=upload())
    assert api.get("/screening/hits?status=closed", user="compliance").status_code == 422
    assert api.get("/screening/hits/99999", user="compliance").status_code == 404
    r = api.post("/screening/hits/99999/decision", user="compliance",
                 json={"decision": "false_positive", "reason": "x"})
    assert r.status_code == 404
    r = api.post("/screening/hits/1/decision", user="compliance", json={"decision": "clear", "reason": "x"})
    assert (r.status_code, r.json()["errors"][0]["field"]) == (422, "decision")
    r = api.post("/screening/hits/1/decision", user="compliance",
                 json={"decision": "false_positive", "reason": "x", "by": "me"})
    assert r.status_code == 422
    assert api.post(f"/screening/customers/{world['ids']['BIGBUY']}", user="desk").status_code == 403
    r = api.post(f"/screening/customers/{world['ids']['BIGBUY']}", user="compliance")
    assert r.status_code == 200 and r.json()["compliance_hold"] is False
    assert api.post("/screening/customers/99999", user="compliance").status_code == 404
