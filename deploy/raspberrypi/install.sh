#!/bin/bash
# install.sh — install, upgrade or remove the edge plate reader on Raspberry Pi OS / Debian 12.
#
#   sudo ./install.sh install   [options]   # first install (safe to run again: idempotent)
#   sudo ./install.sh upgrade   [options]   # new code + models; config and outbox kept
#   sudo ./install.sh uninstall [--purge]   # remove code and units; --purge also config + outbox
#   sudo ./install.sh status                # service state and `edge doctor`
#
# Options (install/upgrade):
#   --source DIR             edge source tree (default: the tree this script is in)
#   --video FILE|fixture     use a video file as the camera (first install; demos, tests);
#                            "fixture" = the bundled test video, installed under PREFIX/share
#   --mqtt-host HOST         broker (first install; default localhost)   --mqtt-port N
#   --mqtt-user USER         broker user (first install)
#   --mqtt-password-file F   broker password -> systemd credential (0600, root only)
#   --no-mqtt                do not publish (events stay in the outbox) (first install)
#   --device-id ID           this box's id in topics and events (first install; default: derived
#                            from the Pi serial or machine id, unique per box: edge-xxxxxxxxxx)
#   --wheelhouse DIR         install Python packages from DIR only (offline install)
#   --no-apt                 do not run apt-get (packages already there)
#   --no-start               install and enable, but do not start the service now
#   --prefix DIR             default /opt/edge (the unit files are rewritten to match)
#
# Layout: code in PREFIX/venv (a venv with --system-site-packages, so apt's picamera2 and
# libcamera are visible), models in PREFIX/models, config in /etc/edge/edge.toml, secrets in
# /etc/edge/credentials/ (root only, handed over as systemd credentials), outbox in
# /var/lib/edge (StateDirectory=), logs in the journal (journalctl -u edge).
set -euo pipefail

PREFIX=/opt/edge
ETC=/etc/edge
STATE=/var/lib/edge
UNIT_DIR=/etc/systemd/system
USER_NAME=edge
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE=$(cd "$SCRIPT_DIR/../.." && pwd)
VIDEO="" MQTT_HOST="localhost" MQTT_PORT=1883 MQTT_USER="" MQTT_PASSWORD_FILE="" MQTT_ENABLED=true
WHEELHOUSE="" NO_APT=0 NO_START=0 PURGE=0 DEVICE_ID=

say()  { printf 'edge-install: %s\n' "$*"; }
warn() { printf 'edge-install: WARNING: %s\n' "$*" >&2; }
die()  { printf 'edge-install: ERROR: %s\n' "$*" >&2; exit 1; }

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit "${1:-0}"; }

ACTION=${1:-}
[ -n "$ACTION" ] || usage 2
shift
case "$ACTION" in install|upgrade|uninstall|status) ;; -h|--help|help) usage 0 ;; *) usage 2 ;; esac
while [ $# -gt 0 ]; do
    case "$1" in
        --source) SOURCE=$(cd "$2" && pwd); shift ;;
        --video) VIDEO=$2; shift ;;
        --mqtt-host) MQTT_HOST=$2; shift ;;
        --mqtt-port) MQTT_PORT=$2; shift ;;
        --mqtt-user) MQTT_USER=$2; shift ;;
        --mqtt-password-file) MQTT_PASSWORD_FILE=$2; shift ;;
        --no-mqtt) MQTT_ENABLED=false ;;
        --device-id) DEVICE_ID=$2; shift ;;
        --wheelhouse) WHEELHOUSE=$(cd "$2" && pwd); shift ;;
        --no-apt) NO_APT=1 ;;
        --no-start) NO_START=1 ;;
        --prefix) PREFIX=$2; shift ;;
        --purge) PURGE=1 ;;
        -h|--help) usage 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
VENV=$PREFIX/venv

[ "$(id -u)" -eq 0 ] || die "run as root (sudo $0 $ACTION ...)"
LOCK=/run/edge-install.lock
[ -d /run ] && [ -w /run ] || LOCK=/tmp/edge-install.lock
exec 9>"$LOCK"
flock -n 9 || die "another install.sh is running"

systemd_running() { [ -d /run/systemd/system ]; }

check_os() {
    local id="" version_id="" pretty=""
    if [ -r /etc/os-release ]; then
        # shellcheck disable=SC1091
        . /etc/os-release
        id=${ID:-}; version_id=${VERSION_ID:-}; pretty=${PRETTY_NAME:-}
    fi
    case "$id:$version_id" in
        debian:12|raspbian:12) say "system: $pretty ($(dpkg --print-architecture))" ;;
        *) warn "tested on Debian 12 / Raspberry Pi OS (bookworm); this is '${pretty:-unknown}': continuing" ;;
    esac
}

