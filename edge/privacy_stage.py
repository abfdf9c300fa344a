"""The privacy stage: between the tracker and the outbox, it decides what an event may carry.

    tracker -> PrivacySink(stage) -> [ReplaySink] -> DurableSink (outbox) -> MQTT

For each event, in this order:
1. match it against the watchlists (edge.watchlist) and note `match`;
2. `publish = "matches"`: an event with no match is dropped here, counted, and never stored;
3. `image = true`: the best read's plate pixels become a small JPEG (edge.plate_image); the raw
   pixels are dropped either way;
4. `plates = "hashed"`: the text becomes HMAC-SHA256 hex, per-character reads and candidates
   are emptied, and a plain watchlist entry in `match` is hashed too.
Only the result is encoded, so nothing downstream (outbox file, `edge outbox list`, payloads,
printed events) ever holds what the mode hides. `display` gives the preview page the same view.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from edge.configuration.validation import ConfigError
from edge.plate_image import plate_jpeg
from edge.privacy import PlateHasher, PrivacyConfig, read_key, require_key
from edge.records import PlateEvent
from edge.watchlist import WatchlistConfig, WatchlistError, Watchlists, WatchlistWatcher


class PrivacyStage:
    """PlateEvent in, the event the mode allows out (or None: kept off the device's outputs)."""

    def __init__(self, config: PrivacyConfig, watchlists: Watchlists | None = None,
                 hasher: PlateHasher | None = None) -> None:
        if config.plates == "hashed" and hasher is None:
            raise ValueError('plates = "hashed" needs a PlateHasher')
        if config.publish == "matches" and not watchlists:
            raise ValueError('publish = "matches" needs at least one watchlist')
        self.config = config
        self.watchlists = watchlists
        self.hasher = hasher
        self.matched = 0
        self.suppressed = 0
        self._lock = threading.Lock()

    def apply(self, event: PlateEvent) -> PlateEvent | None:
        match = self.watchlists.match(event.text) if self.watchlists else None
        with self._lock:
            self.matched += match is not None
            if self.config.publish == "matches" and match is None:
                self.suppressed += 1
                return None
        jpeg = None
        if self.config.image and event.crop is not None:
            jpeg = plate_jpeg(event.crop, self.config.image_width, self.config.image_quality)
        event = replace(event, crop=None, crop_jpeg=jpeg, match=match)
        return self._hashed(event) if self.config.plates == "hashed" else event

    def _hashed(self, event: PlateEvent) -> PlateEvent:
        assert self.hasher is not None
        match = event.match
        if match is not None and not match.entry_hmac:
            match = replace(match, entry=self.hasher.digest(match.entry), entry_hmac=True)
        return replace(event, text=self.hasher.digest(event.text), chars=(), candidates=(), match=match,
                       text_hmac_key=self.hasher.key_id)

    def display(self, text: str) -> str:
        """A read's label on the preview page: the text only where events show it too."""
        return display_text(text, self.config, self.hasher)

    def health(self) -> dict[str, Any]:
        """The `privacy` object of health: the mode and counts, never a plate."""
        out: dict[str, Any] = {"mode": self.config.mode, "plates": self.config.plates,
                               "publish": self.config.publish, "image": self.config.image,
                               "keep_sent_h": self.config.keep_sent_h, "matched": self.matched,
                               "suppressed": self.suppressed}
        if self.hasher is not None:
            out["key_id"] = self.hasher.key_id
        if self.watchlists:
            out["watchlists"] = self.watchlists.summary()
            out["watchlist_reload_errors"] = self.watchlists.reload_errors
        return out


def display_text(text: str, config: PrivacyConfig, hasher: PlateHasher | None) -> str:
    """Hashed: '#' and the HMAC's first 8 hex digits; matches-only: one '*' per character (the
    preview does not match every frame's reads against the lists); else the text."""
    if not text:
        return text
    if config.plates == "hashed" and hasher is not None:
        return "#" + hasher.digest(text)[:8]
    if config.publish == "matches":
        return "*" * len(text)
    return text


def preview_label(config: PrivacyConfig) -> Callable[[str], str]:
    """`display_text` for `edge preview`, which runs without the service (and its lists)."""
    key = require_key(config, 'plates = "hashed"') if config.plates == "hashed" else None
    hasher = PlateHasher(key) if key is not None else None
    return lambda text: display_text(text, config, hasher)


class PrivacySink:
    """An EventSink that passes each event through the stage before the inner sink."""

    def __init__(self, inner: Any, stage: PrivacyStage) -> None:
        self.inner = inner
        self.stage = stage

    def submit(self, event: PlateEvent) -> Any:
        allowed = self.stage.apply(event)
        return None if allowed is None else self.inner.submit(allowed)

    def retry(self) -> Any:
        return self.inner.retry()

    def close(self) -> Any:
        return self.inner.close()


@dataclass
class PrivacyParts:
    """What `open_privacy` builds for `edge run`: the stage, and the watcher reloading lists."""

    stage: PrivacyStage
    watcher: WatchlistWatcher | None

    def reload(self) -> None:
        """SIGHUP: reload every watchlist soon (safe from a signal handler)."""
        if self.watcher is not None:
            self.watcher.request_reload()

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()


def open_privacy(config: PrivacyConfig, lists: tuple[WatchlistConfig, ...], *,
                 watch: bool = True, poll_s: float = 2.0) -> PrivacyParts:
    """Key, hasher and lists from the config; a missing key or a broken list is a ConfigError."""
    key = require_key(config, 'plates = "hashed"') if config.plates == "hashed" else read_key(config)
    hasher = PlateHasher(key) if key is not None else None
    watchlists = None
    if lists:
        try:
            watchlists = Watchlists(lists, hasher)
        except WatchlistError as exc:
            raise ConfigError(str(exc)) from None
    stage = PrivacyStage(config, watchlists, hasher)
    watcher = WatchlistWatcher(watchlists, poll_s).start() if watchlists and watch else None
    return PrivacyParts(stage, watcher)
