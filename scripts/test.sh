#!/usr/bin/env bash
# Installs everything the tests need (Debian services + a venv with the test extra) and runs them;
# with no arguments, then the image and model tests again with the Pi's versions
# (scripts/test-pi-versions.sh; EDGE_SKIP_PI_VERSIONS=1 skips that).
# Works on a clean Debian 12 machine; root or sudo is needed only for the apt packages.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
while read -r pkg; do
  [ -z "$pkg" ] || [ "${pkg#\#}" != "$pkg" ] && continue
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done < scripts/ci-packages.txt
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
# A whole run also repeats the image and model tests with the Raspberry Pi's numpy / OpenCV.
if [ $# -eq 0 ] && [ "${EDGE_SKIP_PI_VERSIONS:-}" != 1 ]; then
  ./scripts/test-pi-versions.sh
fi