# ---------------------------------------------------------------- packages
APT_PACKAGES=(python3 python3-venv python3-pip python3-numpy ca-certificates)
APT_OPTIONAL=(python3-picamera2)

apt_candidate() {  # prints the candidate version of a package, or nothing
    apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { if ($2 != "(none)") print $2 }'
}

install_packages() {
    if [ "$NO_APT" -eq 1 ]; then
        say "apt: skipped (--no-apt)"
    else
        export DEBIAN_FRONTEND=noninteractive
        local missing=()
        for p in "${APT_PACKAGES[@]}" "${APT_OPTIONAL[@]}"; do
            dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
        done
        if [ ${#missing[@]} -gt 0 ]; then
            apt-get update -qq
            local want=()
            for p in "${missing[@]}"; do
                if [ -n "$(apt_candidate "$p")" ]; then
                    want+=("$p")
                elif [[ " ${APT_OPTIONAL[*]} " == *" $p "* ]]; then
                    say "$p: not available from this system's apt sources (it comes from the Raspberry Pi OS repository, archive.raspberrypi.com) - installing everything else; the 'picamera' camera source needs it, video/RTSP/USB sources work without it"
                else
                    die "apt package $p is not available: check /etc/apt/sources.list"
                fi
            done
            if [ ${#want[@]} -gt 0 ]; then
                say "apt: installing ${want[*]}"
                apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
            fi
        else
            say "apt: all packages present"
        fi
    fi
    command -v python3 >/dev/null || die "python3 is missing"
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "Python 3.11 or newer is needed"
}

# ---------------------------------------------------------------- user and directories
ensure_user() {
    if ! getent group "$USER_NAME" >/dev/null; then
        groupadd --system "$USER_NAME"
    fi
    if ! id -u "$USER_NAME" >/dev/null 2>&1; then
        useradd --system --gid "$USER_NAME" --home-dir "$STATE" --no-create-home \
            --shell /usr/sbin/nologin --comment "edge plate reader" "$USER_NAME"
        say "created system user $USER_NAME"
    fi
    for g in video dialout; do
        getent group "$g" >/dev/null || groupadd --system "$g"
        id -nG "$USER_NAME" | tr ' ' '\n' | grep -qx "$g" || usermod -aG "$g" "$USER_NAME"
    done
    install -d -m 0755 -o root -g root "$PREFIX" "$PREFIX/models" "$PREFIX/share" "$PREFIX/share/doc"
    install -d -m 0750 -o root -g "$USER_NAME" "$ETC"
    install -d -m 0700 -o root -g root "$ETC/credentials"
    # the calibration folder: the aiming page's ROI editor (running as edge) saves into it
    install -d -m 0750 -o "$USER_NAME" -g "$USER_NAME" "$ETC/calibration"
    if [ ! -e "$ETC/calibration/camera.json" ]; then
        printf '{"schema": "edge.calibration/1"}\n' >"$ETC/calibration/camera.json"
        chown "$USER_NAME:$USER_NAME" "$ETC/calibration/camera.json"
        chmod 0640 "$ETC/calibration/camera.json"
    fi
    install -d -m 0750 -o "$USER_NAME" -g "$USER_NAME" "$STATE"
}

# ---------------------------------------------------------------- python
install_python() {
    if [ ! -x "$VENV/bin/python" ]; then
        say "venv: creating $VENV (--system-site-packages)"
        python3 -m venv --system-site-packages "$VENV"
    fi
    local pip=("$VENV/bin/python" -m pip --disable-pip-version-check --no-cache-dir -q)
    local from=()
    [ -z "$WHEELHOUSE" ] || from=(--no-index --find-links "$WHEELHOUSE")
    [ -f "$SOURCE/pyproject.toml" ] || die "$SOURCE is not the edge source tree (no pyproject.toml); use --source DIR"
    # Build in a scratch copy: the source tree may be read-only or owned by someone else.
    local build
    build=$(mktemp -d)
    # (tests/fixtures stays: pyproject.toml installs the fixture video as package data.)
    tar -C "$SOURCE" --exclude=./.git --exclude=./training --exclude=./build --exclude='*.egg-info' \
        --exclude=__pycache__ -cf - . | tar -C "$build" -xf -
    say "python: installing edge and its dependencies into $VENV"
    if ! "${pip[@]}" install "${from[@]}" --upgrade --constraint "$SCRIPT_DIR/constraints.txt" "$build"; then
        rm -rf "$build"
        die "pip could not install edge (network? use --wheelhouse DIR for an offline install)"
    fi
    rm -rf "$build"
    "$VENV/bin/edge" --version >/dev/null || die "the installed edge command does not run"
    say "python: $("$VENV/bin/edge" --version) (numpy $("$VENV/bin/python" -c 'import numpy; print(numpy.__version__)'))"
    # The `edge` command for people: the venv's, with the service's environment defaults.
    local wrapper
    wrapper=$(mktemp)
    cat >"$wrapper" <<WRAPPER
#!/bin/sh
# edge — installed by edge install.sh (deploy/raspberrypi); runs $VENV/bin/edge
: "\${EDGE_MODELS_DIR:=$PREFIX/models}"; export EDGE_MODELS_DIR
: "\${OPENCV_LOG_LEVEL:=ERROR}"; export OPENCV_LOG_LEVEL
exec $VENV/bin/edge "\$@"
WRAPPER
    [ ! -L /usr/local/bin/edge ] || rm -f /usr/local/bin/edge
    cmp -s "$wrapper" /usr/local/bin/edge || install -m 0755 "$wrapper" /usr/local/bin/edge
    rm -f "$wrapper"
}

install_models() {
    local n=0
    for f in "$SOURCE"/models/*.onnx "$SOURCE"/models/*.json "$SOURCE"/models/*.md; do
        [ -f "$f" ] || continue
        install -m 0644 -o root -g root "$f" "$PREFIX/models/"
        n=$((n + 1))
    done
    if ls "$PREFIX"/models/*.onnx >/dev/null 2>&1; then
        say "models: $(cd "$PREFIX/models" && ls ./*.onnx | tr '\n' ' ')in $PREFIX/models"
    else
        warn "no ONNX models in $SOURCE/models: 'edge run' will refuse to start until they are in $PREFIX/models"
    fi
    # The fixture video (camera stand-in for tests and demos) and the docs.
    for f in "$SOURCE"/tests/fixtures/video/*.mp4; do
        [ -f "$f" ] || continue
        install -d -m 0755 "$PREFIX/share/fixtures"
        install -m 0644 "$f" "$PREFIX/share/fixtures/"
    done
    install -m 0644 "$SCRIPT_DIR/README.md" "$PREFIX/share/doc/README.md"
    [ ! -f "$SOURCE/examples/edge.toml" ] || install -m 0644 "$SOURCE/examples/edge.toml" "$PREFIX/share/doc/edge.toml.example"
    [ ! -f "$SOURCE/benchmarks/pi.md" ] || install -m 0644 "$SOURCE/benchmarks/pi.md" "$PREFIX/share/doc/pi.md"
}

# ---------------------------------------------------------------- config and secrets
choose_device_id() {
    # Never the host name: every stock Pi is "raspberrypi", and two boxes with one id take over
    # each other's MQTT session. Building an image (no systemd running here) leaves it empty,
    # so each box derives its own from its Pi serial / machine id at its first start.
    if [ -n "$DEVICE_ID" ]; then
        printf '%s' "$DEVICE_ID" | grep -Eq '^[A-Za-z0-9._-]{1,64}$' || die "--device-id $DEVICE_ID: use 1-64 of A-Z a-z 0-9 . _ -"
        say "device id: $DEVICE_ID (--device-id)"
        return
    fi
    if ! systemd_running; then
        say "device id: left to each box (image build): derived at its first start from its Pi serial or machine id"
        return
    fi
    local derived
    if derived=$("$VENV/bin/python" -m edge.device_id --source 2>/dev/null); then
        DEVICE_ID=${derived%% *}
        say "device id: $DEVICE_ID (derived from this box's ${derived#* }; change it in $ETC/edge.toml, [device] id)"
    else
        warn "device id: this box has no Pi serial or machine id; set a unique [device] id in $ETC/edge.toml"
    fi
}

warn_shared_id() {  # an existing config (upgrade) whose id is shared by many boxes
    local id
    id=$(sed -n 's/^id *= *"\([^"]*\)".*/\1/p' "$ETC/edge.toml" | head -n1)
    case "${id,,}" in
        "") say "device id: derived at each start from this box's serial / machine id: $("$VENV/bin/python" -m edge.device_id 2>/dev/null || echo '?') (versions before 2026-12-07 used the host name)" ;;
        raspberrypi|raspberry|pi|localhost|edge|debian|ubuntu)
            warn "device id '$id' in $ETC/edge.toml is shared by every stock box: two boxes with one id take over each other's MQTT session; set a unique one (e.g. $("$VENV/bin/python" -m edge.device_id 2>/dev/null || echo gate-north-01))" ;;
    esac
}

render_config() {
    local source_block threads cores
    if [ "$VIDEO" = fixture ]; then
        VIDEO=$PREFIX/share/fixtures/passes.mp4
        [ -f "$VIDEO" ] || die "--video fixture: $SOURCE/tests/fixtures/video/passes.mp4 was not in the source tree"
    fi
    if [ -n "$VIDEO" ]; then
        [ -f "$VIDEO" ] || die "--video $VIDEO: no such file"
        source_block=$(printf 'kind = "video"\npath = "%s"\npacing = "realtime"   # play at the file'"'"'s own speed, like a camera\nloop = true' "$(readlink -f "$VIDEO")")
    else
        source_block=$(printf 'kind = "picamera"\nwidth = 1920            # "main" stream: plate crops come from here\nheight = 1080\nlores_width = 640       # "lores" stream: the detector runs on this\nlores_height = 360\nfps = 15.0')
    fi
    cores=$(nproc 2>/dev/null || echo 1)
    if [ "$cores" -ge 4 ]; then threads=3; elif [ "$cores" -ge 2 ]; then threads=2; else threads=1; fi
    python3 - "$SCRIPT_DIR/edge.toml" "$source_block" "$threads" "$MQTT_ENABLED" "$MQTT_HOST" "$MQTT_PORT" "$MQTT_USER" "$DEVICE_ID" <<'PY'
import sys
text = open(sys.argv[1]).read()
keys = ["@SOURCE@", "@THREADS@", "@MQTT_ENABLED@", "@MQTT_HOST@", "@MQTT_PORT@", "@MQTT_USER@"]
for key, value in zip(keys, sys.argv[2:]):
    text = text.replace(key, value.replace("\\", "\\\\").replace('"', '\\"') if key in ("@MQTT_HOST@", "@MQTT_USER@") else value)
sys.stdout.write(text.replace("@DEVICE_ID@", sys.argv[8]))
PY
}

install_config() {
    local tmp
    [ -f "$ETC/edge.toml" ] || choose_device_id
    tmp=$(mktemp)
    render_config >"$tmp"
    install -m 0640 -o root -g "$USER_NAME" "$tmp" "$ETC/edge.toml.dist"
    if [ -f "$ETC/edge.toml" ]; then
        say "config: keeping $ETC/edge.toml (the shipped one is $ETC/edge.toml.dist)"
        warn_shared_id
        rm -f "$tmp"
    else
        install -m 0640 -o root -g "$USER_NAME" "$tmp" "$ETC/edge.toml"
        rm -f "$tmp"
        say "config: wrote $ETC/edge.toml"
    fi
    if [ -n "$MQTT_PASSWORD_FILE" ]; then
        [ -s "$MQTT_PASSWORD_FILE" ] || die "--mqtt-password-file $MQTT_PASSWORD_FILE: missing or empty"
        install -m 0600 -o root -g root "$MQTT_PASSWORD_FILE" "$ETC/credentials/mqtt-password"
        say "secrets: MQTT password stored as credential mqtt-password"
    fi
    if [ ! -s "$ETC/credentials/preview-token" ]; then
        (umask 077; head -c 48 /dev/urandom | base64 -w0 | tr -dc 'A-Za-z0-9' | cut -c1-32 >"$ETC/credentials/preview-token")
        say "secrets: generated the preview page token ($ETC/credentials/preview-token)"
    fi
    chmod 0600 "$ETC"/credentials/* 2>/dev/null || true
}

# ---------------------------------------------------------------- systemd
install_units() {
    local u changed=0
    for u in edge.service edge-preview.service; do
        local tmp
        tmp=$(mktemp)
        sed -e "s#/opt/edge#$PREFIX#g" "$SCRIPT_DIR/$u" >"$tmp"
        if ! cmp -s "$tmp" "$UNIT_DIR/$u"; then
            install -m 0644 "$tmp" "$UNIT_DIR/$u"
            changed=1
        fi
        rm -f "$tmp"
    done
    # The broker password credential: only when there is one (a LoadCredential= whose file is
    # missing would stop the unit from starting).
    local dropin=$UNIT_DIR/edge.service.d/10-credentials.conf
    if [ -s "$ETC/credentials/mqtt-password" ]; then
        install -d -m 0755 "$UNIT_DIR/edge.service.d"
        local want="[Service]
LoadCredential=mqtt-password:$ETC/credentials/mqtt-password"
        if [ "$(cat "$dropin" 2>/dev/null)" != "$want" ]; then
            printf '%s\n' "$want" >"$dropin"
            changed=1
        fi
    elif [ -f "$dropin" ]; then
        rm -f "$dropin"
        changed=1
    fi
    if systemd_running; then
        [ "$changed" -eq 0 ] || systemctl daemon-reload
    fi
    if command -v systemctl >/dev/null; then
        systemctl enable edge.service >/dev/null 2>&1 || systemctl --root=/ enable edge.service >/dev/null
    else  # no systemd in this root (image build): enable by hand, as systemctl would
        install -d -m 0755 "$UNIT_DIR/multi-user.target.wants"
        ln -sfn "$UNIT_DIR/edge.service" "$UNIT_DIR/multi-user.target.wants/edge.service"
    fi
    say "systemd: edge.service installed and enabled$([ "$changed" -eq 1 ] && echo ' (unit updated)')"
    if command -v systemd-analyze >/dev/null; then
        if systemd-analyze verify "$UNIT_DIR/edge.service" >/dev/null 2>&1; then
            say "systemd: 'systemd-analyze verify edge.service' is clean"
        else
            warn "systemd-analyze verify reports:"; systemd-analyze verify "$UNIT_DIR/edge.service" || true
        fi
    fi
}

check_config() {
    if runuser -u "$USER_NAME" -- env EDGE_MODELS_DIR="$PREFIX/models" "$VENV/bin/edge" run \
            --config "$ETC/edge.toml" --check-config >/dev/null 2>"$STATE/.check-config.err"; then
        say "config: $ETC/edge.toml is valid"
    else
        warn "config: $(head -n1 "$STATE/.check-config.err")"
    fi
    rm -f "$STATE/.check-config.err"
}

start_service() {
    if [ "$NO_START" -eq 1 ]; then
        say "service: not started (--no-start); start with: sudo systemctl start edge"
    elif ! systemd_running; then
        say "service: systemd is not running here (chroot/container build): it starts at the next boot"
    else
        systemctl restart edge.service
        local state
        state=$(systemctl is-active edge.service || true)
        say "service: edge.service is $state (follow it: journalctl -u edge -f)"
    fi
}

do_install() {
    check_os
    install_packages
    ensure_user
    install_python
    install_models
    install_config
    install_units
    check_config
    start_service
    say "done. Verify: systemctl status edge; journalctl -u edge -n 50; edge doctor --config $ETC/edge.toml"
}

do_upgrade() {
    [ -x "$VENV/bin/python" ] || die "not installed yet (run: $0 install)"
    VIDEO=""  # never rewrites the config
    do_install
}

do_uninstall() {
    if systemd_running; then
        systemctl disable --now edge.service edge-preview.service >/dev/null 2>&1 || true
    else
        systemctl disable edge.service >/dev/null 2>&1 || true
    fi
    rm -f "$UNIT_DIR/edge.service" "$UNIT_DIR/edge-preview.service"
    rm -rf "$UNIT_DIR/edge.service.d"
    ! systemd_running || systemctl daemon-reload
    ! grep -qs 'installed by edge install.sh' /usr/local/bin/edge || rm -f /usr/local/bin/edge
    rm -rf "$PREFIX"
    say "removed $PREFIX, the units and /usr/local/bin/edge"
    if [ "$PURGE" -eq 1 ]; then
        rm -rf "$ETC" "$STATE"
        if id -u "$USER_NAME" >/dev/null 2>&1; then userdel "$USER_NAME" 2>/dev/null || true; fi
        getent group "$USER_NAME" >/dev/null && groupdel "$USER_NAME" 2>/dev/null || true
        say "purged $ETC, $STATE (the outbox) and the $USER_NAME user"
    else
        say "kept $ETC (config, secrets) and $STATE (outbox: unsent reads); --purge removes them"
    fi
    say "apt packages are left installed"
}

do_status() {
    if systemd_running; then systemctl --no-pager status edge.service || true; fi
    if [ -x "$VENV/bin/edge" ]; then
        runuser -u "$USER_NAME" -- env EDGE_MODELS_DIR="$PREFIX/models" "$VENV/bin/edge" doctor --config "$ETC/edge.toml" || true
    else
        say "not installed"
    fi
}

case "$ACTION" in
    install) do_install ;;
    upgrade) do_upgrade ;;
    uninstall) do_uninstall ;;
    status) do_status ;;
esac
