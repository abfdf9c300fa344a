"""Another box with our device id? Each status message ("online", and the "offline" will) carries
MQTT 5 user properties naming the installation that sent it (the outbox's instance id) and
when. The publisher subscribes to its own status topic (no-local): a retained status from a
different installation, sent in the last ten minutes, means another client has been using
this device id: the broker closed its connection for ours, or ours for it ("client id taken
over"). Brokers that say so themselves (MQTT 5 reason 0x8E) are believed at once
(edge/delivery/mqtt_log.py); this check also works with those that just close the connection.
The payload stays plain "online"/"offline" (edge.status/1); MQTT 3.1.1 has no user properties,
so there only the broker's word counts.
"""

from __future__ import annotations

import time
from typing import Any

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

INSTANCE_KEY = "edge-instance"
AT_KEY = "edge-at"
RECENT_S = 600.0  # an older status from another installation is history (a box replaced), not a clash


def status_properties(instance: str, packet: int = PacketTypes.PUBLISH) -> Properties:
    props = Properties(packet)
    props.UserProperty = [(INSTANCE_KEY, instance), (AT_KEY, str(int(time.time())))]
    return props


def watch_options() -> SubscribeOptions:
    """QoS 1, and not our own status messages back."""
    return SubscribeOptions(qos=1, noLocal=True)


def foreign_instance(message: Any, ours: str, now: float | None = None) -> str | None:
    """The other installation's id when `message` is a recent status of another box, else None."""
    props = dict(getattr(getattr(message, "properties", None), "UserProperty", None) or [])
    theirs = props.get(INSTANCE_KEY)
    if not theirs or theirs == ours:
        return None
    try:
        age = abs((time.time() if now is None else now) - float(props.get(AT_KEY, "nan")))
    except ValueError:
        return None
    return theirs if age <= RECENT_S else None
