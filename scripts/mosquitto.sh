#!/usr/bin/env bash
# Private Mosquitto broker on loopback, for tests and local runs.
#
#   scripts/mosquitto.sh install            install mosquitto + mosquitto-clients if missing (apt, needs root)
#   scripts/mosquitto.sh start [PORT] [EXTRA_CONF]   start a broker on 127.0.0.1:PORT (default 1883),
#                                            anonymous allowed unless EXTRA_CONF says otherwise;
#                                            state in ${EDGE_MOSQUITTO_DIR:-/tmp/edge-mosquitto-PORT}
#   scripts/mosquitto.sh stop [PORT]         stop that broker
#   scripts/mosquitto.sh status [PORT]
set -euo pipefail

cmd="${1:-}"
port="${2:-1883}"
extra="${3:-}"
dir="${EDGE_MOSQUITTO_DIR:-/tmp/edge-mosquitto-$port}"

find_broker() {
    command -v mosquitto 2>/dev/null || { [ -x /usr/sbin/mosquitto ] && echo /usr/sbin/mosquitto; } || true
}

install() {
    if [ -n "$(find_broker)" ] && command -v mosquitto_sub >/dev/null 2>&1; then
        return 0
    fi
    local sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    echo "mosquitto.sh: installing mosquitto mosquitto-clients" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mosquitto mosquitto-clients >/dev/null
    # The Debian package starts a system broker on 1883; tests use their own ports, leave it be.
}

start() {
    install
    local broker; broker="$(find_broker)"
    mkdir -p "$dir"
    if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
        echo "mosquitto.sh: already running on 127.0.0.1:$port (pid $(cat "$dir/pid"))"
        return 0
    fi
    {
        echo "listener $port 127.0.0.1"
        echo "persistence false"
        echo "log_dest file $dir/mosquitto.log"
        echo "pid_file $dir/pid"
        [ "$(id -u)" = 0 ] && echo "user root"
        if [ -n "$extra" ]; then cat "$extra"; fi
        if [ -z "$extra" ] || ! grep -qE '^(allow_anonymous|password_file)' "$extra"; then
            echo "allow_anonymous true"
        fi
    } > "$dir/mosquitto.conf"
    "$broker" -d -c "$dir/mosquitto.conf"
    for _ in $(seq 50); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "mosquitto.sh: broker on 127.0.0.1:$port (config $dir/mosquitto.conf)"
            return 0
        fi
        sleep 0.1
    done
    echo "mosquitto.sh: broker did not start; see $dir/mosquitto.log" >&2
    return 1
}

stop() {
    if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
        kill "$(cat "$dir/pid")"
        rm -f "$dir/pid"
        echo "mosquitto.sh: stopped broker on port $port"
    else
        echo "mosquitto.sh: no broker running on port $port"
    fi
}

case "$cmd" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    status) if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then echo "running (pid $(cat "$dir/pid"))"; else echo "stopped"; exit 1; fi ;;
    *) echo "usage: $0 install | start [PORT] [EXTRA_CONF] | stop [PORT] | status [PORT]" >&2; exit 2 ;;
esac
