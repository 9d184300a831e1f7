#!/usr/bin/env bash
# Ferry's main job, locally: ferry-proxy forwards 127.0.0.1:7070 to an echo upstream on
# 127.0.0.1:7071, a line goes through it and comes back, then the proxy drains and stops.
# Ports can be changed with FERRY_DEMO_PORT and FERRY_DEMO_UPSTREAM_PORT.
set -euo pipefail
cd "$(dirname "$0")/.."
listen_port="${FERRY_DEMO_PORT:-7070}"
upstream_port="${FERRY_DEMO_UPSTREAM_PORT:-7071}"

cargo build --release --locked -q -p ferry-cli -p ferry-bench
bin=target/release

"$bin/ferry-bench" echo --listen "127.0.0.1:$upstream_port" &
echo_pid=$!
"$bin/ferry-proxy" --listen "127.0.0.1:$listen_port" --upstream "127.0.0.1:$upstream_port" &
proxy_pid=$!
trap 'kill "$echo_pid" "$proxy_pid" 2>/dev/null || true' EXIT

# Wait (bounded) until the proxy accepts connections.
for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$listen_port") 2>/dev/null; then break; fi
    sleep 0.1
done

exec 3<>"/dev/tcp/127.0.0.1/$listen_port"
printf 'hello through ferry\n' >&3
IFS= read -r -t 10 reply <&3
exec 3>&-
echo "sent:     hello through ferry"
echo "received: $reply"

kill -TERM "$proxy_pid"
wait "$proxy_pid"
echo "ferry-proxy drained and stopped"
[ "$reply" = "hello through ferry" ]
