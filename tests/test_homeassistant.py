"""Home Assistant MQTT discovery against a REAL Mosquitto: two boxes publish their retained
discovery configs, which carry the fields discovery requires (name, unique_id, state_topic,
device identifiers) and the retained status topic as availability; they come again when Home
Assistant announces itself; and `edge run` itself publishes them, with templates that point
at fields its read and health messages really have."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.configuration.validation import ConfigError
from edge.homeassistant import DeviceTopics, DiscoveryPublisher, HomeAssistantConfig, discovery_messages
from edge.delivery.mqtt import MqttConfig
from edge.configuration.settings import build_config
from tests.helpers import REPO, wait_until

VIDEO = REPO / "tests" / "fixtures" / "video" / "passes.mp4"
SENSORS = {"last_plate", "status", "fps", "outbox_depth"}


def configs(messages: list[tuple[str, bytes, bool]]) -> dict[str, dict[str, Any]]:
    return {t: json.loads(p) for t, p, _ in messages if t.startswith("homeassistant/") and t.endswith("/config")}


def check_discovery(topic: str, cfg: dict[str, Any], device_id: str, prefix: str = "alpr") -> str:
    """The fields Home Assistant's MQTT discovery needs for a sensor; returns the object id."""
    m = re.fullmatch(r"homeassistant/sensor/([A-Za-z0-9_-]+)/([A-Za-z0-9_-]+)/config", topic)
    assert m, topic
    node, obj = m.groups()
    assert isinstance(cfg["name"], str) and cfg["name"]
    assert cfg["unique_id"] == f"edge_{node}_{obj}"
    assert cfg["state_topic"] in {f"{prefix}/{device_id}/{t}" for t in ("read", "status", "health")}
    assert cfg["device"]["identifiers"] == [f"edge_{node}"] and cfg["device"]["name"]
    assert cfg["availability_topic"] == f"{prefix}/{device_id}/status"
    assert (cfg["payload_available"], cfg["payload_not_available"]) == ("online", "offline")
    return obj


def mqtt_config(broker: Any, **kw: Any) -> MqttConfig:
    return MqttConfig(host=broker.host, port=broker.port, reconnect_min_s=0.05, reconnect_max_s=0.3, **kw)


def test_two_boxes_show_up_as_two_devices_and_answer_home_assistants_birth(mosquitto_factory, collector_factory):
    broker = mosquitto_factory()
    cfg = mqtt_config(broker)
    boxes = []
    for device in ("gate-1", "pi.north"):
        msgs = discovery_messages(HomeAssistantConfig(enabled=True), DeviceTopics.of(device, "cam0", cfg))
        boxes.append(DiscoveryPublisher(HomeAssistantConfig(enabled=True), cfg, msgs, client_id=f"{device}-ha"))
        boxes[-1].start()
    try:
        assert wait_until(lambda: all(b.sent == 4 for b in boxes), 10)
        late = collector_factory(broker, "homeassistant/#")  # subscribes after: gets the retained ones
        late.wait_subscribed()
        assert wait_until(lambda: len(late.messages) == 8, 10), late.messages
        assert all(retained for _, _, retained in late.messages)
        found = configs(late.messages)
        by_device: dict[str, set[str]] = {}
        for topic, c in found.items():
            device = c["availability_topic"].split("/")[1]
            by_device.setdefault(device, set()).add(check_discovery(topic, c, device))
        assert by_device == {"gate-1": SENSORS, "pi.north": SENSORS}
        assert {c["device"]["identifiers"][0] for c in found.values()} == {"edge_gate-1", "edge_pi_north"}
        assert len({c["unique_id"] for c in found.values()}) == 8
        ha = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="home-assistant")
        ha.connect(broker.host, broker.port)
        ha.loop_start()
        ha.publish("homeassistant/status", b"online", qos=1).wait_for_publish(5)  # HA's birth message
        ha.disconnect()
        ha.loop_stop()
        again = lambda: [t for t, _, _ in late.messages if t.endswith("/config")]  # noqa: E731
        assert wait_until(lambda: len(again()) == 16, 10), again()
    finally:
        for b in boxes:
            b.stop()


def _path(template: str) -> list[str]:
    m = re.fullmatch(r"\{\{ value_json((?:\.\w+)+) \}\}", template)
    assert m, template
    return m.group(1).strip(".").split(".")


def test_edge_run_publishes_discovery_whose_templates_match_its_own_messages(mosquitto_factory, collector_factory,
                                                                             tmp_path):
    broker = mosquitto_factory()
    seen = collector_factory(broker, "#")
    seen.wait_subscribed()
    (tmp_path / "edge.toml").write_text(
        f'[device]\nid = "ha-box"\n[source]\nkind = "video"\npath = "{VIDEO}"\npacing = "realtime"\n'
        f'[outbox]\npath = "{tmp_path}/outbox.db"\n[homeassistant]\nenabled = true\nname = "Gate camera"\n'
        f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\nhealth_interval_s = 1.0\n')
    r = subprocess.run([sys.executable, "-m", "edge", "run", "--config", str(tmp_path / "edge.toml")], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    found = configs(seen.messages)
    assert {check_discovery(t, c, "ha-box") for t, c in found.items()} == SENSORS
    assert {c["device"]["name"] for c in found.values()} == {"Gate camera"}
    assert all(c["expire_after"] == 3 for c in found.values() if c["state_topic"].endswith("/health"))
    latest = {t: p for t, p, _ in seen.messages}  # the last message on each topic
    for c in found.values():
        if "value_template" not in c:
            assert latest[c["state_topic"]] in (b"online", b"offline")
            continue
        value: Any = json.loads(latest[c["state_topic"]])
        for key in _path(c["value_template"]):
            value = value[key]
        assert value is not None, c["value_template"]
    assert json.loads(latest["alpr/ha-box/read"])["plate"]["text"] == "AB12CDE"  # the video's last pass


@pytest.mark.parametrize("section, message", [
    ({"discovery_prefix": "/ha"}, r"^homeassistant\.discovery_prefix: '/ha' must be a topic level"),
    ({"discovery_prefix": "ha/#"}, r"^homeassistant\.discovery_prefix: 'ha/#' must be a topic level"),
    ({"node_id": "gate 1"}, r"^homeassistant\.node_id: 'gate 1' may only use A-Z a-z 0-9 _ -$"),
    ({"enable": True}, r"^homeassistant\.enable: unknown key \(did you mean 'enabled'\?\)$"),
    ({"enabled": "yes"}, r"^homeassistant\.enabled: expected true or false, got a string$"),
])
def test_bad_keys_are_named_in_one_line(section, message):
    with pytest.raises(ConfigError, match=message):
        build_config({"homeassistant": section})


def test_off_by_default_and_nothing_without_mqtt(tmp_path, caplog):
    from edge.homeassistant import start_discovery

    assert build_config({}).homeassistant == HomeAssistantConfig(enabled=False)
    assert start_discovery(HomeAssistantConfig(enabled=True), MqttConfig(enabled=False), "d", "c") is None
    assert "[mqtt] is off" in caplog.text
