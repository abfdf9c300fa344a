"""The configuration at start-up, audited: what is in force, and what changed since last start.

`edge run` writes one `config.start` audit line each time it starts: where the config came
from, a digest of every effective setting, the privacy mode, and `changed` (each setting whose
value differs from the previous start, as [old, new]). The previous start's settings are kept
in `config-audit.json` beside the outbox (mode 0600). A URL's password, should one be written in
a config despite the docs, is masked before it is logged or kept.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from edge.audit import audit

log = logging.getLogger("edge.config_audit")  # the name the logs have always carried

SNAPSHOT_NAME = "config-audit.json"
_URL_PASSWORD = re.compile(r"(://[^/:@\s]*):[^@/\s]*@")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return _URL_PASSWORD.sub(r"\1:***@", value) if isinstance(value, str) else value
    return _URL_PASSWORD.sub(r"\1:***@", str(value))


def flatten(config: Any) -> dict[str, Any]:
    """{'privacy.plates': 'hashed', 'watchlist[0].name': 'stolen', ...} of every setting."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        if f.name == "origin":
            continue
        value = getattr(config, f.name)
        if isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
            for i, item in enumerate(value):
                for key, v in dataclasses.asdict(item).items():
                    out[f"{f.name}[{i}].{key}"] = _plain(v)
        elif dataclasses.is_dataclass(value):
            for key, v in dataclasses.asdict(value).items():
                out[f"{f.name}.{key}"] = _plain(v)
        else:
            out[f.name] = _plain(value)
    return out


def _read_snapshot(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("settings"), dict) else None


def _write_snapshot(path: Path, digest: str, settings: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"digest": digest, "settings": settings}, fh, sort_keys=True)
        os.replace(tmp, path)
    except OSError as exc:  # auditing goes on; next start reports everything as changed
        log.warning("audit: cannot keep the config snapshot %s: %s", path, exc.strerror or exc)


def audit_startup(config: Any, state_dir: Path) -> dict[str, Any]:
    """Write the `config.start` audit line and keep this start's settings; returns the changes."""
    settings = flatten(config)
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    path = state_dir / SNAPSHOT_NAME
    previous = _read_snapshot(path)
    changed: dict[str, Any] = {}
    if previous is not None:
        old = previous["settings"]
        for key in sorted(set(old) | set(settings)):
            if old.get(key) != settings.get(key):
                changed[key] = [old.get(key), settings.get(key)]
    origin = str(config.origin) if config.origin is not None else "embedded default"
    audit("config.start", origin=origin, digest=digest, privacy=config.privacy.mode,
          watchlists=[w.name for w in config.watchlist], first_start=previous is None,
          previous_digest=previous.get("digest") if previous else None, changed=changed)
    _write_snapshot(path, digest, settings)
    return changed
