"""Every error leaves the API as RFC 9457 problem+json, naming the field where there is one."""
from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from o2c.core.errors import O2CError

log = logging.getLogger("o2c.api")
PROBLEM = "application/problem+json"


def problem_response(status: int, body: dict, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _field(loc: tuple) -> str:
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out or (str(loc[0]) if loc else "body")


def _validation_problem(exc: RequestValidationError) -> tuple[int, dict]:
    errors = []
    for e in exc.errors():
        if e.get("type") == "json_invalid":
            ctx = e.get("ctx") or {}
            return 400, {
                "type": "/problems/malformed-json", "title": "Malformed JSON", "status": 400,
                "detail": f"the request body is not valid JSON: {ctx.get('error', e.get('msg'))}",
                "errors": [{"field": "body", "code": "json_invalid", "message": e.get("msg")}],
            }
        loc = tuple(e.get("loc", ()))
        code = e.get("type", "invalid")
        msg = e.get("msg", "invalid")
        if code == "extra_forbidden":
            msg = "unknown field: it is not part of this request's schema"
        elif code == "missing":
            msg = "field required"
        errors.append({"field": _field(loc), "code": code, "message": msg})
    detail = errors[0]["field"] + ": " + errors[0]["message"] if len(errors) == 1 else f"{len(errors)} fields are not valid"
    return 422, {"type": "/problems/validation", "title": "The request is not valid", "status": 422,
                 "detail": detail, "errors": errors}


def install(app: FastAPI) -> None:
    from o2c.web.ui.routes import error_page, is_page, o2c_error_page

    @app.exception_handler(O2CError)
    async def _o2c(_req: Request, exc: O2CError):
        if is_page(_req):
            return o2c_error_page(_req, exc)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return problem_response(exc.status, exc.problem(), headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError):
        status, body = _validation_problem(exc)
        if is_page(_req):
            return error_page(_req, status, body["title"], body["detail"], body.get("errors"))
        return problem_response(status, body)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException):
        if is_page(_req):
            return error_page(_req, exc.status_code, str(exc.detail), "There is no such page here.")
        return problem_response(exc.status_code, {
            "type": "about:blank", "title": str(exc.detail), "status": exc.status_code, "detail": str(exc.detail),
        })

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def _out_of_range(req: Request, exc: Exception):
        # A number too large for its column (an id past 64 bits, an amount past its precision): the
        # request's fault, refused like any bad input; the transaction was rolled back.
        log.warning("value out of range on %s %s: %s", req.method, req.url.path, str(exc).splitlines()[0])
        if is_page(req):
            return error_page(req, 422, "A value is out of range",
                              "A number in the address or the form is too large; nothing was changed.")
        return problem_response(422, {
            "type": "/problems/out-of-range", "title": "A value is out of range", "status": 422,
            "detail": "a value in the request is too large to be stored (a number past its field's range); "
                      "nothing was changed",
        })

    @app.exception_handler(Exception)
    async def _unexpected(req: Request, exc: Exception):
        ref = uuid.uuid4().hex[:12]
        log.exception("unexpected error %s on %s %s", ref, req.method, req.url.path)
        if is_page(req):
            return error_page(req, 500, "Something went wrong",
                              f"The request could not be completed; nothing was changed (reference {ref}).")
        return problem_response(500, {
            "type": "/problems/internal", "title": "Internal error", "status": 500,
            "detail": f"the request could not be completed; nothing was changed (reference {ref})",
            "reference": ref,
        })
