"""MQTT publisher: drains the durable outbox to the broker at QoS 1 (paho-mqtt 2.x).

Delivery rules (see docs/events.md):
- Only rows already committed to the outbox are published; a row is marked sent only when its
  PUBACK arrives (matched by message id). paho's in-memory queue is never trusted: after every
  (re)connect all unacknowledged rows are published again from the outbox, so duplicates are
  possible and carry the same `id` and `seq`.
- A bounded window (`max_inflight`) of unacknowledged publishes; reconnect with exponential
  backoff (`reconnect_min_s` .. `reconnect_max_s`) forever.
- Retained `{prefix}/{device}/status`: "online" on each connect, "offline" as the will and on a
  clean stop. Periodic retained `{prefix}/{device}/health` (QoS 1), also while the outbox
  cannot be written, and a last one at a clean stop: a subscriber that starts later still sees
  the device's last known state, its unstored and lost counters included.
- Every payload is checked before it is sent (edge/delivery/payload_check.py); one damaged inside the
  database is quarantined by the outbox and counted, never published.
- The password comes from `password_file` or the systemd credential
  `$CREDENTIALS_DIRECTORY/mqtt-password`, is re-read just before each connection attempt, and
  a change of the file while the broker refuses us starts a new attempt at once (fix the file,
  no restart needed); it is never logged or stored in the config.
- Reconnections are logged (at most one line per 5 s); a take-over of the client id by another
  client (MQTT 5, two boxes with one device id) is logged as such and counted.
- A refused CONNACK (bad credentials, not authorised), a TLS failure or an unreachable broker
  gives one clear log line per distinct problem, a state in `state()` (health, doctor), and
  retries with backoff; nothing is lost because nothing leaves the outbox until acknowledged.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes

from edge.configuration.validation import ConfigError
from edge.delivery.mqtt_config import CREDENTIAL_NAME, MqttConfig, password_path, read_password, ssl_context
from edge.delivery.event_json import HEALTH_SCHEMA_ID, rfc3339_ms
from edge.file_watch import FileWatch
from edge.delivery.mqtt_log import ConnectionLog
from edge.delivery.mqtt_presence import foreign_instance, status_properties, watch_options
from edge.delivery.outbox import Outbox, OutboxError
from edge.delivery.payload_check import payload_problem

log = logging.getLogger("edge.mqtt")  # the name the logs have always carried

NO_MATCHING_SUBSCRIBERS = 0x10  # MQTT 5 PUBACK reason: accepted, but nobody will receive it
NO_SUBSCRIBER_RETRY_S = 2.0


def diagnose(config: MqttConfig, timeout: float = 5.0) -> tuple[str, str]:
    """Why can't we connect? ("unreachable" | "tls_error" | "ok", one-line message)."""
    where = f"{config.host}:{config.port}"
    try:
        sock = socket.create_connection((config.host, config.port), timeout=timeout)
    except socket.gaierror as exc:
        return "unreachable", f"cannot resolve broker host {config.host!r}: {exc.strerror or exc}"
    except OSError as exc:
        return "unreachable", f"cannot reach broker {where}: {exc.strerror or exc}"
    try:
        if config.tls:
            try:
                ctx = ssl_context(config)
            except ConfigError as exc:
                return "tls_error", str(exc)
            try:
                with ctx.wrap_socket(sock, server_hostname=config.host) as tls_sock:
                    tls_sock.settimeout(timeout)
            except ssl.SSLCertVerificationError as exc:
                return "tls_error", (f"TLS certificate of broker {where} rejected: "
                                     f"{exc.verify_message or exc.reason} (check mqtt.tls_ca / host name)")
            except ssl.SSLError as exc:
                return "tls_error", f"TLS handshake with broker {where} failed: {exc.reason or exc}"
            except OSError as exc:
                return "tls_error", f"TLS handshake with broker {where} failed: {exc.strerror or exc}"
    finally:
        sock.close()
    return "ok", f"broker {where} is reachable"


