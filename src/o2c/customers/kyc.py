"""Know-your-customer checks, pure: the checklist of documents a business customer gives before it is
activated, what may be uploaded, and where each item stands.

The checklist follows what customer due diligence for a legal person asks (EU AML directive, art. 13):
who the company is (a register extract), where it is (proof of its registered address), who owns and
controls it (the ultimate beneficial owners) and who acts for it (a director's identity). Every item
is required; an item is done when one of its documents was accepted by a compliance reviewer.
"""
from __future__ import annotations

from dataclasses import dataclass

from o2c.core.errors import FieldError


@dataclass(frozen=True)
class Item:
    kind: str
    title: str
    what: str


CHECKLIST: tuple[Item, ...] = (
    Item("registry_extract", "Certificate of incorporation or commercial register extract",
         "shows the legal name, registration number, legal form and registered office"),
    Item("proof_of_address", "Proof of registered address",
         "a recent utility bill, bank statement or official letter to the registered office"),
    Item("ubo_declaration", "Ultimate beneficial owner declaration",
         "every natural person owning or controlling 25% or more, signed by a director"),
    Item("director_id", "Identity document of a director or authorised signatory",
         "passport or national identity card of the person who signs for the company"),
)
KINDS = tuple(i.kind for i in CHECKLIST)

# What a document may be: scans and PDFs, recognised by their first bytes as well as their declared
# type, so a renamed executable is not stored as a "PDF".
CONTENT_TYPES = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/tiff": (b"II*\x00", b"MM\x00*"),
}
MAX_SIZE = 10 * 1024 * 1024  # 10 MiB: a multi-page scan at 300 dpi fits

REVIEW_DECISIONS = ("accepted", "rejected")


# Declared by clients that do not know the type (curl -F, some browsers): the content decides.
UNKNOWN_TYPES = ("", "application/octet-stream", "binary/octet-stream")


def content_type_of(declared: str | None, content: bytes) -> str:
    """The document's type: as declared (without parameters, lower case), or read from its first bytes
    when the client declared none; an unknown one stays as declared, for document_errors to refuse."""
    ctype = (declared or "").split(";")[0].strip().lower()
    if ctype in UNKNOWN_TYPES:
        return next((t for t, magics in CONTENT_TYPES.items() if content.startswith(magics)), ctype)
    return ctype


def document_errors(kind: str, filename: str | None, content_type: str | None, content: bytes) -> list[FieldError]:
    """Why a document cannot be stored (empty when it can): its kind must be on the checklist, its type
    one of CONTENT_TYPES and matching its content, its size at most MAX_SIZE and not empty."""
    errors = []
    if kind not in KINDS:
        errors.append(FieldError("kind", "not_on_checklist",
                                 f"{kind!r} is not on the KYC checklist: one of {', '.join(KINDS)}"))
    if not (filename or "").strip():
        errors.append(FieldError("file", "filename_required", "the file needs a name"))
    ctype = content_type_of(content_type, content)
    if ctype not in CONTENT_TYPES:
        errors.append(FieldError("file", "content_type",
                                 f"content type {content_type!r} is not accepted: one of {', '.join(CONTENT_TYPES)}"))
    if not content:
        errors.append(FieldError("file", "empty", "the file is empty"))
    elif len(content) > MAX_SIZE:
        errors.append(FieldError("file", "too_large", f"the file has more than {MAX_SIZE} bytes (10 MiB), "
                                                      "the most accepted"))
    elif ctype in CONTENT_TYPES and not content.startswith(CONTENT_TYPES[ctype]):
        errors.append(FieldError("file", "content_mismatch", f"the file's content is not {ctype}"))
    return errors


@dataclass(frozen=True)
class Doc:
    """What the checklist needs to know of a stored document."""

    id: int
    kind: str
    status: str  # received, accepted, rejected


def checklist_state(docs: list[Doc]) -> list[dict]:
    """Each checklist item with its state: `accepted` (a document of its kind was accepted), `received`
    (one waits for review), `rejected` (every one was rejected: a new one is needed) or `missing`."""
    out = []
    for item in CHECKLIST:
        mine = [d for d in docs if d.kind == item.kind]
        statuses = {d.status for d in mine}
        state = ("accepted" if "accepted" in statuses else "received" if "received" in statuses
                 else "rejected" if statuses else "missing")
        out.append({"kind": item.kind, "title": item.title, "what": item.what, "state": state,
                    "document_ids": [d.id for d in mine]})
    return out


def missing(docs: list[Doc]) -> list[str]:
    """The checklist kinds not yet accepted; empty when the checklist is complete."""
    return [i["kind"] for i in checklist_state(docs) if i["state"] != "accepted"]
