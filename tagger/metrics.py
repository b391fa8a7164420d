"""Prometheus metrics of the service, in a registry owned by one app instance (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

BATCH_SIZE_BUCKETS = tuple(float(2**power) for power in range(11))  # 1 … 1024 windows
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    """Every metric the service exports; names start with `tagger_`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tagger_http_requests",
            "HTTP requests answered.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tagger_http_request_duration_seconds",
            "Time from request to last response byte.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "tagger_batch_size",
            "Windows per model call (across requests).",
            ["model"],
            buckets=BATCH_SIZE_BUCKETS,
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "tagger_batch_seconds",
            "Duration of one model call.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "tagger_queue_depth",
            "Windows waiting for a model call.",
            ["model"],
            registry=self.registry,
        )
        self.windows = Counter(
            "tagger_windows_inferred",
            "Windows run through a model.",
            ["model"],
            registry=self.registry,
        )
        self.audio_seconds = Counter(
            "tagger_audio_seconds",
            "Seconds of audio tagged (results computed, not served from the store).",
            ["model"],
            registry=self.registry,
        )
        self.results = Counter(
            "tagger_results",
            "Tagging results returned by POST /tag, by where they came from.",
            ["model", "source"],
            registry=self.registry,
        )

        self.damaged = Counter(
            "tagger_damaged_audio",
            "Results computed from damaged audio: undecodable frames skipped or part of the file missing.",
            ["model"],
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        """The text exposition format Prometheus scrapes."""
        return generate_latest(self.registry)
