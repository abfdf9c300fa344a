"""`[metrics]`: an optional Prometheus endpoint for `edge run` (the `metrics` extra).

Every value is read from the running service when Prometheus scrapes (a custom collector), so
the capture loop does no extra work between scrapes. prometheus_client is imported only when
the endpoint is enabled; without it `edge run` stops with the command that installs it.
Metric names and alert rules: docs/metrics.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from edge.configuration.validation import ConfigError

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'edge-plate-reader[metrics]' (prometheus_client)"


@dataclass(frozen=True)
class MetricsConfig:
    """`[metrics]`: off by default; loopback unless a scraper elsewhere must reach it."""

    enabled: bool = False
    bind: str = "127.0.0.1:9108"

    def __post_init__(self) -> None:
        from edge.preview import parse_bind

        parse_bind(self.bind)


def require_prometheus_client() -> Any:
    try:
        import prometheus_client
    except ImportError:
        raise ConfigError(f"metrics.enabled: the metrics endpoint needs prometheus_client: {INSTALL_HINT}") from None
    return prometheus_client


class ServiceCollector:
    """Turns one `edge run` Application (its pipeline, outbox, publisher) into metric families."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        app = self.app
        cfg = app.config
        names = app.models.names if app.models is not None else {}
        info = GaugeMetricFamily("edge_info", "Which device, camera and models this is (always 1).",
                                 labels=["device", "camera", "detector", "reader", "version"])
        from edge import __version__

        info.add_metric([cfg.device.resolved_id, cfg.device.camera, names.get("detector", ""),
                         names.get("reader", ""), __version__], 1)
        yield info
        if app.pipeline is not None:
            yield from self._pipeline(app.pipeline, CounterMetricFamily, GaugeMetricFamily)
        if app.outbox is not None:
            yield from self._outbox(app.outbox.stats(), CounterMetricFamily, GaugeMetricFamily)
        if app.publisher is not None:
            yield from self._mqtt(app.publisher.state(), CounterMetricFamily, GaugeMetricFamily)
        from edge.device_id import device_temperature

        temp = device_temperature(cfg.health.temperature_path)
        if temp is not None:
            yield GaugeMetricFamily("edge_temperature_celsius", "SoC temperature.", value=temp)

    def _pipeline(self, p: Any, counter: Any, gauge: Any) -> Iterator[Any]:
        summary = p.summary()
        counts = summary["frames"]
        frames = counter("edge_frames", "Frames by what happened to them.", labels=["state"])
        for state, key in (("captured", "captured"), ("processed", "processed"),
                           ("analysed", "detected_frames"), ("skipped_static", "gated_frames")):
            frames.add_metric([state], counts.get(key, 0))
        yield frames
        yield gauge("edge_fps", "Frames processed per second over the last ~120 frames.", value=p.current_fps())
        dropped = counter("edge_dropped_frames", "Frames lost before inference, by reason.", labels=["reason"])
        dropped.add_metric(["capture_queue"], counts.get("dropped", 0))
        dropped.add_metric(["frame_error"], counts.get("frame_errors", 0))
        source = summary.get("source") or {}
        for key in ("read_failures", "unreadable", "damaged_frames"):
            if isinstance(source.get(key), int):
                dropped.add_metric([f"source_{key}"], source[key])
        yield dropped
        for name, key, doc in (("edge_detections", "detections", "Plates detected."),
                               ("edge_reads", "reads", "Plates read (before tracking)."),
                               ("edge_events", "events", "Events (vehicle passes) committed."),
                               ("edge_sink_errors", "sink_errors", "Events that could not be stored yet.")):
            yield counter(name, doc, value=counts.get(key, 0))
        latency = gauge("edge_stage_latency_seconds", "Per-stage latency over recent frames.",
                        labels=["stage", "quantile"])
        for stage, v in summary["latency_ms"].items():
            latency.add_metric([stage, "0.5"], round(v["p50"] / 1e3, 6))
            latency.add_metric([stage, "0.95"], round(v["p95"] / 1e3, 6))
        yield latency

    def _outbox(self, s: dict, counter: Any, gauge: Any) -> Iterator[Any]:
        yield gauge("edge_outbox_depth", "Events stored but not yet acknowledged by the broker.", value=s["depth"])
        yield gauge("edge_outbox_oldest_unsent_age_seconds", "Age of the oldest unacknowledged event "
                    "(0 when none, or when it was stored before the clock was set).",
                    value=s["oldest_age_s"] or 0.0)
        yield counter("edge_outbox_dropped", "Events dropped by the outbox limits (ever).", value=s["dropped"])
        yield counter("edge_outbox_sent", "Events acknowledged by the broker (ever).", value=s["sent"])
        yield gauge("edge_outbox_last_seq", "Last seq given to an event.", value=s["last_seq"])
        yield gauge("edge_outbox_bytes", "Size of the outbox database.", value=s["db_bytes"])
        yield gauge("edge_outbox_write_error", "1 while the outbox cannot be written.", value=1 if s.get("error") else 0)

    def _mqtt(self, s: dict, counter: Any, gauge: Any) -> Iterator[Any]:
        yield gauge("edge_mqtt_connected", "1 while connected to the broker.", value=1 if s.get("connected") else 0)
        yield gauge("edge_mqtt_in_flight", "Publishes waiting for their PUBACK.", value=s.get("in_flight", 0))
        for key, doc in (("reconnects", "Connections after the first."), ("published", "Events published."),
                         ("acked", "Events acknowledged."), ("rejected", "Publishes the broker refused.")):
            yield counter(f"edge_mqtt_{key}", doc, value=s.get(key, 0))


def start_metrics(config: MetricsConfig, app: Any) -> Callable[[], None] | None:
    """Serve /metrics for `app` when enabled; returns the function that stops it."""
    if not config.enabled:
        return None
    from edge.preview import is_loopback, parse_bind

    prom = require_prometheus_client()
    host, port = parse_bind(config.bind)
    registry = prom.CollectorRegistry()
    registry.register(ServiceCollector(app))
    prom.ProcessCollector(registry=registry)
    try:
        server, _thread = prom.start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ConfigError(f"metrics.bind: cannot listen on {config.bind}: {exc.strerror or exc}") from None
    where = f"http://{config.bind.rpartition(':')[0] or '0.0.0.0'}:{server.server_port}/metrics"
    if not is_loopback(host):
        log.warning("metrics on %s can be read by anyone who reaches this port (no authentication)", where)
    log.info("metrics on %s", where)

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return stop
