"""The workbench: MATIH in a browser, served by the same FastAPI app as the API.

Pages are server-rendered shells (Jinja2) and one small script of MATIH's own (``static/workbench.js``)
that fetches the JSON API the CLI's numbers come from and draws it: a page never computes anything
itself. Why shells over the JSON API rather than a bundled single-page app: every number on a page is
then one API call away from the same number in a terminal (``curl``), the pages need no build step,
and the only third-party browser code is uPlot for charts, installed from npm by ``make setup`` into
``web/node_modules`` (never committed) and served under ``/ui/vendor``. Without it, pages work and
charts are replaced by their tables.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

__all__ = ["PAGES", "install", "vendor_dir"]

HERE = Path(__file__).parent
#: page name -> (title, workbench): the navigation, in order
PAGES: dict[str, tuple[str, str]] = {
    "catalog": ("Catalog", "Data Workbench"),
    "models": ("Models", "ML Workbench"),
    "experiments": ("Experiments and routing", "ML Workbench"),
    "forecasts": ("Forecast explorer", "ML Workbench"),
}
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
            "current": section or page,
            "title": title or PAGES[page][0],
            "workspace": ws.settings().name,
            "charts": request.app.state.workbench_charts,
            **context,
        },
    )


def install(app: FastAPI) -> None:
    """Serve the workbench pages, MATIH's own assets and the npm-installed libraries."""
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="workbench-static")
    vendor = vendor_dir()
    app.state.workbench_charts = vendor is not None
    if vendor is not None:
        app.mount("/ui/vendor", StaticFiles(directory=vendor), name="workbench-vendor")
    app.include_router(router)