def check_broker(config: MqttConfig, client_id: str = "edge-doctor", timeout: float = 5.0) -> tuple[bool, str]:
    """For `edge doctor`: connect once with the configured credentials/TLS. (ok, one-line message)."""
    state, message = diagnose(config, timeout)
    if state != "ok":
        return False, message
    try:
        password = read_password(config)
        ctx = ssl_context(config) if config.tls else None
    except ConfigError as exc:
        return False, str(exc)
    result: dict[str, Any] = {}
    done = threading.Event()
    protocol = mqtt.MQTTv5 if config.protocol == "5" else mqtt.MQTTv311
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
    if config.username:
        client.username_pw_set(config.username, password)
    if ctx is not None:
        client.tls_set_context(ctx)

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        result["reason"] = reason
        done.set()

    client.on_connect = on_connect
    try:
        client.connect(config.host, config.port, keepalive=config.keepalive_s)
        client.loop_start()
        if not done.wait(timeout):
            return False, f"broker {config.host}:{config.port} did not answer CONNECT within {timeout:g} s"
    except (OSError, ValueError) as exc:
        return False, f"cannot connect to broker {config.host}:{config.port}: {exc}"
    finally:
        client.disconnect()
        client.loop_stop()
    reason = result["reason"]
    if reason.is_failure:
        return False, _refusal_message(config, reason)
    return True, f"connected to {config.broker} as {config.username or '(anonymous)'}"


def _refusal_message(config: MqttConfig, reason: Any) -> str:
    hint = ""
    text = str(reason).lower()
    if "protocol" in text and config.protocol == "5":
        hint = ' (this broker may not speak MQTT 5: set mqtt.protocol = "3.1.1")'
    elif "auth" in text or "password" in text:
        hint = (" (check mqtt.username and the password file / systemd credential "
                f"'{CREDENTIAL_NAME}', and the broker's ACL)")
    return f"broker {config.host}:{config.port} refused the connection: {reason}{hint}"


