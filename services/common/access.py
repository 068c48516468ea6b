"""Who may call a route. Every route of every service declares it through the dependency
that enforces it, so that what the inventory lists (tests/unit/test_route_inventory.py) is
what is checked:

- public: open by design, with the reason (health, the API's own documentation, the
  dashboard's page, which asks for a key before it shows anything);
- link: open to whoever holds a link token that a message carried to one person (an
  answer page, an unsubscribe page, an Atom feed);
- partner: any partner's active key; what it reaches is then held to its own objects by
  the route (its subscriptions, the events it sent, the companies in its scope);
- reporting board / reporting board or coach: a partner with that reporting role;
- operator: a partner the programme office made an operator (deliveries, messages sent).

A route without one of these fails the inventory test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Mount, Route

from services.common.rate_limits import charge_client

ACCESS_ATTRIBUTE = "__redthread_access__"


@dataclass(frozen=True)
class Access:
    kind: str  # public, link, partner, reporting board, reporting board or coach, operator
    why: str = ""  # for public and link: why it is open

    def __str__(self) -> str:
        return f"{self.kind}: {self.why}" if self.why else self.kind

    @property
    def needs_a_key(self) -> bool:
        return self.kind not in ("public", "link")


def declares(access: Access) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Marks a dependency as the one that enforces `access` on the routes that use it."""

    def mark(dependency: Callable[..., Any]) -> Callable[..., Any]:
        setattr(dependency, ACCESS_ATTRIBUTE, access)
        return dependency

    return mark


def public(why: str, counted: bool = True) -> Any:
    """For `dependencies=[...]` of a route open by design: declares it, and charges the
    client's address (services/common/rate_limits.py) unless `counted` is False."""

    @declares(Access("public", why))
    def open_by_design(request: Request) -> None:
        if counted:
            charge_client(request)

    return Depends(open_by_design)


def link(why: str) -> Any:
    """For a route open to the holder of a link token; the route looks the token up, and
    the client's address is charged."""

    @declares(Access("link", why))
    def token_in_the_path(request: Request) -> None:
        charge_client(request)

    return Depends(token_in_the_path)


# FastAPI's own routes: the API's description, for anyone who integrates with it.
DOCUMENTATION = Access("public", "the API's own documentation")


def declared_access(dependant: Dependant) -> Iterator[Access]:
    """The access declared in each branch of a route's dependency tree, outermost first:
    a dependency that requires the board role builds on the one that requires a reporting
    role, and the route requires what the outer one declares."""
    for dependency in dependant.dependencies:
        access = getattr(dependency.call, ACCESS_ATTRIBUTE, None)
        if access is not None:
            yield access
        else:
            yield from declared_access(dependency)


def route_inventory(app: FastAPI) -> dict[tuple[str, str], list[Access]]:
    """(method, path) → what each route declares (exactly one, when all is well)."""
    routes: dict[tuple[str, str], list[Access]] = {}
    for context in iter_route_contexts(app.routes):  # included routers too, with their prefixes
        route, path = context.original_route, context.path
        if isinstance(route, APIRoute):
            for method in sorted(route.methods):
                routes[(method, path)] = list(dict.fromkeys(declared_access(route.dependant)))
        elif isinstance(route, Route) and path in {app.openapi_url, app.docs_url, app.redoc_url,
                                                   app.swagger_ui_oauth2_redirect_url}:
            for method in sorted(route.methods or ()):
                routes[(method, path)] = [DOCUMENTATION]
        elif isinstance(route, Route):
            for method in sorted(route.methods or ()):
                routes[(method, path)] = []
        elif isinstance(route, Mount):  # static files: the mounted app carries the declaration
            access = getattr(route.app, ACCESS_ATTRIBUTE, None)
            routes[("GET", path + "/{path}")] = [access] if access else []
        else:
            routes[("*", str(path))] = []  # a kind of route nobody declared access for
    return routes


def mounted(app: Any, access: Access) -> Any:
    """Declares who may fetch what a mounted app (static files) serves."""
    setattr(app, ACCESS_ATTRIBUTE, access)
    return app
