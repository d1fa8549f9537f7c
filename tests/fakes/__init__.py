"""Test doubles that speak real HTTP on 127.0.0.1: a fake Telegram Bot API and a fake WhatsApp
Cloud (Graph) API. See each module's docstring for its public API."""

from tests.fakes.graph_api import FakeGraphApi, GraphCall
from tests.fakes.httpserver import HttpServer, Recorder, Request, Response, WaitTimeout
from tests.fakes.telegram_api import Call, FakeBotApi

__all__ = [
    "Call",
    "FakeBotApi",
    "FakeGraphApi",
    "GraphCall",
    "HttpServer",
    "Recorder",
    "Request",
    "Response",
    "WaitTimeout",
]
