"""The audit trail: one structured line for every access to data kept on the device.

What is audited (docs/privacy.md): each visit to the preview page, each `edge outbox
list/replay/purge`, each watchlist (re)load, and the configuration at start-up with what
changed since the last start. A line looks like

    audit {"event": "outbox.list", "user": "edge", "uid": 998, "pid": 4242, "db": "...", "rows": 20}

It goes to the `edge.audit` logger (stderr, which systemd hands to the journal for the service),
and also straight to journald's native socket when stderr is not already the journal (an
operator's shell), with the fields as journal fields (EDGE_AUDIT_EVENT=outbox.list ...), so
`journalctl -t edge-audit` shows every access whoever made it. Audit lines never carry a plate
text: callers pass counts, names and paths.
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("edge.audit")

JOURNAL_SOCKET = Path("/run/systemd/journal/socket")
SYSLOG_IDENTIFIER = "edge-audit"


class AuditSink(Protocol):
    def write(self, event: str, fields: dict[str, Any], line: str) -> None: ...


class LogSink:
    """The `edge.audit` logger: stderr, hence the journal when running as the service."""

    def write(self, event: str, fields: dict[str, Any], line: str) -> None:
        log.info("%s", line)


class JournalSink:
    """journald's native protocol: one datagram of KEY=value lines (values without newlines)."""

    def __init__(self, path: Path = JOURNAL_SOCKET) -> None:
        self.path = path
        self.failures = 0

    def write(self, event: str, fields: dict[str, Any], line: str) -> None:
        lines = [f"MESSAGE={line}", f"SYSLOG_IDENTIFIER={SYSLOG_IDENTIFIER}", "PRIORITY=6",
                 f"EDGE_AUDIT_EVENT={event}"]
        for key, value in fields.items():
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            lines.append(f"EDGE_AUDIT_{_field_name(key)}={' '.join(text.split())}")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto("\n".join(lines).encode("utf-8", "replace") + b"\n", str(self.path))
        except OSError as exc:  # the log line was written anyway; say once why the journal missed it
            self.failures += 1
            if self.failures == 1:
                log.warning("audit: cannot write to the journal at %s: %s", self.path, exc)


def _field_name(key: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in key.upper())


def _stderr_is_journal() -> bool:
    """systemd sets $JOURNAL_STREAM to stderr's device:inode when stderr is the journal."""
    stream = os.environ.get("JOURNAL_STREAM", "")
    if not stream:
        return False
    try:
        st = os.fstat(2)
    except OSError:
        return False
    return stream == f"{st.st_dev}:{st.st_ino}"


def default_sinks() -> list[AuditSink]:
    sinks: list[AuditSink] = [LogSink()]
    if JOURNAL_SOCKET.exists() and not _stderr_is_journal():
        sinks.append(JournalSink())
    return sinks


def who() -> dict[str, Any]:
    """The local account behind this process (and the one that ran sudo, if any)."""
    uid = os.getuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    out: dict[str, Any] = {"user": user, "uid": uid, "pid": os.getpid()}
    if os.environ.get("SUDO_USER"):
        out["sudo_user"] = os.environ["SUDO_USER"]
    return out


class AuditLog:
    """Writes audit lines to every sink; a failing sink never stops the caller."""

    def __init__(self, sinks: Iterable[AuditSink] | None = None) -> None:
        self.sinks = list(sinks) if sinks is not None else default_sinks()

    def record(self, event: str, **fields: Any) -> str:
        body = {"event": event, **fields}
        line = "audit " + json.dumps(body, ensure_ascii=False, separators=(", ", ": "), default=str)
        for sink in self.sinks:
            try:
                sink.write(event, fields, line)
            except Exception:  # noqa: BLE001 - auditing must not break the audited action
                log.debug("audit sink failed", exc_info=True)
        return line


_default: AuditLog | None = None


def audit(event: str, **fields: Any) -> str:
    """Record one audit line through the process-wide AuditLog (made on first use)."""
    global _default
    if _default is None:
        _default = AuditLog()
    return _default.record(event, **fields)
