"""The collector's MQTT side: subscribe to `{prefix}/+/read` at QoS 1 with a persistent
session, write each batch in one transaction, and PUBACK a message only after its commit.

paho's network thread only queues what arrives (manual_ack=True: nothing is acknowledged
for us); one writer thread owns the store. A PUBACK is sent only on the connection the
message came in on: after a reconnect the broker delivers unacknowledged messages again, and
the store ignores the ids it already has (a duplicate, never a loss).
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.collect.records import BadRead, CollectedRead, parse_read
from edge.collect.store import SqlStore, StoreError
from edge.delivery.mqtt_config import MqttConfig, read_password, ssl_context

log = logging.getLogger("edge.collect")


def default_client_id() -> str:
    """Stable across restarts, so the broker keeps this collector's session."""
    host = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in socket.gethostname())
    return f"edge-collect-{host or 'host'}"[:64]


@dataclass(frozen=True)
class CollectOptions:
    client_id: str = field(default_factory=default_client_id)
    share_group: str = ""  # "" = a plain subscription; else $share/<group>/... (MQTT 5 / Mosquitto)
    session_expiry_s: int = 7 * 86400  # how long the broker keeps queueing for us while we are away
    batch_max: int = 200  # messages per transaction at most
    # Back quickly after a broker restart: a broker that lost its sessions drops whatever the
    # devices re-publish before this collector has subscribed again.
    reconnect_max_s: float = 2.0

    def __post_init__(self) -> None:
        if not self.client_id or len(self.client_id) > 128:
            raise ValueError("client id must be 1-128 characters")
        if any(ch in self.share_group for ch in "/+#$"):
            raise ValueError(f"share group {self.share_group!r} must not contain / + # $")
        if not 0 <= self.session_expiry_s <= 0xFFFFFFFF:
            raise ValueError("session expiry must be 0..4294967295 s")
        if not 1 <= self.batch_max <= 10000:
            raise ValueError("batch must be 1..10000")
        if not 0.1 <= self.reconnect_max_s <= 3600:
            raise ValueError("reconnect max must be 0.1..3600 s")


@dataclass(frozen=True, slots=True)
class Delivery:
    generation: int  # which connection it came in on
    mid: int
    qos: int
    topic: str
    payload: bytes


def read_topic(mqtt_cfg: MqttConfig, options: CollectOptions) -> str:
    prefix = mqtt_cfg.topic_prefix.strip("/")
    topic = f"{prefix}/+/read" if prefix else "+/read"
    return f"$share/{options.share_group}/{topic}" if options.share_group else topic


