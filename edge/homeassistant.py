"""`[homeassistant]`: optional Home Assistant MQTT discovery, so a box shows up as a device.

Retained `{discovery_prefix}/sensor/{node_id}/{object}/config` messages describe four sensors
that read the topics the device already publishes: the last plate (`.../read`), the status
(`.../status`, also every sensor's availability), fps and outbox depth (`.../health`). They
are sent on every connection and again when Home Assistant announces itself on
`{discovery_prefix}/status`, over a second small MQTT connection, so the event publisher's
delivery logic is untouched.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edge import __version__
from edge.delivery.mqtt_config import MqttConfig, read_password, ssl_context

if TYPE_CHECKING:  # paho is imported when discovery starts, not by every command loading the config
    import paho.mqtt.client as mqtt

log = logging.getLogger(__name__)

NODE_ID = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class HomeAssistantConfig:
    """`[homeassistant]`: off by default."""

    enabled: bool = False
    discovery_prefix: str = "homeassistant"  # Home Assistant's own default
    node_id: str = ""  # "" = the device id, with characters discovery does not allow turned into "_"
    name: str = ""  # the device's name in Home Assistant; "" = the device id

    def __post_init__(self) -> None:
        prefix = self.discovery_prefix
        if not prefix or prefix != prefix.strip("/") or any(ch in prefix for ch in "+# "):
            raise ValueError(f"discovery_prefix: {prefix!r} must be a topic level like 'homeassistant' "
                             "(no leading or trailing '/', no '+', '#' or spaces)")
        if self.node_id and not NODE_ID.fullmatch(self.node_id):
            raise ValueError(f"node_id: {self.node_id!r} may only use A-Z a-z 0-9 _ -")


@dataclass(frozen=True)
class DeviceTopics:
    device_id: str
    camera: str
    read: str
    status: str
    health: str
    health_interval_s: float

    @classmethod
    def of(cls, device_id: str, camera: str, mqtt_cfg: MqttConfig) -> DeviceTopics:
        prefix = mqtt_cfg.topic_prefix.strip("/")
        base = f"{prefix}/{device_id}" if prefix else device_id
        return cls(device_id, camera, f"{base}/read", f"{base}/status", f"{base}/health",
                   mqtt_cfg.health_interval_s)


def node_id(config: HomeAssistantConfig, device_id: str) -> str:
    return config.node_id or re.sub(r"[^A-Za-z0-9_-]", "_", device_id)


def discovery_messages(config: HomeAssistantConfig, topics: DeviceTopics,
                       models: dict[str, str] | None = None) -> list[tuple[str, bytes]]:
    """(topic, retained JSON payload) for each sensor of this box."""
    node = node_id(config, topics.device_id)
    device = {"identifiers": [f"edge_{node}"], "name": config.name or topics.device_id,
              "manufacturer": "edge-plate-reader", "model": f"licence-plate reader, camera {topics.camera}",
              "sw_version": __version__}
    if models:
        device["hw_version"] = f"{models.get('detector', '?')} / {models.get('reader', '?')}"
    # Health comes every health_interval_s: a value older than three of them is shown as unavailable.
    expire = {"expire_after": int(3 * topics.health_interval_s)} if topics.health_interval_s > 0 else {}
    sensors = {
        "last_plate": {"name": "Last plate", "state_topic": topics.read, "icon": "mdi:car",
                       "value_template": "{{ value_json.plate.text }}",
                       "json_attributes_topic": topics.read,
                       "json_attributes_template": "{{ {'confidence': value_json.plate.confidence, "
                                                   "'time': value_json.time.best, 'seq': value_json.seq, "
                                                   "'latitude': value_json.location.lat, "
                                                   "'longitude': value_json.location.lon} | tojson }}"},
        "status": {"name": "Status", "state_topic": topics.status, "icon": "mdi:lan-connect"},
        "fps": {"name": "Frames per second", "state_topic": topics.health, "unit_of_measurement": "fps",
                "state_class": "measurement", "value_template": "{{ value_json.fps }}",
                "icon": "mdi:speedometer", **expire},
        "outbox_depth": {"name": "Outbox depth", "state_topic": topics.health, "unit_of_measurement": "events",
                         "state_class": "measurement", "value_template": "{{ value_json.outbox.depth }}",
                         "icon": "mdi:tray-full", **expire},
    }
    out = []
    for obj, sensor in sensors.items():
        payload = {**sensor, "unique_id": f"edge_{node}_{obj}",
                   "availability_topic": topics.status, "payload_available": "online",
                   "payload_not_available": "offline", "device": device,
                   "origin": {"name": "edge-plate-reader", "sw_version": __version__}}
        out.append((f"{config.discovery_prefix}/sensor/{node}/{obj}/config",
                    json.dumps(payload, separators=(",", ":")).encode("utf-8")))
    return out


class DiscoveryPublisher:
    """Its own MQTT connection that (re)publishes the retained discovery messages."""

    def __init__(self, config: HomeAssistantConfig, mqtt_cfg: MqttConfig, messages: list[tuple[str, bytes]],
                 client_id: str) -> None:
        self.config = config
        self.mqtt_cfg = mqtt_cfg
        self.messages = messages
        self.client_id = client_id
        self.sent = 0  # discovery messages handed to the broker (for health and tests)
        self.birth_topic = f"{config.discovery_prefix}/status"
        self._client: mqtt.Client | None = None

    def start(self) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        cfg = self.mqtt_cfg
        password = read_password(cfg)
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             protocol=mqtt.MQTTv5 if cfg.protocol == "5" else mqtt.MQTTv311)
        if cfg.username:
            client.username_pw_set(cfg.username, password)
        if cfg.tls:
            client.tls_set_context(ssl_context(cfg))
            if cfg.tls_insecure:
                client.tls_insecure_set(True)
        client.reconnect_delay_set(min_delay=cfg.reconnect_min_s, max_delay=cfg.reconnect_max_s)  # type: ignore[arg-type]
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s)
        client.loop_start()
        self._client = client
        log.info("homeassistant: discovery for %d sensors under %s/sensor/%s", len(self.messages),
                 self.config.discovery_prefix, self.messages[0][0].split("/")[2] if self.messages else "?")

    def _publish_all(self, client: mqtt.Client) -> None:
        for topic, payload in self.messages:
            client.publish(topic, payload, qos=1, retain=True)
            self.sent += 1

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("homeassistant: broker refused the discovery connection: %s", reason)
            return
        client.subscribe(self.birth_topic, qos=1)
        self._publish_all(client)

    def _on_message(self, client: mqtt.Client, _u: Any, msg: Any) -> None:
        if msg.topic == self.birth_topic and bytes(msg.payload).strip() == b"online" and not msg.retain:
            self._publish_all(client)  # Home Assistant (re)started and asks for discovery again

    def stop(self) -> None:
        """Disconnect; the retained configs stay, so the box stays known (shown unavailable)."""
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None


def start_discovery(config: HomeAssistantConfig, mqtt_cfg: MqttConfig, device_id: str, camera: str,
                    models: dict[str, str] | None = None) -> Callable[[], None] | None:
    """For `edge run`: the discovery connection when enabled (None when off or MQTT is off)."""
    if not config.enabled:
        return None
    if not mqtt_cfg.enabled:
        log.warning("homeassistant: enabled, but [mqtt] is off: no discovery messages are sent")
        return None
    base_id = mqtt_cfg.client_id or f"edge-{device_id}"
    publisher = DiscoveryPublisher(config, mqtt_cfg, discovery_messages(
        config, DeviceTopics.of(device_id, camera, mqtt_cfg), models), client_id=f"{base_id}-ha")
    publisher.start()
    return publisher.stop
