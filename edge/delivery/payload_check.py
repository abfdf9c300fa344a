"""Is a stored payload still the event it was? SQLite's integrity_check does not look inside
values, so a flipped byte in a payload (a worn SD card) would be published as invalid JSON.
Each row is checked before it is sent; one that fails is quarantined by the outbox."""

from __future__ import annotations

import json


def payload_problem(seq: int, event_id: str, payload: bytes) -> str | None:
    """None when `payload` is a JSON object carrying this row's seq and id, else what is wrong."""
    try:
        data = json.loads(payload.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return f"not UTF-8 (byte {exc.start})"
    except ValueError as exc:
        return f"not valid JSON ({str(exc).splitlines()[0]})"
    if not isinstance(data, dict):
        return "not a JSON object"
    if data.get("seq") != seq:
        return f"seq {data.get('seq')!r} in the payload, {seq} in the outbox"
    if data.get("id") != event_id:
        return "id in the payload differs from the outbox's"
    return None
