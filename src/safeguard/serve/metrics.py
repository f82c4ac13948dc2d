"""Prometheus metrics of one service instance (a registry of its own, so apps never share counters)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from safeguard.types import Decision

__all__ = ["Metrics"]

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.decisions = Counter("safeguard_decisions", "Decisions made, by action.", ["action"], registry=r)
        self.rules = Counter(
            "safeguard_rule_matches", "Acting rules that fired, by rule and action.", ["rule", "action"], registry=r
        )
        self.requests = Counter(
            "safeguard_http_requests",
            "HTTP requests, by method, route and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "safeguard_http_request_duration_seconds",
            "Time to answer a request, by method and route.",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "safeguard_errors",
            "Errors: input (a post that is not valid), timeout, classifier, internal, auth, too_large, review_store.",
            ["kind"],
            registry=r,
        )
        self.hooks = Counter(
            "safeguard_hook_deliveries",
            "Webhook deliveries, by forum and result: decided, replayed, ignored, unmapped, bad_signature.",
            ["forum", "result"],
            registry=r,
        )
        self.review = Counter(
            "safeguard_review_store",
            "Writes to the review store (--db), by operation (enqueue, label) and result (ok, failed, timeout).",
            ["operation", "result"],
            registry=r,
        )
        self.reloads = Counter("safeguard_reloads", "Ruleset reloads, by result.", ["result"], registry=r)
        self.ruleset = Gauge(
            "safeguard_ruleset_info", "The ruleset in service (value 1).", ["name", "version", "hash"], registry=r
        )

    def record(self, decisions: Iterable[Decision]) -> None:
        for decision in decisions:
            self.decisions.labels(decision.action.value).inc()
            for match in decision.matches:
                self.rules.labels(match.rule, match.action.value).inc()
            if decision.errors:
                source = decision.errors[0].get("source", "classifier")
                self.errors.labels("timeout" if source == "timeout" else "classifier").inc()

    def set_ruleset(self, identity: dict[str, Any]) -> None:
        self.ruleset.clear()
        self.ruleset.labels(str(identity.get("name")), str(identity.get("version")), str(identity.get("hash"))).set(1)
