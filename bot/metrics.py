"""Prometheus metrics, one registry per app (no import-time globals shared between apps or tests).

Served at `/metrics`. With several worker processes each serves its own numbers; scrape every
worker (or put them behind a collector), as usual for Prometheus.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.turns = Counter("shopbot_turns_total", "Shopper turns handled", ["outcome"], registry=r)
        self.shopper_messages = Counter(
            "shopbot_shopper_messages_total", "Shopper messages, by the conversation's language after each", ["language"], registry=r
        )
        self.time_to_first_token = Histogram(
            "shopbot_time_to_first_token_seconds", "From the shopper's message to the first reply chunk", buckets=LATENCY_BUCKETS, registry=r
        )
        self.turn_latency = Histogram(
            "shopbot_turn_latency_seconds", "From the shopper's message to the complete reply", buckets=LATENCY_BUCKETS, registry=r
        )
        self.tool_calls = Counter("shopbot_tool_calls_total", "Tool calls", ["tool", "outcome"], registry=r)
        self.moderation_actions = Counter("shopbot_moderation_actions_total", "Moderation decisions", ["source", "action"], registry=r)
        self.handoffs = Counter("shopbot_handoffs_total", "Handoff state changes", ["action"], registry=r)
        self.open_sockets = Gauge("shopbot_open_sockets", "Open WebSocket connections", ["kind"], registry=r)
        self.errors = Counter("shopbot_errors_total", "Error frames sent", ["code"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
