"""The shopbot HTTP/WebSocket server: wiring only. The turn pipeline lives in `bot/`.

    uvicorn server:app --factory            # settings from the environment
    shopbot serve --port 8000 --workers 2

Routes: `/ws` (shopper socket, protocol v1: docs/protocol.md), `/` (demo storefront),
`/widget.js`, `/api/sessions/{id}/events`, `/healthz`, `/metrics`, OpenAPI at `/docs`.
The database, the engine and the moderator are created in the lifespan, never at import.
"""
from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import html
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request, WebSocket
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from bot import events
from bot.agent_api import agent_router
from bot.agents import load_secret
from bot.bus import make_bus
from bot.db import Database
from bot.logs import configure as configure_logging
from bot.settings import Settings
from bot.turns import Engine
from policies.moderation_api import Moderator

log = logging.getLogger("shopbot.server")
WIDGET_DIR = Path(__file__).resolve().parent / "web_widget"


class EventsPage(BaseModel):
    session_id: str
    events: list[dict[str, Any]]
    last_seq: int


class Health(BaseModel):
    status: str
    engine: str
    moderation: str


SHOPPER_SOCKET_PATH = "/ws"


class ShopbotApp(FastAPI):
    """FastAPI, except that the shopper socket (`/ws`) is dispatched before the middleware stack.

    Shopper sockets are many and long-lived: passing them through the stack would keep a dozen
    middleware frames alive per connection (~14 KB each, measured with tracemalloc) and wrap every
    frame sent in several calls. The socket handles its own errors (bot/shopper_socket.py)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and scope.get("path") == SHOPPER_SOCKET_PATH:
            from bot.shopper_socket import ShopperConnection

            scope["app"] = self
            await ShopperConnection(WebSocket(scope, receive, send), self.state.chat).run()
            return
        await super().__call__(scope, receive, send)


@dataclass(frozen=True)
class StaticAsset:
    body: bytes
    etag: str
    media_type: str

    @classmethod
    def load(cls, path: Path, media_type: str) -> "StaticAsset":
        body = path.read_bytes()
        return cls(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"', media_type)

    def response(self, request: Request, max_age: int = 300) -> Response:
        headers = {"ETag": self.etag, "Cache-Control": f"public, max-age={max_age}, must-revalidate"}
        if self.etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
            return Response(status_code=304, headers=headers)
        return Response(self.body, media_type=self.media_type, headers=headers)


async def load_tool_services(settings: Settings, db: Database) -> dict[str, Any]:
    """What the tools need beside the database: the product catalog and its index, when built."""
    from retrieval.service import SERVICE_KEY, CatalogNotReady, CatalogSearch

    from bot.store.models import StoreUser

    try:
        catalog = await CatalogSearch.load(settings, db)
    except CatalogNotReady as exc:
        log.warning("product search is off until `shopbot index` runs: %s", exc)
        return {}
    # Shoppers are offered what the store sells: the catalogs its customers came from (the public
    # catalogs indexed beside them stay searchable with `shopbot search`).
    async with db.read() as session:
        sources = set((await session.execute(select(StoreUser.source).distinct())).scalars())
    return {SERVICE_KEY: catalog, "catalog_sources": sources or None}


def load_default_engine(settings: Settings, db: Database, services: dict[str, Any]) -> Engine:
    from bot.engine import load_engine

    return load_engine(settings, db, services)


def load_default_moderator(settings: Settings) -> Moderator:
    from policies.moderation import load_moderator

    return load_moderator(settings)


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    moderator: Moderator | None = None,
    limits: Any = None,
    migrate: bool = True,
    own_process: bool = False,
) -> FastAPI:
    """The app. `engine`/`moderator` default to the trained ones, loaded at start-up.
    `own_process`: the app is all its process serves (a worker), so start-up may tune the process
    (its garbage collector) for it; apps built inside a test process leave it alone."""
    from bot.shopper_socket import ChatLimits

    chat_limits = limits or ChatLimits.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from bot.metrics import Metrics
        from bot.pipeline import TurnPipeline
        from bot.sessions import SessionHub
        from bot.shopper_socket import ChatContext

        if migrate:
            from bot.migrate import upgrade_async

            await upgrade_async(settings.database_url)
        db = Database(settings.database_url)
        if engine is None:
            services = await load_tool_services(settings, db)
            the_engine = await asyncio.to_thread(load_default_engine, settings, db, services)
        else:
            the_engine = engine
        the_moderator = moderator
        if the_moderator is None:
            the_moderator = await asyncio.to_thread(load_default_moderator, settings)
            # Its models load lazily on the first check: pay that here, not in a shopper's first turn.
            await asyncio.to_thread(the_moderator.check, "hello", "shopper")
            # The cross-lingual head (other languages) loads from SHOPBOT_HOME, or is fitted once
            # (~10-15 s) and cached there: in the background, so start-up does not wait for it.
            crosslingual = getattr(the_moderator, "crosslingual", None)
            if crosslingual is not None:
                app.state.crosslingual_warm = asyncio.create_task(asyncio.to_thread(crosslingual.warm))
        if "torch" in sys.modules:  # models on PyTorch: one thread per call; concurrent turns use the cores
            sys.modules["torch"].set_num_threads(1)
        metrics = Metrics()
        bus = make_bus(settings.redis_url)
        # Frames cross processes only when there are several (a Redis URL); one process needs no relay.
        hub = SessionHub(db, bus if settings.redis_url else None)
        pipeline = TurnPipeline(db, the_engine, the_moderator, hub, metrics)
        app.state.db = db
        app.state.engine = the_engine
        app.state.moderator = the_moderator
        app.state.metrics = metrics
        app.state.pipeline = pipeline  # `pipeline.agent_say` is the agents' way in
        app.state.chat = ChatContext(hub, pipeline, chat_limits, metrics)
        app.state.widget = StaticAsset.load(WIDGET_DIR / "widget.js", "application/javascript")
        app.state.secret = load_secret(settings.home)  # signs agent tokens
        app.state.bus = bus  # queue notifications and frames between worker processes
        app.state.dashboard_html = (WIDGET_DIR / "agent.html").read_text(encoding="utf-8")
        log.info("engine %s, moderation %s", type(the_engine).__name__, getattr(the_moderator, "mode", "?"))
        # What was loaded above (catalog, vocabularies, models: ~416,000 objects) lives as long as
        # the process: keep it out of the cyclic garbage collector's passes, and collect the young
        # generation less often (a turn allocates thousands of short-lived dicts). Under load the
        # collector took 0.6 ms of a turn's ~8 ms of CPU before, 0.015 ms after (docs/performance.md).
        if own_process:
            gc.collect()
            gc.freeze()
            gc.set_threshold(20_000, 10, 10)
        try:
            yield
        finally:
            await hub.close()
            await app.state.bus.close()
            await db.dispose()

    app = ShopbotApp(title="shopbot", version="1", lifespan=lifespan, description="E-commerce support chat server. "
                     "The shopper WebSocket protocol (/ws) is documented in docs/protocol.md and docs/asyncapi.yaml.")

    app.include_router(agent_router())

    @app.get("/api/sessions/{session_id}/events", response_model=EventsPage, tags=["sessions"])
    async def session_events(request: Request, session_id: str, after_seq: int = Query(0, ge=0), limit: int = Query(500, ge=1, le=1000)) -> EventsPage:
        """Stored events of a session after `after_seq` (the widget's history); 404 for an unknown id."""
        from bot.sessions import UnknownSession, load_session

        db: Database = request.app.state.db
        try:
            record = await load_session(db, session_id)
        except UnknownSession:
            raise HTTPException(status_code=404, detail="unknown session") from None
        return EventsPage(session_id=session_id, events=await events.after(db, session_id, after_seq, limit), last_seq=record.last_seq)

    @app.get("/readyz", tags=["ops"])
    async def readyz(request: Request) -> Response:
        """200 when the database answers and the engine is trained; 503 otherwise (take it out of rotation)."""
        problems = []
        try:
            async with request.app.state.db.read() as session:
                await session.execute(select(1))
        except (SQLAlchemyError, OSError) as exc:  # logged, never echoed
            log.warning("readiness: database unavailable (%s)", type(exc).__name__)
            problems.append("database")
        if type(request.app.state.engine).__name__ == "NotReadyEngine":
            problems.append("engine")
        report: dict[str, Any] = {"status": "ready" if not problems else "not ready", "problems": problems}
        bus = request.app.state.bus
        if hasattr(bus, "healthy"):
            # Reported, not a reason to leave rotation: turns still run and are stored without Redis
            # (only delivery to other workers waits until it is back); see docs/deploy.md, Faults.
            report["redis"] = "ok" if await bus.healthy() else "unavailable"
        body = json.dumps(report)
        return Response(body, status_code=200 if not problems else 503, media_type="application/json")

    @app.get("/healthz", response_model=Health, tags=["ops"])
    async def healthz(request: Request) -> Health:
        return Health(status="ok", engine=type(request.app.state.engine).__name__, moderation=str(getattr(request.app.state.moderator, "mode", "?")))

    @app.get("/metrics", response_class=PlainTextResponse, include_in_schema=False)
    async def metrics(request: Request) -> Response:
        return Response(request.app.state.metrics.render(), media_type="text/plain; version=0.0.4")

    @app.api_route("/widget.js", methods=["GET", "HEAD"], include_in_schema=False)
    async def widget(request: Request) -> Response:
        return request.app.state.widget.response(request)

    @app.get("/", response_class=HTMLResponse, tags=["storefront"])
    async def storefront(request: Request) -> HTMLResponse:
        """The demo storefront: catalog products with the chat widget embedded."""
        page = await render_storefront(request.app.state.db, agent_wait_s=settings.agent_wait_s)
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    return app


async def render_storefront(db: Database, limit: int = 24, agent_wait_s: int = 90) -> str:
    from bot.store.models import Product, Variant

    price = func.min(Variant.price).label("price")
    stmt = (
        select(Product.product_id, Product.name, Product.image, Product.category, price)
        .join(Variant, Variant.product_id == Product.product_id, isouter=True)
        .group_by(Product.product_id)
        .order_by(Product.popularity.desc(), Product.position)
        .limit(limit)
    )
    async with db.read() as session:
        rows = (await session.execute(stmt)).all()
    cards = []
    for product_id, name, image, category, min_price in rows:
        picture = (
            f'<img src="{html.escape(image)}" alt="{html.escape(name)}" loading="lazy">' if image
            else f'<div class="placeholder" aria-hidden="true">{html.escape(name[:1].upper())}</div>'
        )
        price_text = f"from ${min_price:,.2f}" if min_price is not None else "price on request"
        cards.append(
            f'<li class="product" data-product-id="{html.escape(product_id)}">{picture}'
            f'<h2>{html.escape(name)}</h2><p class="category">{html.escape((category or "").split(" > ")[-1])}</p>'
            f'<p class="price">{price_text}</p></li>'
        )
    template = (WIDGET_DIR / "storefront.html").read_text(encoding="utf-8")
    body = "\n".join(cards) if cards else '<li class="empty">The catalog is empty: run <code>shopbot init</code>.</li>'
    return template.replace("{{products}}", body).replace("{{agent_wait_s}}", str(int(agent_wait_s)))


def app() -> FastAPI:
    """`uvicorn server:app --factory`: the app with settings from the environment.

    Logs are JSON lines (one object per line, with the conversation id); set SHOPBOT_LOG_FORMAT=plain
    for a terminal-friendly format.
    """
    settings = Settings.from_env()
    configure_logging(json_lines=settings.log_format == "json")
    return create_app(settings, own_process=True)
