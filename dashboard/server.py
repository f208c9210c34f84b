"""The web server around the dashboard: what Streamlit's settings cannot close.

`streamlit run app.py` finds `app = st.App(...)` in app.py (Streamlit 1.67's ASGI app) and serves
it with this middleware in front of Streamlit's own routes. It answers 404 to
`/_stcore/metrics`, which Streamlit serves to anyone, signed in or not (no setting turns it off):
how many sessions are open and how much the caches hold tells an outsider when the dashboard is
in use and how much it has computed. The health check (`/_stcore/health`) stays open for the
operator's monitoring. It also makes every file the server process writes owner-only.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse

from tf_eval.governance import private

CLOSED_ROUTES = ("_stcore/metrics",)
_SLASHES = re.compile("/+")


def closed(path: str) -> bool:
    """Whether a request path (after any server.baseUrlPath) is one of the closed routes."""
    tidy = _SLASHES.sub("/", path).strip("/").lower()
    return any(tidy == route or tidy.endswith("/" + route) for route in CLOSED_ROUTES)


class ClosedRoutes:
    """ASGI middleware: 404 for the closed routes, everything else passed on."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and closed(scope.get("path", "")):
            await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def server_middleware() -> list[Middleware]:
    """What app.py gives st.App; called once, as the server process starts."""
    private.owner_only_umask()  # the store's spill files, uploads' temporary files: owner-only
    return [Middleware(ClosedRoutes)]
