"""Onboarding routes under /customers: applications, KYC documents and checklist, status steps, contacts.
Thin: each identifies the actor and calls o2c.customers.onboarding."""
from __future__ import annotations

import hashlib
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel

from o2c.core.db import read_session
from o2c.core.schemas import IdPath, Page
from o2c.customers import kyc, onboarding
from o2c.customers.onboarding_schemas import (
    ApplicationIn, ApplicationOut, ApplicationPatch, ContactIn, ContactOut, ContactPatch, DocumentOut, KycOut,
    ReviewIn, StepIn,
)
from o2c.web.deps import CtxDep, IdemKey, ReaderDep, cursor_to_id
from o2c.web.responses import change, create

router = APIRouter(prefix="/customers", tags=["customer onboarding"])


class UploadRequest(BaseModel):
    kind: str
    filename: str | None
    content_type: str | None
    sha256: str


@router.post("/applications", status_code=201, response_model=ApplicationOut)
def apply(data: ApplicationIn, ctx: CtxDep, idempotency_key: IdemKey = None):
    """A new customer applies: stored as a prospect (orders are held until it is active). The answer
    lists possible duplicates among the company's customers."""
    return create(ctx, idempotency_key, "/customers/applications", data, ApplicationOut,
                  lambda s: onboarding.apply(s, ctx.actor, ctx.company_id, data))


@router.get("/applications", response_model=Page[ApplicationOut])
def list_applications(ctx: ReaderDep, status: str | None = Query(None, max_length=20), cursor: str | None = None,
                      limit: int = Query(50, ge=1, le=200)):
    """Customers in onboarding (prospect and pending_kyc), or those of the status given."""
    with read_session() as s:
        items = onboarding.list_applications(s, ctx.actor, ctx.company_id, status, cursor_to_id(cursor) or 0, limit)
        return Page[ApplicationOut](items=items, next_cursor=str(items[-1]["id"]) if len(items) == limit else None)


@router.get("/{customer_id}/application", response_model=ApplicationOut)
def get_application(customer_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return ApplicationOut.model_validate(onboarding.application_view(s, ctx.company_id, customer_id, ctx.actor))


@router.patch("/{customer_id}/application", response_model=ApplicationOut)
def update_application(customer_id: IdPath, patch: ApplicationPatch, ctx: CtxDep):
    return change(ApplicationOut,
                  lambda s: onboarding.update_application(s, ctx.actor, ctx.company_id, customer_id, patch))


@router.post("/{customer_id}/documents", status_code=201, response_model=DocumentOut)
def upload_document(customer_id: IdPath, ctx: CtxDep, kind: Annotated[str, Form(max_length=40)],
                    file: Annotated[UploadFile, File()], idempotency_key: IdemKey = None):
    """A KYC document (multipart form: `kind`, one of the checklist's, and `file`: PDF, PNG, JPEG or TIFF,
    at most 10 MiB; with no declared type, or application/octet-stream, its first bytes decide)."""
    content = file.file.read(kyc.MAX_SIZE + 1)
    # What the Idempotency-Key is checked against: the form, with the file by its digest.
    request = UploadRequest(kind=kind, filename=file.filename, content_type=file.content_type,
                            sha256=hashlib.sha256(content).hexdigest())
    return create(ctx, idempotency_key, f"/customers/{customer_id}/documents", request, DocumentOut,
                  lambda s: onboarding.upload_document(s, ctx.actor, ctx.company_id, customer_id, kind,
                                                       file.filename, file.content_type, content))


@router.get("/{customer_id}/documents", response_model=list[DocumentOut])
def list_documents(customer_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return [DocumentOut.model_validate(d)
                for d in onboarding.list_documents(s, ctx.actor, ctx.company_id, customer_id)]


@router.get("/{customer_id}/documents/{doc_id}/content", response_class=Response,
            responses={200: {"content": {t: {} for t in kyc.CONTENT_TYPES}}})
def document_content(customer_id: IdPath, doc_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        doc = onboarding.document_content(s, ctx.actor, ctx.company_id, customer_id, doc_id)
        return Response(doc.content, media_type=doc.content_type, headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(doc.filename)}",
            "X-Content-SHA256": doc.sha256})


@router.post("/{customer_id}/documents/{doc_id}/review", response_model=DocumentOut)
def review_document(customer_id: IdPath, doc_id: IdPath, body: ReviewIn, ctx: CtxDep):
    return change(DocumentOut, lambda s: onboarding.review_document(
        s, ctx.actor, ctx.company_id, customer_id, doc_id, body.decision, body.note))


@router.get("/{customer_id}/kyc", response_model=KycOut)
def kyc_state(customer_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return KycOut.model_validate(onboarding.kyc_state(s, ctx.actor, ctx.company_id, customer_id))


def _step_route(step: str, doc: str):
    fn = getattr(onboarding, step)

    def route(customer_id: IdPath, ctx: CtxDep, body: StepIn | None = None):
        reason = body.reason if body else None
        return change(ApplicationOut, lambda s: fn(s, ctx.actor, ctx.company_id, customer_id, reason))

    route.__doc__ = doc
    route.__name__ = f"{step}_customer"
    router.add_api_route(f"/{{customer_id}}/{step}", route, methods=["POST"], response_model=ApplicationOut,
                         name=f"{step}_customer")


_step_route("submit", "prospect -> pending_kyc (masterdata.write): the application goes to compliance.")
_step_route("activate", "pending_kyc -> active (kyc.review): every KYC checklist item accepted, no compliance "
                        "hold, not by the user who applied. Held orders of the customer move on.")
_step_route("suspend", "active -> suspended (kyc.review, reason required): the customer's live orders are held.")
_step_route("reinstate", "suspended -> active (kyc.review, reason required).")
_step_route("block", "any status -> blocked, final (kyc.review, reason required): live orders are held.")


@router.get("/{customer_id}/contacts", response_model=list[ContactOut])
def list_contacts(customer_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return [ContactOut.model_validate(c) for c in onboarding.list_contacts(s, ctx.actor, ctx.company_id, customer_id)]


@router.post("/{customer_id}/contacts", status_code=201, response_model=ContactOut)
def add_contact(customer_id: IdPath, data: ContactIn, ctx: CtxDep, idempotency_key: IdemKey = None):
    return create(ctx, idempotency_key, f"/customers/{customer_id}/contacts", data, ContactOut,
                  lambda s: onboarding.add_contact(s, ctx.actor, ctx.company_id, customer_id, data))


@router.patch("/{customer_id}/contacts/{contact_id}", response_model=ContactOut)
def update_contact(customer_id: IdPath, contact_id: IdPath, patch: ContactPatch, ctx: CtxDep):
    return change(ContactOut, lambda s: onboarding.update_contact(
        s, ctx.actor, ctx.company_id, customer_id, contact_id, patch))
