"""The workbench: MATIH in a browser, served by the same FastAPI app as the API.

Pages are server-rendered shells (Jinja2) and one small script of MATIH's own (``static/workbench.js``)
that fetches the JSON API the CLI's numbers come from and draws it: a page never computes anything
itself. Why shells over the JSON API rather than a bundled single-page app: every number on a page is
then one API call away from the same number in a terminal (``curl``), the pages need no build step,
and the only third-party browser code is three small libraries installed from npm by ``make setup``
into ``web/node_modules`` (never committed) and served under ``/ui/vendor``: uPlot for charts, Prism
for SQL highlighting, Cytoscape.js for the lineage graph. Without them, pages work: charts and the
graph are replaced by their tables, the editor is plain text.

Signing in: ``/ui/signin`` takes a key from ``matih.yaml``'s ``api_keys`` and answers with a session
cookie (HttpOnly, SameSite=Strict, Secure over HTTPS) that stands for the key's name, never its value
(:func:`matih.api.auth.session_cookie`). Every sign-in, refused or not, is in the audit log. Writes
from the pages (a sync, a run) are JSON POSTs that a strict same-site cookie never accompanies from
another site.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from matih.api.audit import audited
from matih.api.auth import (
    SESSION_COOKIE,
    SESSION_SECONDS,
    Caller,
    Principal,
    key_named,
    session_cookie,
)

__all__ = ["PAGES", "install", "vendor_dir"]

HERE = Path(__file__).parent
#: page name -> (title, workbench): the navigation, in order
PAGES: dict[str, tuple[str, str]] = {
    "sources": ("Sources", "Data Workbench"),
    "catalog": ("Catalog", "Data Workbench"),
    "lineage": ("Lineage", "Data Workbench"),
    "query": ("Query", "Data Workbench"),
    "pipelines": ("Pipelines", "ML Workbench"),
    "models": ("Models", "ML Workbench"),
    "experiments": ("Experiments and routing", "ML Workbench"),
    "monitoring": ("Monitoring", "ML Workbench"),
    "forecasts": ("Forecast explorer", "ML Workbench"),
}
#: pages with a script of their own in static/ (the others are drawn by workbench.js)
SCRIPTS = frozenset({"sources", "lineage", "query", "pipelines", "monitoring", "signin"})
#: the npm packages the pages use (web/package.json); a page whose library is missing says so
LIBRARIES = ("uplot", "prismjs", "cytoscape")
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)


def vendor_dir() -> Path | None:
    """Where npm installed the browser libraries (``MATIH_WEB_VENDOR``, else the checkout's
    ``web/node_modules``); ``None`` when set-up has not run."""
    configured = os.environ.get("MATIH_WEB_VENDOR")
    candidates = [Path(configured)] if configured else [HERE.parents[3] / "web" / "node_modules"]
    return next((p for p in candidates if (p / "uplot" / "dist").is_dir()), None)


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/ui/catalog")


@router.get("/ui/")
def ui_home() -> RedirectResponse:
    return RedirectResponse("/ui/catalog")


class SignIn(BaseModel):
    key: str = Field(min_length=1, max_length=1000)


@router.get("/ui/signin", response_class=HTMLResponse)
def signin_page(request: Request) -> Any:
    return _render(request, "signin", {}, title="Sign in", section="signin")


@router.post("/ui/signin")
def signin(request: Request, body: SignIn, response: Response) -> dict[str, Any]:
    """Check the key and set the session cookie; 401 for a key matih.yaml does not list."""
    ws = request.app.state.workspace
    host = request.client.host if request.client else "?"
    principal = key_named(ws, body.key)
    with audited(ws, principal or Principal("reader", f"anonymous:{host}"), "sign in", {}):
        if principal is None:
            raise HTTPException(401, "unknown key; use a key listed in matih.yaml's api_keys")
    response.set_cookie(
        SESSION_COOKIE,
        session_cookie(ws, principal),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return {"who": principal.who, "role": principal.role}


@router.post("/ui/signout")
def signout(response: Response) -> dict[str, Any]:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return {"signed_out": True}


@router.get("/auth/me", include_in_schema=True, tags=["Access"], summary="Who the caller is")
def whoami(caller: Caller, request: Request) -> dict[str, Any]:
    return {
        "who": caller.who,
        "role": caller.role,
        "keys_configured": bool(request.app.state.workspace.settings().api_keys),
    }


@router.get("/ui/{page}", response_class=HTMLResponse)
def page(request: Request, page: str) -> Any:
    if page not in PAGES:
        raise HTTPException(404, f"no workbench page {page!r}; pages: {', '.join(PAGES)}")
    return _render(request, page, {})


@router.get("/ui/tables/{name}", response_class=HTMLResponse)
def table_page(request: Request, name: str) -> Any:
    return _render(request, "table", {"table": name}, title=name, section="catalog")


def _render(
    request: Request,
    page: str,
    context: dict[str, Any],
    *,
    title: str | None = None,
    section: str | None = None,
) -> Any:
    ws = request.app.state.workspace
    return templates.TemplateResponse(
        request,
        f"{page}.html",
        {
            "pages": PAGES,
            "benches": sorted({bench for _, bench in PAGES.values()}),
            "current": section or page,
            "title": title or PAGES[page][0],
            "workspace": ws.settings().name,
            "charts": request.app.state.workbench_vendor["uplot"],
            "vendor": request.app.state.workbench_vendor,
            "scripts": SCRIPTS,
            **context,
        },
    )


def install(app: FastAPI) -> None:
    """Serve the workbench pages, MATIH's own assets and the npm-installed libraries."""
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="workbench-static")
    vendor = vendor_dir()
    app.state.workbench_vendor = {name: vendor is not None and (vendor / name).is_dir() for name in LIBRARIES}
    if vendor is not None:
        app.mount("/ui/vendor", StaticFiles(directory=vendor), name="workbench-vendor")
    app.include_router(router)