class MqttPublisher:
    """Publishes the outbox's pending rows; marks them sent on PUBACK. Thread-safe start/stop."""

    def __init__(self, config: MqttConfig, outbox: Outbox, device_id: str,
                 health: Callable[[], dict[str, Any]] | None = None) -> None:
        self.config = config
        self.outbox = outbox
        self.device_id = device_id
        self.health = health
        prefix = config.topic_prefix.strip("/")
        base = f"{prefix}/{device_id}" if prefix else device_id
        self.status_topic = f"{base}/status"
        self.health_topic = f"{base}/health"
        self.client_id = config.client_id or f"edge-{device_id}"

        self._wake = threading.Event()
        self._stop = threading.Event()
        self._acks: deque[tuple[int, bool, str]] = deque()  # (mid, failed, reason) from paho's thread
        self._mid_to_seq: dict[int, int] = {}  # publisher thread only
        self._inflight: dict[int, float] = {}  # seq -> publish time; publisher thread only
        self._held: dict[int, float] = {}  # seq -> retry time, rows the broker rejected (MQTT 5)
        self._unmarked: list[int] = []  # acked seqs whose mark_sent failed; retried
        self._marks_retry_at = 0.0
        self._unheard_until = 0.0  # no subscriber: publish nothing new before this (monotonic)
        self._connections = 0  # bumped by paho's thread on each successful CONNACK
        self._seen_connections = 0
        self._diagnose = False
        self._connected = False
        self._state = "stopped" if not config.enabled else "starting"
        self._last_error: str | None = None
        self._logged: str | None = None
        self._logged_reject: str | None = None
        self._logged_outbox: str | None = None
        self._counts = {"published": 0, "acked": 0, "rejected": 0, "reconnects": 0}
        self._started = time.monotonic()
        self._connected_since = 0.0
        self._client: mqtt.Client | None = None
        self._thread: threading.Thread | None = None
        self._password: str | None = None
        self._conn_log = ConnectionLog(config.broker, self.client_id)
        self._password_watch: FileWatch | None = None
        self._takeover_backoff = False
        self._instance = ""
        self._v5 = config.protocol == "5"

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Validate credentials/TLS files (ConfigError on a problem), then connect in the background.
        Never blocks on the broker: an absent broker just means retrying."""
        if not self.config.enabled:
            self._state = "disabled"
            log.info("mqtt: disabled; events stay in the outbox %s", self.outbox.path)
            return
        if self._thread is not None:
            return
        self._stop.clear()
        cfg = self.config
        self._password = read_password(cfg)
        protocol = mqtt.MQTTv5 if cfg.protocol == "5" else mqtt.MQTTv311
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=protocol,
                             clean_session=True if protocol == mqtt.MQTTv311 else None)
        if cfg.username:
            client.username_pw_set(cfg.username, self._password)
        if cfg.tls:
            client.tls_set_context(ssl_context(cfg))
            if cfg.tls_insecure:
                client.tls_insecure_set(True)
        self._instance = self.outbox.instance_id()
        self._v5 = protocol == mqtt.MQTTv5
        client.will_set(self.status_topic, b"offline", qos=1, retain=True,
                        properties=self._status_props(PacketTypes.WILLMESSAGE))
        client.max_inflight_messages_set(cfg.max_inflight)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(min_delay=cfg.reconnect_min_s, max_delay=cfg.reconnect_max_s)  # type: ignore[arg-type]
        client.on_pre_connect = self._on_pre_connect
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        # paho's own messages (e.g. one ERROR per failed retry) only at debug level: the
        # publisher logs one clear line per distinct problem instead.
        paho_log = logging.getLogger("edge.mqtt.paho")
        client.on_log = lambda _c, _u, _level, buf: paho_log.debug("%s", buf)
        self._client = client
        self._password_watch = FileWatch(lambda: password_path(cfg))
        self._set_state("connecting", None)
        client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s)
        client.loop_start()
        self._thread = threading.Thread(target=self._run, name="mqtt-publisher", daemon=True)
        self._thread.start()
        log.info("mqtt: publishing device %s's events from %s to %s as %s", self.device_id,
                 self.outbox.path, cfg.broker, cfg.username or "(anonymous)")

    def notify(self) -> None:
        """Wake the publisher (a new row was committed)."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Try for up to `timeout` s to deliver what is pending, then say "offline" and disconnect.
        Whatever is not acknowledged stays in the outbox for the next start."""
        if self._thread is None or self._client is None:
            return
        deadline = time.monotonic() + max(0.0, timeout)
        while time.monotonic() < deadline and self._connected:
            if not self._inflight and not self.outbox.pending(1) and not self._acks:
                break
            self._wake.set()
            time.sleep(0.05)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=max(1.0, deadline - time.monotonic() + 1.0))
        client = self._client
        if self._connected:
            try:
                self._publish_health()  # the last known state, lost/unstored counts included
                info = client.publish(self.status_topic, b"offline", qos=1, retain=True,
                                      properties=self._status_props())
                info.wait_for_publish(timeout=min(2.0, max(0.2, deadline - time.monotonic())))
            except (RuntimeError, ValueError):
                pass
        client.disconnect()
        client.loop_stop()
        self._process_acks()  # PUBACKs that arrived while stopping
        try:
            self._flush_marks(force=True)
        except OutboxError as exc:  # not marked = re-published next start (a duplicate, not a loss)
            log.warning("%s", exc)
        self._connected = False
        self._set_state("stopped", None)
        self._thread = None

    # ---------------------------------------------------------------- status

    def state(self) -> dict[str, Any]:
        return {
            "state": self._state,
            "connected": self._connected,
            "broker": self.config.broker,
            "last_error": self._last_error,
            "in_flight": len(self._inflight),
            **self._counts,
            "takeovers": self._conn_log.takeovers,
        }

    def health_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "schema": HEALTH_SCHEMA_ID,
            "device": self.device_id,
            "time": rfc3339_ms(datetime.now(timezone.utc)),
            "uptime_s": round(time.monotonic() - self._started, 1),
        }
        warnings: list[str] = []
        if self.health is not None:
            try:
                extra = dict(self.health())
                warnings.extend(str(w) for w in extra.pop("warnings", []) or [])
                for key in ("schema", "device", "time", "uptime_s", "outbox", "mqtt"):
                    extra.pop(key, None)
                payload.update(extra)
            except Exception as exc:  # a health probe must never stop delivery
                warnings.append(f"health callback failed: {exc}")
        try:
            payload["outbox"] = self.outbox.stats()
        except Exception as exc:
            warnings.append(f"outbox stats failed: {exc}")
            payload["outbox"] = {"depth": 0, "oldest_age_s": None, "dropped": 0, "sent": 0,
                                 "last_seq": 0, "error": str(exc)}
        payload["mqtt"] = self.state()
        if payload["outbox"].get("error"):
            warnings.append(str(payload["outbox"]["error"]))
        if payload["outbox"].get("dropped"):
            warnings.append(f"outbox dropped {payload['outbox']['dropped']} events (limits)")
        if payload["outbox"].get("lost"):
            warnings.append(f"{payload['outbox']['lost']} events lost before they could be stored (disk full)")
        if payload["outbox"].get("quarantined"):
            warnings.append(f"{payload['outbox']['quarantined']} stored events had a damaged payload (quarantined)")
        if self._conn_log.takeovers:
            warnings.append(f"client id {self.client_id!r} taken over {self._conn_log.takeovers} time(s): "
                            "another box uses this device id")
        if self._last_error and self._state != "connected":
            warnings.append(self._last_error)
        if warnings:
            payload["warnings"] = warnings
        return payload

    def _set_state(self, state: str, error: str | None, level: int = logging.WARNING) -> None:
        self._state = state
        if error is not None:
            self._last_error = error
            if error != self._logged:
                retry = f"; retrying every <= {self.config.reconnect_max_s:g} s, events stay in the outbox"
                log.log(level, "mqtt: %s%s", error, retry)
                self._logged = error

    # ---------------------------------------------------------------- paho callbacks (paho's thread)

    def _reload_password(self) -> None:
        if not self.config.username or self._client is None:
            return
        try:
            password = read_password(self.config)
        except ConfigError as exc:
            self._set_state(self._state, str(exc))
            return
        if password != self._password:
            self._password = password
            self._client.username_pw_set(self.config.username, password)
            log.info("mqtt: password file changed; using it for the next connection attempt")

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            self._connected = False
            self._set_state("refused", _refusal_message(self.config, reason), logging.ERROR)
            self._reload_password()
            return
        if self._v5:  # first, so the retained status we get is the one before ours
            client.subscribe(self.status_topic, options=watch_options())
        client.publish(self.status_topic, b"online", qos=1, retain=True, properties=self._status_props())
        self._connected = True
        self._connections += 1
        if self._connections > 1:
            self._counts["reconnects"] += 1
        self._last_error = None
        now = time.monotonic()
        self._conn_log.connected(first=self._connections == 1)
        self._connected_since = now
        self._state = "connected"
        self._wake.set()

    def _status_props(self, packet: int = PacketTypes.PUBLISH) -> Any:
        return status_properties(self._instance, packet) if self._v5 else None

    def _on_message(self, client: mqtt.Client, _userdata: Any, message: Any) -> None:
        if message.topic != self.status_topic:
            return
        other = foreign_instance(message, self._instance)
        if other is not None:
            self._conn_log.foreign(other)
            self._backoff_after_takeover(client)

    def _backoff_after_takeover(self, client: mqtt.Client) -> None:
        # Two boxes with one id knock each other off at once: wait the longest backoff before
        # taking the id back, so each stays connected long enough to deliver.
        self._takeover_backoff = True
        client.reconnect_delay_set(min_delay=self.config.reconnect_max_s,  # type: ignore[arg-type]
                                   max_delay=self.config.reconnect_max_s)  # type: ignore[arg-type]

    def _on_pre_connect(self, _client: mqtt.Client, _userdata: Any) -> None:
        self._reload_password()  # the file as it is now, not as it was at the last failure

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        self._connected = False
        self._diagnose = True
        self._reload_password()
        self._wake.set()

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        was = self._connected
        self._connected = False
        if self._stop.is_set():
            return
        if was and self._conn_log.disconnected(reason):
            self._backoff_after_takeover(_client)
        if was:
            self._set_state("disconnected", f"lost connection to broker {self.config.host}:"
                                            f"{self.config.port} ({reason})")
        self._reload_password()
        self._wake.set()

    def _on_publish(self, _client: mqtt.Client, _userdata: Any, mid: int, reason: Any, _props: Any) -> None:
        # Called with paho's internal lock held: only hand the ack over, never block here.
        failed = bool(getattr(reason, "is_failure", False))
        unheard = self.config.require_subscriber and getattr(reason, "value", 0) == NO_MATCHING_SUBSCRIBERS
        self._acks.append((mid, failed or unheard, "no subscriber" if unheard else str(reason)))
        self._wake.set()

    # ---------------------------------------------------------------- publisher thread

    def _run(self) -> None:
        next_health = time.monotonic() + 1.0
        next_limits = time.monotonic() + 60.0
        while not self._stop.is_set():
            self._wake.wait(timeout=0.5)
            self._wake.clear()
            # Each step on its own: a full disk failing the marks must not stop health, which is
            # just when health carries the error.
            if self._guarded(self._deliver):
                next_health = time.monotonic()  # a new session: say how we are at once
            now = time.monotonic()
            if self.config.health_interval_s > 0 and now >= next_health and self._connected:
                next_health = now + self.config.health_interval_s
                self._guarded(self._publish_health)
            if now >= next_limits:
                next_limits = now + 60.0
                self._guarded(self._housekeeping)

    def _guarded(self, step: Callable[[], Any]) -> Any:
        """Run one step of the loop; log an outbox error once per distinct message, never die."""
        try:
            result = step()
        except OutboxError as exc:  # e.g. disk full while marking rows sent: retried
            if str(exc) != self._logged_outbox:
                log.error("%s", exc)
                self._logged_outbox = str(exc)
            return None
        except Exception:  # never let the publisher thread die
            log.exception("mqtt: publisher loop error")
            self._stop.wait(1.0)
            return None
        return result

    def _deliver(self) -> bool:
        """Acks, marks, then the window. True when a new session started (a reconnect)."""
        self._process_acks()
        new_session = False
        if self._connections != self._seen_connections:
            # A new session: forget the window and publish every unacknowledged row again.
            self._seen_connections = self._connections
            self._mid_to_seq.clear()
            self._inflight.clear()
            new_session = True
        if self._connected:
            self._fill_window()
            if time.monotonic() - self._connected_since > 30.0:
                self._stable_again()
        elif self._diagnose:
            self._diagnose = False
            state, message = diagnose(self.config, timeout=min(5.0, self.config.connect_timeout_s))
            if state == "ok":
                state, message = "unreachable", f"connection to broker {self.config.host}:{self.config.port} failed"
            self._set_state(state, message, logging.ERROR if state == "tls_error" else logging.WARNING)
        elif self._state == "refused" and self._password_watch is not None and self._password_watch.changed():
            self._connect_now()
        self._flush_marks()  # last: a failure here (disk full) must not hold up publishing
        return new_session

    def _stable_again(self) -> None:
        if self._logged is not None:
            self._logged = None  # stable again: log the next problem afresh
            self._logged_reject = None
        if self._takeover_backoff and self._client is not None:
            self._takeover_backoff = False
            self._client.reconnect_delay_set(min_delay=self.config.reconnect_min_s,  # type: ignore[arg-type]
                                             max_delay=self.config.reconnect_max_s)  # type: ignore[arg-type]

    def _connect_now(self) -> None:
        """The password file changed while the broker refuses us: try it now, not after the backoff."""
        client = self._client
        if client is None:
            return
        log.info("mqtt: password file changed; connecting again now")
        client.loop_stop()  # paho's backoff sleep cannot be interrupted otherwise
        client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive_s)
        client.loop_start()

    def _housekeeping(self) -> None:
        self.outbox.enforce_limits()
        self.outbox.ensure_reserve()

    def _process_acks(self) -> None:
        now = time.monotonic()
        while self._acks:
            mid, failed, reason = self._acks.popleft()
            seq = self._mid_to_seq.pop(mid, None)
            if seq is None:
                continue  # status/health message, or a publish from before a reconnect
            self._inflight.pop(seq, None)
            if failed and reason == "no subscriber":
                self._hold_unheard(seq, now)
            elif failed:
                self._counts["rejected"] += 1
                self._held[seq] = now + self.config.reconnect_max_s
                msg = (f"broker rejected the publish of event seq {seq}: {reason} "
                       f"(check the broker's ACL for this device's topics)")
                if reason != self._logged_reject:
                    log.error("mqtt: %s; it stays in the outbox and is retried later", msg)
                    self._logged_reject = reason
                self._last_error = msg
            else:
                self._counts["acked"] += 1
                self._unmarked.append(seq)

    def _hold_unheard(self, seq: int, now: float) -> None:
        """The broker took the event but nobody subscribes to it: keep it and offer it again soon."""
        self._held[seq] = now + NO_SUBSCRIBER_RETRY_S
        self._unheard_until = now + NO_SUBSCRIBER_RETRY_S  # one window every 2 s, not the whole backlog
        msg = (f"broker has no subscriber for {self.device_id}'s reads: events stay in the outbox "
               f"and are offered again every {NO_SUBSCRIBER_RETRY_S:g} s (mqtt.require_subscriber)")
        if self._last_error != msg:
            log.warning("mqtt: %s", msg)
        self._last_error = msg

    def _flush_marks(self, force: bool = False) -> None:
        # After a failure (disk full) retry once a second, not on every PUBACK.
        if not self._unmarked or (not force and time.monotonic() < self._marks_retry_at):
            return
        batch, self._unmarked = self._unmarked, []
        try:
            self.outbox.mark_sent(batch)
        except OutboxError:
            self._unmarked = batch + self._unmarked
            self._marks_retry_at = time.monotonic() + 1.0
            raise
        self._marks_retry_at = 0.0
        self._logged_outbox = None

    def _fill_window(self) -> None:
        client = self._client
        assert client is not None
        now = time.monotonic()
        # A publish unacknowledged for this long on a live connection is sent again (its late
        # PUBACK, if any, still marks the row through the mid map).
        stale = now - max(60.0, 2.0 * self.config.keepalive_s)
        for seq in [s for s, t in self._inflight.items() if t < stale]:
            del self._inflight[seq]
        room = self.config.max_inflight - len(self._inflight)
        if room <= 0 or now < self._unheard_until:
            return
        for seq, when in list(self._held.items()):
            if when <= now:
                del self._held[seq]
        unmarked = set(self._unmarked)  # acknowledged, not yet marked (disk full): not again
        rows = self.outbox.pending(limit=len(self._inflight) + len(self._held) + len(unmarked) + room)
        for row in rows:
            if room <= 0 or not self._connected:
                break
            if row.seq in self._inflight or row.seq in self._held or row.seq in unmarked:
                continue
            problem = payload_problem(row.seq, row.id, row.payload)
            if problem is not None:
                self._quarantine(row.seq, problem, now)
                continue
            try:
                info = client.publish(row.topic, row.payload, qos=self.config.qos, retain=False)
            except (ValueError, RuntimeError) as exc:
                log.error("mqtt: cannot publish event seq %d: %s", row.seq, exc)
                self._held[row.seq] = now + self.config.reconnect_max_s
                continue
            self._mid_to_seq[info.mid] = row.seq
            self._inflight[row.seq] = now
            self._counts["published"] += 1
            room -= 1

    def _quarantine(self, seq: int, problem: str, now: float) -> None:
        try:
            self.outbox.quarantine(seq, problem)
        except OutboxError as exc:  # cannot move it now (disk full): at least never send it
            log.error("%s; event seq %d is held back (damaged payload: %s)", exc, seq, problem)
            self._held[seq] = now + 3600.0

    def _publish_health(self) -> None:
        assert self._client is not None
        body = json.dumps(self.health_payload(), separators=(",", ":"), default=str)
        # Retained: a consumer that (re)subscribes sees the last known state at once.
        self._client.publish(self.health_topic, body.encode("utf-8"), qos=1, retain=True)
