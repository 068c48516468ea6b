"""HTTP errors as RFC 9457 problem details (application/problem+json), for every service:
each says what is wrong and, for invalid input, where (a JSON pointer per problem)."""

from __future__ import annotations

import logging
import uuid
from http import HTTPStatus

import asyncpg
from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.failures import TransientError, is_transient

PROBLEM_JSON = "application/problem+json"
# What a 503 asks a client to wait before it tries again.
RETRY_AFTER_S = 5
log = logging.getLogger(__name__)


class Problem(Exception):
    """Raise from an endpoint to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        errors: list[dict] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug or HTTPStatus(status).phrase.lower().replace(" ", "-")
        self.errors = errors
        self.headers = headers


def problem_response(
    request_path: str,
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    errors: list[dict] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, object] = {
        "type": f"urn:redthread:problem:{slug or HTTPStatus(status).phrase.lower().replace(' ', '-')}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request_path,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _pointer(location: tuple | list) -> str:
    """JSON pointer into the request body ('/company/org_number'); other parts keep their name."""
    parts = list(location)
    if parts and parts[0] == "body":
        parts = parts[1:]
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def validation_errors(errors: list[dict]) -> list[dict]:
    return [
        {
            "pointer": _pointer(e["loc"]),
            "location": [str(p) for p in e["loc"]],
            "detail": e["msg"].removeprefix("Value error, "),
        }
        for e in errors
    ]


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = validation_errors(list(error.errors()))
        summary = "; ".join(f"{e['pointer']}: {e['detail']}" for e in errors[:5])
        return problem_response(
            request.url.path, 422, f"{len(errors)} problem(s) in the request: {summary}", slug="invalid-request", errors=errors
        )

    @app.exception_handler(Problem)
    async def problem(request: Request, error: Problem) -> JSONResponse:
        return problem_response(
            request.url.path, error.status, error.detail, slug=error.slug, errors=error.errors, headers=error.headers
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        if is_transient(error):
            # The database or the broker is away for a moment: nothing was done, and the
            # same request is expected to succeed later.
            log.warning("%s %s: answered 503, a peer is unavailable: %r", request.method, request.url.path, error)
            return problem_response(
                request.url.path, 503,
                f"the service cannot reach what it depends on right now; nothing was done: try again in"
                f" {RETRY_AFTER_S} s",
                slug="temporarily-unavailable",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        reference = uuid.uuid4().hex[:12]
        log.exception("unexpected error %s on %s %s", reference, request.method, request.url.path)
        return problem_response(
            request.url.path, 500, f"an unexpected error happened; quote reference {reference} to the operators",
            slug="internal-error",
        )

    # Also registered for the kinds of error that may be transient, so that they are
    # answered by the inner exception middleware: the outermost one, which handles
    # Exception, logs a traceback for each after the answer ("Exception in ASGI
    # application"), a wall of them while the database restarts.
    for kind in (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, KafkaError, TransientError):
        app.add_exception_handler(kind, unexpected)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return problem_response(request.url.path, error.status_code, str(error.detail), headers=error.headers)


class BodySizeLimit:
    """Answers 413 before reading a body larger than `max_bytes`, whether it declares
    its length or streams it in chunks."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _BodyTooLarge:
            await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        response = problem_response(
            scope.get("path", ""), 413, f"the request body is larger than {self.max_bytes} bytes", slug="payload-too-large"
        )
        await response(scope, _no_receive, send)


class _BodyTooLarge(Exception):
    pass


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
