#!/usr/bin/env bash
# The Raspberry Pi installs numpy<2 and opencv-python-headless<4.12
# (deploy/raspberrypi/constraints.txt) while ./scripts/test.sh gets the newest. This runs the
# tests that handle images and models (numpy / OpenCV / onnxruntime) again with the Pi's
# versions, in .venv-pi. PI_TESTS=all runs the whole suite instead (about 3 minutes more).
# Run ./scripts/test.sh first: it installs the Debian packages the tests need.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x .venv-pi/bin/python ] || python3 -m venv .venv-pi
.venv-pi/bin/python -m pip install -q --disable-pip-version-check \
    --constraint deploy/raspberrypi/constraints.txt -e '.[test]'
.venv-pi/bin/python -c 'import cv2, numpy, onnxruntime; print(f"Pi versions: numpy {numpy.__version__}, opencv {cv2.__version__}, onnxruntime {onnxruntime.__version__}")'

if [ "${PI_TESTS:-}" = all ]; then
    set -- "$@"
else
    set -- tests/recognition tests/calibration tests/sources tests/synth tests/preview tests/commands \
        tests/test_pipeline.py tests/test_app.py tests/test_motion.py \
        tests/test_tracking.py tests/test_formats.py tests/delivery/test_event_json.py "$@"
fi
exec .venv-pi/bin/python -m pytest -q -p no:cacheprovider "$@"