class Collector:
    """Runs until stop(): MQTT in, database rows out. `counts` for logs and tests."""

    def __init__(self, mqtt_cfg: MqttConfig, options: CollectOptions, store: SqlStore) -> None:
        self.mqtt_cfg = mqtt_cfg
        self.options = options
        self.store = store
        self.topic = read_topic(mqtt_cfg, options)
        self.counts = {"received": 0, "stored": 0, "duplicates": 0, "rejected": 0, "batches": 0,
                       "stale_acks": 0, "connections": 0}
        self.subscribed = threading.Event()
        self._queue: queue.Queue[Delivery] = queue.Queue()
        self._lock = threading.Lock()  # generation + connected, checked together with each PUBACK
        self._generation = 0
        self._connected = False
        self._stop = threading.Event()
        self._client: mqtt.Client | None = None
        self._writer: threading.Thread | None = None
        self._logged: str | None = None

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        cfg = self.mqtt_cfg
        password = read_password(cfg)
        v5 = cfg.protocol == "5"
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.options.client_id,
                             protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
                             clean_session=None if v5 else False, manual_ack=True)
        if cfg.username:
            client.username_pw_set(cfg.username, password)
        if cfg.tls:
            client.tls_set_context(ssl_context(cfg))
            if cfg.tls_insecure:
                client.tls_insecure_set(True)
        client.reconnect_delay_set(min_delay=0.1, max_delay=self.options.reconnect_max_s)  # type: ignore[arg-type]
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self._client = client
        props = None
        if v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.options.session_expiry_s
        self._writer = threading.Thread(target=self._write_loop, name="collect-writer", daemon=True)
        self._writer.start()
        client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s,
                             clean_start=False if v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY, properties=props)
        client.loop_start()
        log.info("collecting %s from %s as %s into %s", self.topic, cfg.broker, self.options.client_id,
                 self.store.describe())

    def stop(self, drain_s: float = 5.0) -> None:
        """Commit and acknowledge what already arrived (up to `drain_s`), then disconnect.
        Never unsubscribes: the persistent session keeps queueing for the next start."""
        deadline = time.monotonic() + drain_s
        while not self._queue.empty() and time.monotonic() < deadline and self._writer_alive():
            time.sleep(0.02)
        self._stop.set()
        if self._writer is not None:
            self._writer.join(timeout=max(1.0, deadline - time.monotonic() + 1.0))
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
        log.info("collector stopped: %s", ", ".join(f"{k} {v}" for k, v in self.counts.items()))

    def _writer_alive(self) -> bool:
        return self._writer is not None and self._writer.is_alive()

    # ---------------------------------------------------------------- paho's thread
    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self._log_once(f"broker {self.mqtt_cfg.host}:{self.mqtt_cfg.port} refused the connection: {reason}")
            return
        with self._lock:
            self._generation += 1
            self._connected = True
        self.counts["connections"] += 1
        if not flags.session_present and self.counts["connections"] > 1:
            log.warning("the broker had no session for %s: events published while it was away may be "
                        "missing (see edge collect --report)", self.options.client_id)
        client.subscribe(self.topic, qos=1)  # again each time: harmless when the session kept it
        self._logged = None
        log.info("connected to %s (session %s)", self.mqtt_cfg.broker,
                 "resumed" if flags.session_present else "new")

    def _on_connect_fail(self, _c: Any, _u: Any) -> None:
        self._log_once(f"cannot reach broker {self.mqtt_cfg.host}:{self.mqtt_cfg.port}; retrying")

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        with self._lock:
            self._generation += 1
            self._connected = False
        if not self._stop.is_set():
            self._log_once(f"lost the broker ({reason}); retrying, unacknowledged events will come again")

    def _on_subscribe(self, _c: Any, _u: Any, _mid: Any, reasons: Any, _p: Any) -> None:
        failed = [r for r in reasons if getattr(r, "is_failure", False)]
        if failed:
            log.error("broker refused the subscription to %s: %s (check its ACL)", self.topic, failed[0])
            return
        self.subscribed.set()

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        with self._lock:
            generation = self._generation
        self.counts["received"] += 1
        self._queue.put(Delivery(generation, msg.mid, msg.qos, msg.topic, bytes(msg.payload)))

    def _log_once(self, message: str) -> None:
        if message != self._logged:
            log.warning("%s", message)
            self._logged = message

    # ---------------------------------------------------------------- writer thread
    def _write_loop(self) -> None:
        while not self._stop.is_set():
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            batch = [first]
            while len(batch) < self.options.batch_max:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._commit_then_ack(batch)

    def _commit_then_ack(self, batch: list[Delivery]) -> None:
        reads: list[CollectedRead] = []
        for d in batch:
            try:
                reads.append(parse_read(d.topic, d.payload))
            except BadRead as exc:  # acknowledged all the same: a broken payload never gets better
                self.counts["rejected"] += 1
                if self.counts["rejected"] <= 5 or self.counts["rejected"] % 1000 == 0:
                    log.warning("not stored (%d so far): %s", self.counts["rejected"], exc)
        log.debug("writing %d event(s) in one transaction", len(reads))
        while True:
            try:
                result = self.store.write(reads, self.options.client_id)
                break
            except StoreError as exc:  # nothing acknowledged: the broker keeps the messages
                self._log_once(str(exc))
                if self._stop.wait(1.0):
                    return
        self.counts["stored"] += result.stored
        self.counts["duplicates"] += result.duplicates
        self.counts["batches"] += 1
        for d in batch:
            self._ack(d)

    def _ack(self, d: Delivery) -> None:
        if d.qos == 0 or self._client is None:
            return
        with self._lock:
            if d.generation == self._generation and self._connected:
                self._client.ack(d.mid, d.qos)
                return
        self.counts["stale_acks"] += 1  # its connection is gone; the broker sends it again
