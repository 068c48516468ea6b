"""Headers every answer carries, and the policy for the pages people open: the answer and
unsubscribe pages behind a link token, and the board's dashboard.

- `Referrer-Policy: no-referrer`: a page's address holds its token, which must not travel
  to whatever the page links to.
- `X-Content-Type-Options: nosniff`, and no framing (`frame-ancestors 'none'`,
  `X-Frame-Options: DENY`): no page of ours inside somebody else's.
- For our HTML, a Content-Security-Policy: scripts and everything else from the service
  itself only (styles may be inline, as the small pages' are). FastAPI's own
  documentation pages load Swagger UI and ReDoc from their CDN and keep no such policy.
"""

from __future__ import annotations

ALWAYS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
PAGE_POLICY = (
    b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class SecurityHeaders:
    """ASGI middleware adding the headers above to every HTTP answer."""

    def __init__(self, app, documentation_paths: set[str]) -> None:
        self.app = app
        self.documentation_paths = documentation_paths

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ours = scope.get("path", "") not in self.documentation_paths

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in ALWAYS if name not in present]
                content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"")
                if ours and content_type.startswith(b"text/html") and b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", PAGE_POLICY))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
