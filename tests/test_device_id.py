"""Every box its own device id (issue 17, defect 3): derived from the Raspberry Pi serial or the
machine id (read from real files under a folder standing in for `/`), stable, never the host
name "raspberrypi" that every stock Pi shares; a shared id is warned about loudly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from edge.device_id import derive_device_id, read_host_identity, shared_id_warning
from edge.configuration.settings import build_config


def stock_pi(root: Path, serial: str | None, machine_id: str | None = None) -> Path:
    """What a Pi installed from the stock image holds: hostname 'raspberrypi', its own serial."""
    (root / "etc").mkdir(parents=True)
    (root / "proc").mkdir()
    (root / "etc/hostname").write_text("raspberrypi\n")
    cpuinfo = "processor\t: 0\nmodel name\t: ARMv7 Processor rev 3 (v7l)\n"
    if serial:
        cpuinfo += f"Hardware\t: BCM2835\nSerial\t\t: {serial}\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n"
    (root / "proc/cpuinfo").write_text(cpuinfo)
    if machine_id:
        (root / "etc/machine-id").write_text(machine_id + "\n")
    return root


def test_two_pis_from_the_same_image_get_different_stable_ids(tmp_path):
    same_image_machine_id = "0123456789abcdef0123456789abcdef"
    a = stock_pi(tmp_path / "a", "10000000a1b2c3d4", same_image_machine_id)
    b = stock_pi(tmp_path / "b", "10000000e5f60718", same_image_machine_id)
    ida, idb = (derive_device_id(read_host_identity(r)) for r in (a, b))
    assert ida.source == idb.source == "pi-serial"
    assert ida.id != idb.id and ida.id.startswith("edge-") and len(ida.id) == 15
    assert derive_device_id(read_host_identity(a)) == ida  # stable
    assert "a1b2c3d4" not in ida.id  # a hash, not the serial itself


def test_the_devicetree_serial_and_then_the_machine_id_are_used(tmp_path):
    root = stock_pi(tmp_path / "dt", None, "fedcba9876543210fedcba9876543210")
    assert derive_device_id(read_host_identity(root)).source == "machine-id"
    serial = root / "sys/firmware/devicetree/base/serial-number"
    serial.parent.mkdir(parents=True)
    serial.write_bytes(b"10000000deadbeef\x00")
    assert derive_device_id(read_host_identity(root)).source == "pi-serial"
    other = stock_pi(tmp_path / "other", None, "00112233445566778899aabbccddeeff")
    assert derive_device_id(read_host_identity(other)) != derive_device_id(
        read_host_identity(stock_pi(tmp_path / "third", None, "ffeeddccbbaa99887766554433221100")))


def test_only_a_host_name_is_warned_about_loudly(tmp_path):
    bare = stock_pi(tmp_path / "bare", None, "uninitialized")  # an image whose machine id was never made
    derived = derive_device_id(read_host_identity(bare))
    assert (derived.id, derived.source) == ("raspberrypi", "hostname")
    warning = shared_id_warning(derived.id, derived.source)
    assert warning and "not unique" in warning and "[device] id" in warning
    assert shared_id_warning("raspberrypi") is not None  # set by hand: as bad
    assert shared_id_warning("gate-north-01") is None


def test_an_empty_device_id_is_this_boxs_derived_id_not_its_host_name():
    import socket

    from edge.device_id import this_box

    device = build_config({}).device
    assert device.resolved_id == this_box().id
    if this_box().source != "hostname":
        assert device.resolved_id != socket.gethostname()
    assert build_config({"device": {"id": "raspberrypi"}}).device.id_warning() is not None


def test_the_installers_command_prints_the_id(tmp_path):
    root = stock_pi(tmp_path / "pi", "10000000a1b2c3d4")
    out = subprocess.run([sys.executable, "-m", "edge.device_id", "--root", str(root), "--source"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == [derive_device_id(read_host_identity(root)).id, "pi-serial"]
    bare = stock_pi(tmp_path / "bare", None)
    proc = subprocess.run([sys.executable, "-m", "edge.device_id", "--root", str(bare)], capture_output=True, text=True)
    assert proc.returncode == 1 and "WARNING" in proc.stderr


def test_install_sh_writes_the_derived_id_into_the_config(tmp_path):
    """install.sh's own renderer (its embedded Python, run as install.sh runs it) puts the id
    into /etc/edge/edge.toml; it wrote id = "" before (so the id was the host name)."""
    import tomllib

    from edge.configuration.settings import load_config

    deploy = Path(__file__).resolve().parents[1] / "deploy" / "raspberrypi"
    script = (deploy / "install.sh").read_text()
    assert '"$VENV/bin/python" -m edge.device_id --source' in script
    renderer = script.split("<<'PY'\n", 1)[1].split("\nPY\n", 1)[0]
    derived = derive_device_id(read_host_identity(stock_pi(tmp_path / "pi", "10000000a1b2c3d4"))).id
    source = 'kind = "video"\npath = ""'
    out = subprocess.run([sys.executable, "-", str(deploy / "edge.toml"), source, "2", "true", "broker.example",
                          "1883", "cam-01", derived], input=renderer, capture_output=True, text=True, check=True).stdout
    assert tomllib.loads(out)["device"]["id"] == derived
    cfg = tmp_path / "edge.toml"
    cfg.write_text(out)
    config = load_config(cfg)
    assert config.device.resolved_id == derived and config.device.id_warning() is None
    assert str(config.outbox.spill_path) == "/run/edge/spill"
