"""Rule tests for onboarding: the KYC checklist and documents (o2c.customers.kyc) and the customer's
status steps (o2c.customers.lifecycle)."""
from __future__ import annotations

import pytest

from o2c.core.errors import Conflict
from o2c.customers import kyc, lifecycle
from o2c.customers.kyc import Doc

PDF = b"%PDF-1.7\n..."


def test_the_checklist_names_four_required_documents():
    assert kyc.KINDS == ("registry_extract", "proof_of_address", "ubo_declaration", "director_id")
    assert kyc.missing([]) == list(kyc.KINDS)


def test_an_item_is_accepted_once_any_of_its_documents_is():
    docs = [Doc(1, "registry_extract", "rejected"), Doc(2, "registry_extract", "accepted"),
            Doc(3, "proof_of_address", "received"), Doc(4, "ubo_declaration", "rejected")]
    states = {i["kind"]: (i["state"], i["document_ids"]) for i in kyc.checklist_state(docs)}
    assert states == {"registry_extract": ("accepted", [1, 2]), "proof_of_address": ("received", [3]),
                      "ubo_declaration": ("rejected", [4]), "director_id": ("missing", [])}
    assert kyc.missing(docs) == ["proof_of_address", "ubo_declaration", "director_id"]
    # A received document outweighs a rejected one: the new one waits for review.
    assert kyc.checklist_state([Doc(5, "director_id", "rejected"), Doc(6, "director_id", "received")])[3][
        "state"] == "received"
    assert kyc.missing([Doc(i, k, "accepted") for i, k in enumerate(kyc.KINDS)]) == []


@pytest.mark.parametrize("kind, name, ctype, content, field, code", [
    ("selfie", "me.pdf", "application/pdf", PDF, "kind", "not_on_checklist"),
    ("director_id", "", "application/pdf", PDF, "file", "filename_required"),
    ("director_id", "id.docx", "application/msword", PDF, "file", "content_type"),
    ("director_id", "id.pdf", "application/pdf", b"", "file", "empty"),
    ("director_id", "id.pdf", "application/pdf", b"MZ\x90\x00", "file", "content_mismatch"),
    ("director_id", "id.png", "image/png", PDF, "file", "content_mismatch"),
    ("director_id", "id.pdf", "application/pdf", PDF + b"x" * kyc.MAX_SIZE, "file", "too_large"),
])
def test_a_document_that_is_not_accepted_says_why(kind, name, ctype, content, field, code):
    errors = kyc.document_errors(kind, name, ctype, content)
    assert [(e.field, e.code) for e in errors] == [(field, code)]


@pytest.mark.parametrize("ctype, content", [
    ("application/pdf", PDF), ("image/png", b"\x89PNG\r\n\x1a\nrest"), ("image/jpeg", b"\xff\xd8\xff\xe0rest"),
    ("image/tiff", b"II*\x00rest"), ("image/tiff", b"MM\x00*rest"), ("Application/PDF; charset=binary", PDF),
])
def test_pdfs_and_scans_are_accepted(ctype, content):
    assert kyc.document_errors("proof_of_address", "x", ctype, content) == []


@pytest.mark.parametrize("declared, content, read", [
    (None, PDF, "application/pdf"), ("application/octet-stream", b"\xff\xd8\xff\xe0", "image/jpeg"),
    ("", b"II*\x00", "image/tiff"), ("application/octet-stream", b"text", "application/octet-stream"),
    ("image/png", PDF, "image/png"),  # a declared type stands (and then must match the content)
])
def test_an_undeclared_type_is_read_from_the_first_bytes(declared, content, read):
    assert kyc.content_type_of(declared, content) == read


def test_a_document_of_exactly_the_maximum_size_is_accepted():
    assert kyc.document_errors("director_id", "a.pdf", "application/pdf", PDF.ljust(kyc.MAX_SIZE, b" ")) == []


@pytest.mark.parametrize("status, step, after", [
    ("prospect", "submit", "pending_kyc"),
    ("pending_kyc", "activate", "active"),
    ("active", "suspend", "suspended"),
    ("suspended", "reinstate", "active"),
    ("prospect", "block", "blocked"),
    ("pending_kyc", "block", "blocked"),
    ("active", "block", "blocked"),
    ("suspended", "block", "blocked"),
])
def test_the_allowed_steps_lead_where_they_say(status, step, after):
    assert lifecycle.next_status(status, step) == after
    assert step in lifecycle.allowed_steps(status)


def test_every_other_step_is_a_conflict_naming_the_allowed_ones():
    allowed = {(s, step) for s in lifecycle.STATUSES for step in lifecycle.allowed_steps(s)}
    refused = [(s, step) for s in lifecycle.STATUSES for step in lifecycle.STEPS if (s, step) not in allowed]
    assert len(refused) == len(lifecycle.STATUSES) * len(lifecycle.STEPS) - 8
    for status, step in refused:
        with pytest.raises(Conflict) as exc:
            lifecycle.next_status(status, step)
        assert exc.value.extra["allowed"] == lifecycle.allowed_steps(status)
    with pytest.raises(Conflict, match="a prospect customer cannot be activated: allowed from prospect: submit, block"):
        lifecycle.next_status("prospect", "activate")
    with pytest.raises(Conflict, match="blocked is final"):
        lifecycle.next_status("blocked", "reinstate")
