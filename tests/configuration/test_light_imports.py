"""Loading the settings imports no MQTT client and no web server: every `edge read` process
starts faster by what paho and http.server cost to import (benchmarks/speed.md)."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import REPO

HEAVY = ("paho.mqtt.client", "edge.preview.server", "edge.delivery.mqtt", "http.server")


def test_the_settings_load_without_paho_or_the_preview_server(tmp_path):
    config = tmp_path / "edge.toml"
    config.write_text('[mqtt]\nhost = "broker.example"\n[preview]\nenabled = true\n')
    code = ("import sys; from edge.configuration.settings import load_config; "
            f"c = load_config({str(config)!r}); assert c.mqtt.host == 'broker.example'; "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
