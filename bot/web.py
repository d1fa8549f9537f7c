"""The HTTP side (Starlette under uvicorn): webhooks, health, metrics.

GET  /webhooks/whatsapp   Meta's verification handshake (hub.mode, .verify_token, .challenge)
POST /webhooks/whatsapp   inbound events; only with a valid X-Hub-Signature-256
POST /webhooks/telegram   Telegram webhook mode; only with the secret token header
GET  /healthz             database and channels
GET  /metrics             Prometheus text format (bot/metrics.py)
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.channels.whatsapp_events import MalformedWebhook, parse_webhook, verify_signature
from bot.settings import TELEGRAM_WEBHOOK_PATH
from storage.db import Database

log = logging.getLogger(__name__)
MAX_BODY = 1_000_000  # Meta's payloads are a few kB; refuse anything absurd


@dataclass
class WebDeps:
    db: Database
    whatsapp: Any = None  # bot.channels.whatsapp.WhatsAppChannel
    whatsapp_app_secret: str | None = None
    whatsapp_verify_token: str | None = None
    telegram: Any = None  # bot.channels.telegram.TelegramChannel (webhook mode)
    telegram_secret: str | None = None
    # name -> async check (the channel's `health`): a report with "ok": False makes it 503
    channel_health: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = field(default_factory=dict)
    extra_routes: list[BaseRoute] = field(default_factory=list)
    on_request: Callable[[str, int], Awaitable[None] | None] | None = None


def create_app(deps: WebDeps) -> Starlette:
    async def whatsapp_verify(request: Request) -> Response:
        params = request.query_params
        token = params.get("hub.verify_token", "")
        expected = deps.whatsapp_verify_token or ""
        if (
            params.get("hub.mode") == "subscribe"
            and expected
            and hmac.compare_digest(token.encode(), expected.encode())
        ):
            return PlainTextResponse(params.get("hub.challenge", ""))
        return PlainTextResponse("forbidden", status_code=403)

    async def whatsapp_event(request: Request) -> Response:
        if deps.whatsapp is None or not deps.whatsapp_app_secret:
            return PlainTextResponse("whatsapp is not configured", status_code=404)
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return PlainTextResponse("too large", status_code=413)
        signature = request.headers.get("x-hub-signature-256")
        if not verify_signature(raw, signature, deps.whatsapp_app_secret):
            log.warning("whatsapp webhook with a missing or wrong signature rejected")
            return PlainTextResponse("forbidden", status_code=403)
        try:
            parsed = parse_webhook(json.loads(raw))
        except (ValueError, RecursionError) as exc:  # MalformedWebhook is a ValueError
            reason = str(exc) if isinstance(exc, MalformedWebhook) else "body is not JSON"
            log.warning("malformed whatsapp webhook: %s", reason)
            return PlainTextResponse("malformed", status_code=400)
        for ignored in parsed.ignored:
            log.debug("whatsapp webhook item ignored: %s", ignored.reason)
        for error in parsed.errors:
            log.warning("whatsapp webhook error %s: %s", error.code, error.title)
        deps.whatsapp.accept(parsed)  # work continues in the background
        return PlainTextResponse("ok")

    async def telegram_event(request: Request) -> Response:
        if deps.telegram is None or not deps.telegram_secret:
            return PlainTextResponse("telegram webhook is not configured", status_code=404)
        given = request.headers.get("x-telegram-bot-api-secret-token", "")
        if not hmac.compare_digest(given.encode(), deps.telegram_secret.encode()):
            log.warning("telegram webhook without the right secret token rejected")
            return PlainTextResponse("forbidden", status_code=403)
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return PlainTextResponse("too large", status_code=413)
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or "update_id" not in data:
                raise ValueError("not an update")
        except ValueError:
            return PlainTextResponse("malformed", status_code=400)
        try:  # answered only once handled: see TelegramChannel.process_json
            await deps.telegram.process_json(data)
        except Exception:  # noqa: BLE001  (Telegram delivers it again; the dedupe holds)
            log.exception("telegram webhook update %s failed", data.get("update_id"))
            return PlainTextResponse("error", status_code=500)
        return PlainTextResponse("ok")

    async def healthz(request: Request) -> Response:
        """200 when the database and every channel are fine, else 503. `?only=database`: the
        database alone, for a load balancer (a worker whose database works serves both
        channels' webhooks even when one platform rejects its token)."""
        body: dict[str, Any] = {"status": "ok"}
        try:
            async with deps.db.session() as session:
                await session.execute(text("SELECT 1"))
            body["database"] = "ok"
        except Exception as exc:  # noqa: BLE001  (report any failure as unhealthy)
            body["database"] = f"error: {type(exc).__name__}"
            body["status"] = "degraded"
        if request.query_params.get("only") == "database":
            return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)
        names = list(deps.channel_health)
        reports = await asyncio.gather(*(deps.channel_health[name]() for name in names))
        body["channels"] = dict(zip(names, reports, strict=True))
        if any(report.get("ok") is False for report in reports):
            body["status"] = "degraded"
        code = 200 if body["status"] == "ok" else 503
        return JSONResponse(body, status_code=code)

    async def metrics_endpoint(_request: Request) -> Response:
        from bot import metrics

        try:
            body = await metrics.render(deps.db)
        except Exception as exc:  # noqa: BLE001  (the process metrics still count)
            log.warning("metrics: the outbox gauges could not be read: %s", type(exc).__name__)
            body = await metrics.render(None)
        return Response(body, media_type=metrics.CONTENT_TYPE)

    routes: list[BaseRoute] = [
        Route("/webhooks/whatsapp", whatsapp_verify, methods=["GET"]),
        Route("/webhooks/whatsapp", whatsapp_event, methods=["POST"]),
        Route(TELEGRAM_WEBHOOK_PATH, telegram_event, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        *deps.extra_routes,
    ]
    return Starlette(routes=routes)


class WebServer:
    """uvicorn in the running event loop (no signal handlers of its own)."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
            access_log=False,
            log_config=None,
        )
        self.server = uvicorn.Server(config)
        # the process owns SIGINT/SIGTERM (bot/runner.py), not uvicorn
        self.server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
        self._task = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self._task.done():
                self._task.result()  # raises the bind error, e.g. port in use
            await asyncio.sleep(0.01)

    @property
    def port(self) -> int:
        servers = getattr(self.server, "servers", [])
        for srv in servers:
            for sock in srv.sockets:
                return sock.getsockname()[1]
        return self.server.config.port

    async def stop(self) -> None:
        if self._task is None:
            return
        self.server.should_exit = True
        await self._task
        self._task = None
