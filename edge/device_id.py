"""A unique, stable device id per box, derived from its hardware: the Raspberry Pi's serial
number (unique per board), else the systemd machine id (unique per installed system). Never the
host name alone: every stock Raspberry Pi is called "raspberrypi", and two boxes with one id
take each other's MQTT session and mix their events.

The id is `edge-` + 10 hex digits of a hash (the machine id is confidential, see
machine-id(5), so it is never shown as is). `python -m edge.device_id [--root DIR]` prints it
with where it came from; install.sh writes it into the config (shown, editable).

Also what health reports say about the box itself: its SoC temperature (`device_temperature`).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import socket
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# Names many boxes share out of the box: an id equal to one of these is almost surely shared.
GENERIC_NAMES = frozenset({
    "raspberrypi", "raspberry", "pi", "localhost", "edge", "debian", "ubuntu", "dietpi", "orangepi",
    "rockpi", "jetson", "box", "device", "camera", "alpr", "default", "test",
})
_HEX = re.compile(r"^[0-9a-fA-F]{8,}$")


@dataclass(frozen=True)
class HostIdentity:
    """What a box knows about itself (read from files under `root`, so tests use a folder)."""

    pi_serial: str | None
    machine_id: str | None
    hostname: str


@dataclass(frozen=True)
class DerivedId:
    id: str
    source: str  # "pi-serial" | "machine-id" | "hostname"


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace").replace("\x00", "").strip()
    except OSError:
        return ""


def _pi_serial(root: Path) -> str | None:
    serial = _read(root / "sys/firmware/devicetree/base/serial-number")
    if not serial:
        for line in _read(root / "proc/cpuinfo").splitlines():
            key, _, value = line.partition(":")
            if key.strip().lower() == "serial":
                serial = value.strip()
    serial = serial.lower()
    return serial if _HEX.match(serial) and serial.strip("0") else None


def _machine_id(root: Path) -> str | None:
    for rel in ("etc/machine-id", "var/lib/dbus/machine-id"):
        value = _read(root / rel).lower()
        if re.fullmatch(r"[0-9a-f]{32}", value) and value.strip("0"):
            return value
    return None


def read_host_identity(root: Path = Path("/")) -> HostIdentity:
    hostname = _read(root / "etc/hostname") if root != Path("/") else socket.gethostname()
    return HostIdentity(_pi_serial(root), _machine_id(root), hostname or "")


def derive_device_id(identity: HostIdentity) -> DerivedId:
    if identity.pi_serial:
        return DerivedId(_hashed("pi-serial", identity.pi_serial), "pi-serial")
    if identity.machine_id:
        return DerivedId(_hashed("machine-id", identity.machine_id), "machine-id")
    host = re.sub(r"[^A-Za-z0-9._-]", "-", identity.hostname)[:64].strip("-.")
    return DerivedId(host or "edge", "hostname")


def _hashed(kind: str, value: str) -> str:
    return "edge-" + hashlib.sha256(f"edge-device-id|{kind}|{value}".encode()).hexdigest()[:10]


@lru_cache(maxsize=1)
def this_box() -> DerivedId:
    return derive_device_id(read_host_identity())


def shared_id_warning(device_id: str, source: str = "config") -> str | None:
    """A loud warning when the id is one many boxes share, else None."""
    if source == "hostname" or device_id.strip().lower() in GENERIC_NAMES:
        return (f"device id {device_id!r} is not unique to this box ({'its host name' if source == 'hostname' else 'a default name'}): "
                "two boxes with one id take over each other's MQTT session and mix their events; "
                f"set [device] id (e.g. {this_box().id if this_box().source != 'hostname' else 'gate-north-01'})")
    return None


def device_temperature(path: str) -> float | None:
    """The temperature in °C from a thermal zone file (millidegrees), None where there is none."""
    try:
        return round(int(Path(path).read_text().strip()) / 1000.0, 1)
    except (OSError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge.device_id", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/"), help="read the box's files under this folder")
    parser.add_argument("--source", action="store_true", help="also print where the id comes from")
    args = parser.parse_args(argv)
    derived = derive_device_id(read_host_identity(args.root))
    print(f"{derived.id} {derived.source}" if args.source else derived.id)
    warning = shared_id_warning(derived.id, derived.source)
    if warning:
        print(f"edge.device_id: WARNING: {warning}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
