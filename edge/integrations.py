"""What `edge run` starts beside the capture loop when the config asks for it: the Prometheus
endpoint (`[metrics]`) and Home Assistant discovery (`[homeassistant]`). Both are off by
default; each returns the function that stops it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.app import Application


def start_integrations(app: Application) -> list[Callable[[], None]]:
    """Start what `app.config` enables; ConfigError (one line) when one cannot start."""
    cfg = app.config
    stops: list[Callable[[], None]] = []
    metrics = cfg.metrics
    if metrics.enabled:
        from edge.metrics import start_metrics

        stop = start_metrics(metrics, app)
        if stop is not None:
            stops.append(stop)
    ha = cfg.homeassistant
    if ha.enabled:
        from edge.homeassistant import start_discovery

        names = app.models.names if app.models is not None else None
        stop = start_discovery(ha, cfg.mqtt, cfg.device.resolved_id, cfg.device.camera, names)
        if stop is not None:
            stops.append(stop)
    return stops
