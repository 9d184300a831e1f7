#!/usr/bin/env bash
# The soak: all four programs at once under a modest, mixed, byte-verified load for DURATION
# (default 3600 s; "600", "90s", "10m" or "1h"), watching every process for leaks.
#
#   scripts/soak.sh [DURATION]
#
# What runs (all on 127.0.0.1, from release binaries):
#   - ferry-proxy with a plain and a TLS listener in front of the driver's echo backend;
#   - ferry-hop access (SOCKS5) over a chain of two `ferry-hop serve` (TCP and UDP);
#   - ferry-gateway and ferry-agent (QUIC), clients using HTTP CONNECT with Proxy-Authorization;
#   - `ferry-bench soak`, the driver: echo backends (TCP and UDP), ~30 sessions/s spread over
#     the five routes (plain, TLS, SOCKS5 CONNECT, SOCKS5 UDP, HTTP CONNECT), short, idle and
#     long-lived, random sizes up to 512 KiB, half-closes, closes and resets; every echoed byte
#     is checked (see crates/ferry-bench/src/soak.rs).
#   - every SOAK_RELOAD s (default 300): a harmless config change (an idle timeout) and SIGHUP to
#     each program; `ferry_config_reloads_total{result="ok"}` must go up by one each time;
#   - every SOAK_RESTART s (default 600): ferry-agent is killed (SIGKILL) and started again; it
#     must reconnect within 60 s. Tunnel sessions may fail from the kill until 20 s after the
#     new agent is connected (the gateway notices a dead agent after its 6 s QUIC idle
#     timeout); any other failed session fails the soak;
#   - every SOAK_SAMPLE s (default 60): each program's open fds (/proc/PID/fd) and VmRSS.
#
# Verdict (exit 1 on any failure), after a warm-up of SOAK_WARMUP s (default: 10 % of the run,
# at least 5 min, at most half the run):
#   - fds under load: each program's count at the end <= its maximum during the warm-up +
#     max(25 %, SOAK_FD_SLACK) (default 32): the sessions alive at a sampling instant move by
#     about a fifth (long-lived ones last up to 2.5 min), so the count under load does too;
#   - RSS: growth from the end of the warm-up to the end <= max(10 %, 8 MiB) per program
#     (allocator caches and live connections at the sampling instant move RSS by a few MiB;
#     a leak of one buffer per connection, ~100 k sessions an hour, would be far above);
#   - fds without load: after the driver ends, each program's descriptors other than pipes must
#     come back (within 30 s, the UDP flows' idle timeout being 10 s) to their count before the
#     driver started, + SOAK_IDLE_SLACK (default 4); pipes are left out because ferry-bridge
#     pools the splice pipes it made (up to max_pipes) for reuse;
#   - zero corrupted bytes and zero failed sessions outside agent restarts (the driver's
#     verdict), every reload ok, every agent restart reconnected.
# The agent restarts every 10 min, so its figures are of its current process; the gateway is
# the long-lived side of the tunnel.
#
# Environment: SOAK_PORT (default 17070; ports SOAK_PORT+0..14), SOAK_BIN=DIR (already built
# binaries instead of `cargo build --release`), SOAK_SAMPLE, SOAK_RELOAD, SOAK_RESTART,
# SOAK_WARMUP, SOAK_FD_SLACK, SOAK_RATE (driver sessions/s), SOAK_KEEP=1 (keep the work dir),
# FERRY_TEST_10K=1 (also run the 10,000-connection test first).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/run.sh
. scripts/lib/run.sh

# DURATION in seconds: N, Ns, Nm or Nh.
parse_duration() {
    case "$1" in
    *h) echo $((${1%h} * 3600)) ;;
    *m) echo $((${1%m} * 60)) ;;
    *s) echo $((${1%s})) ;;
    *) echo $(($1)) ;;
    esac
}
duration=$(parse_duration "${1:-3600}")
sample_every=${SOAK_SAMPLE:-60}
reload_every=${SOAK_RELOAD:-300}
restart_every=${SOAK_RESTART:-600}
fd_slack=${SOAK_FD_SLACK:-32}
idle_slack=${SOAK_IDLE_SLACK:-4}
rate=${SOAK_RATE:-30}
if [ -n "${SOAK_WARMUP:-}" ]; then
    warmup=$SOAK_WARMUP
else
    warmup=$((duration / 10))
    [ "$warmup" -lt 300 ] && warmup=300
    [ "$warmup" -gt $((duration / 2)) ] && warmup=$((duration / 2))
fi

base=${SOAK_PORT:-17070}
port() { echo $((base + $1)); }
echo_port=$(port 0) udp_echo=$(port 1) plain=$(port 2) tls=$(port 3) proxy_admin=$(port 4)
hop1=$(port 5) hop2=$(port 6) hop1_admin=$(port 7) hop2_admin=$(port 8)
socks=$(port 9) access_admin=$(port 10)
gw_agents=$(port 11) gw_clients=$(port 12) gw_admin=$(port 13) agent_admin=$(port 14)

if [ -n "${FERRY_TEST_10K:-}" ]; then
    echo "== the 10,000-connection test"
    CARGO_INCREMENTAL=0 cargo test -q -p ferry-cli --test ten_thousand_cli
fi
if [ -n "${SOAK_BIN:-}" ]; then
    bin=$SOAK_BIN
else
    echo "== building release binaries"
    cargo build --release --locked -q -p ferry-cli -p ferry-bench
    bin=target/release
fi

work=$(mktemp -d)
pids=()
verdict=1
cleanup() {
    stop_all
    if [ "${SOAK_KEEP:-}" = 1 ] || [ "$verdict" != 0 ]; then
        echo "soak: logs and samples kept in $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

# --- credentials and configs ----------------------------------------------------------------
make_cert "$work/cert.key" "$work/cert.pem" 2
make_hop_keys "$work" 2
"$bin/ferry-gateway" token new --role agent --agent-id edge-1 --token-file "$work/tokens" >"$work/agent.token"
"$bin/ferry-gateway" token new --role client --agent-id edge-1 --token-file "$work/tokens" >"$work/client.token"
chmod 600 "$work"/*.token

# Each config has one line tagged "# soak-reload": a timeout the reloads move between two
# harmless values.
cat >"$work/proxy.toml" <<EOF
metrics = "127.0.0.1:$proxy_admin"
[server]
drain_timeout = "5s"
[defaults]
idle_timeout = "600s" # soak-reload
[[listener]]
name = "plain"
bind = "127.0.0.1:$plain"
pool = "echo"
[[listener]]
name = "tls"
bind = "127.0.0.1:$tls"
pool = "echo"
[listener.tls]
cert = "$work/cert.pem"
key = "$work/cert.key"
[pool.echo]
upstreams = ["127.0.0.1:$echo_port"]
EOF
hop_config() { # N LISTEN ADMIN ALLOW
    cat >"$work/hop$1.toml" <<EOF
listen = "127.0.0.1:$2"
metrics = "127.0.0.1:$3"
udp = true
allow = [$4]
drain_timeout = "5s"
udp_idle_timeout = "10s"
idle_timeout = "600s" # soak-reload
[keys]
file = "$work/hop$1.keys"
EOF
}
hop_config 1 "$hop1" "$hop1_admin" "\"127.0.0.1:$hop2\""
hop_config 2 "$hop2" "$hop2_admin" "\"127.0.0.1:$echo_port\", \"127.0.0.1:$udp_echo\""
cat >"$work/access.toml" <<EOF
metrics = "127.0.0.1:$access_admin"
drain_timeout = "5s"
udp_idle_timeout = "10s"
idle_timeout = "600s" # soak-reload
[keys]
file = "$work/client.keys"
[[chain]]
name = "two-hops"
hops = [{ address = "127.0.0.1:$hop1", key_id = 1 }, { address = "127.0.0.1:$hop2", key_id = 2 }]
[[listener]]
name = "socks"
mode = "socks5"
bind = "127.0.0.1:$socks"
EOF
cat >"$work/gateway.toml" <<EOF
listen = "127.0.0.1:$gw_clients"
agent_listen = "127.0.0.1:$gw_agents"
allow = ["127.0.0.1:$echo_port"]
metrics = "127.0.0.1:$gw_admin"
[tls]
cert = "$work/cert.pem"
key = "$work/cert.key"
[auth]
tokens = "$work/tokens"
[limits]
max_tunnels_per_client = 4096
client_rate = "500/s burst 1000"
[timeouts]
idle = "600s" # soak-reload
drain = "5s"
agent_keep_alive = "2s"
agent_idle = "6s"
EOF
cat >"$work/agent.toml" <<EOF
gateway = "127.0.0.1:$gw_agents"
server_name = "localhost"
ca = "$work/cert.pem"
agent_id = "edge-1"
token_file = "$work/agent.token"
allow = ["127.0.0.1:$echo_port"]
metrics = "127.0.0.1:$agent_admin"
connect_timeout = "5s" # soak-reload
reconnect_min = "200ms"
reconnect_max = "2s"
keep_alive = "2s"
idle_timeout = "6s"
EOF

# --- the programs -----------------------------------------------------------------------------
names=(proxy hop1 hop2 access gateway agent)
declare -A pid admin
admin=([proxy]=$proxy_admin [hop1]=$hop1_admin [hop2]=$hop2_admin [access]=$access_admin
    [gateway]=$gw_admin [agent]=$agent_admin)
start proxy "$bin/ferry-proxy" --config "$work/proxy.toml" && pid[proxy]=$last_pid
start hop1 "$bin/ferry-hop" serve --config "$work/hop1.toml" && pid[hop1]=$last_pid
start hop2 "$bin/ferry-hop" serve --config "$work/hop2.toml" && pid[hop2]=$last_pid
start access "$bin/ferry-hop" access --config "$work/access.toml" && pid[access]=$last_pid
start gateway "$bin/ferry-gateway" --config "$work/gateway.toml" && pid[gateway]=$last_pid
for name in proxy hop1 hop2 access gateway; do wait_port "${admin[$name]}"; done

agent_starts=0
# Starts the agent (its log appended to agent.log) and waits (bounded: 60 s) until it holds its
# connection to the gateway.
start_agent() {
    "$bin/ferry-agent" --config "$work/agent.toml" >>"$work/agent.log" 2>&1 &
    pid[agent]=$!
    pids+=("${pid[agent]}")
    agent_starts=$((agent_starts + 1))
    for _ in $(seq 1 600); do
        [ "$(metric "$agent_admin" ferry_agent_connected)" = 1 ] && return 0
        sleep 0.1
    done
    echo "soak: the agent did not connect within 60 s" >&2
    return 1
}
start_agent

# Each program's fds with no load, before the driver starts and again after it ends (bounded
# wait: 30 s, for UDP flows to time out): a leak keeps descriptors after the load is gone.
fd_count() { { find "/proc/${pid[$1]}/fd" -mindepth 1 -maxdepth 1 2>/dev/null || true; } | wc -l; }
# The same without pipes: ferry-bridge keeps the splice pipes it made in a capped pool for reuse
# (max_pipes, 1024 pairs), so pipes stay after the load by design.
socket_count() {
    { find "/proc/${pid[$1]}/fd" -mindepth 1 -maxdepth 1 -printf '%l\n' 2>/dev/null || true; } |
        { grep -vc '^pipe:' || true; }
}
declare -A idle_before idle_after
for name in "${names[@]}"; do
    idle_before[$name]=$(socket_count "$name")
    ls -l "/proc/${pid[$name]}/fd" >"$work/fds-before-$name.txt" 2>&1 || true
done

start driver "$bin/ferry-bench" soak --seconds $((duration + 10)) --rate "$rate" --report 10 \
    --echo "127.0.0.1:$echo_port" --udp-echo "127.0.0.1:$udp_echo" \
    --plain "127.0.0.1:$plain" --tls "127.0.0.1:$tls" --tls-ca "$work/cert.pem" \
    --socks "127.0.0.1:$socks" \
    --connect "127.0.0.1:$gw_clients" --agent-id edge-1 --token-file "$work/client.token" \
    --restarts "$work/agent-restarts"
driver=$last_pid

# --- the watch loop ---------------------------------------------------------------------------
failures=()
reloads=0
t0=$(date +%s)
elapsed() { echo $(($(date +%s) - t0)); }
# The driver's latest report line, and one field of it.
driver_line() { grep -E '^SOAK(-FINAL)? ' "$work/driver.log" | tail -n 1 || true; }
field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }

# samples.tsv: elapsed, name, fds, RSS KiB; plus the driver's ok and failed counts.
printf 'elapsed\tname\tfds\trss_kib\n' >"$work/samples.tsv"
take_sample() {
    local t=$1 name fds rss line
    for name in "${names[@]}"; do
        fds=$(fd_count "$name")
        rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/${pid[$name]}/status" 2>/dev/null || echo 0)
        printf '%s\t%s\t%s\t%s\n' "$t" "$name" "$fds" "${rss:-0}" >>"$work/samples.tsv"
    done
    line=$(driver_line)
    printf '%s\tdriver\t%s\t%s\n' "$t" "$(field "$line" ok)" "$(field "$line" failed)" >>"$work/samples.tsv"
}

reload_all() {
    reloads=$((reloads + 1))
    local value=$((600 + reloads % 2)) name before after
    sed -i -E "s/\"[0-9]+s\" # soak-reload/\"${value}s\" # soak-reload/" "$work"/*.toml
    sed -i -E "s/connect_timeout = \"[0-9]+s\" # soak-reload/connect_timeout = \"$((5 + reloads % 2))s\" # soak-reload/" "$work/agent.toml"
    for name in "${names[@]}"; do
        before=$(metric "${admin[$name]}" 'ferry_config_reloads_total{result="ok"}')
        kill -HUP "${pid[$name]}"
        after=$before
        for _ in $(seq 1 100); do
            after=$(metric "${admin[$name]}" 'ferry_config_reloads_total{result="ok"}')
            [ "${after:-0}" -gt "${before:-0}" ] && break
            sleep 0.1
        done
        if [ "${after:-0}" -le "${before:-0}" ]; then
            failures+=("reload $reloads of $name not counted ok (ok before ${before:-none}, after ${after:-none})")
        fi
    done
    echo "soak t=$(elapsed): reload $reloads sent to ${names[*]}"
}

restart_agent() {
    # The driver tolerates tunnel failures from the kill line until 20 s after the next line.
    echo "kill $agent_starts" >>"$work/agent-restarts"
    kill -KILL "${pid[agent]}"
    wait "${pid[agent]}" 2>/dev/null || true
    if ! start_agent; then failures+=("agent restart $agent_starts did not reconnect"); fi
    echo "connected $agent_starts" >>"$work/agent-restarts"
    echo "soak t=$(elapsed): agent killed and restarted (start $agent_starts), connected again"
}

echo "soak: ${duration}s, warm-up ${warmup}s, samples every ${sample_every}s, reloads every ${reload_every}s, agent restarts every ${restart_every}s; work dir $work"
next_sample=0 next_reload=$reload_every next_restart=$restart_every
while [ "$(elapsed)" -le "$duration" ] && kill -0 "$driver" 2>/dev/null; do
    now=$(elapsed)
    if [ "$now" -ge "$next_sample" ]; then
        take_sample "$next_sample"
        echo "soak t=$now: $(driver_line)"
        next_sample=$((next_sample + sample_every))
    fi
    if [ "$now" -ge "$next_reload" ] && [ "$now" -lt "$duration" ]; then
        reload_all
        next_reload=$((next_reload + reload_every))
    fi
    if [ "$now" -ge "$next_restart" ] && [ "$((now + 30))" -lt "$duration" ]; then
        restart_agent
        next_restart=$((next_restart + restart_every))
    fi
    sleep 1
done
# The last sample, under load (the driver runs 10 s past the duration).
[ "$next_sample" -le "$((duration + sample_every - 1))" ] && take_sample "$(elapsed)"
driver_status=0
wait "$driver" || driver_status=$?
[ "$driver_status" = 0 ] || failures+=("driver exited with $driver_status: $(grep -cE ' (failed|CORRUPT):' "$work/driver.log" || true) failure lines in driver.log")

for _ in $(seq 1 300); do
    settled=1
    for name in "${names[@]}"; do
        idle_after[$name]=$(socket_count "$name")
        [ "${idle_after[$name]}" -gt $((idle_before[$name] + idle_slack)) ] && settled=0
    done
    [ "$settled" = 1 ] && break
    sleep 0.1
done
# What each program still holds after the load, for a failed idle check.
for name in "${names[@]}"; do
    ls -l "/proc/${pid[$name]}/fd" >"$work/fds-after-$name.txt" 2>&1 || true
done

# --- the table and the verdict --------------------------------------------------------------
final=$(driver_line)
echo
echo "## soak: ${duration}s, $(date -u +%F), samples every ${sample_every}s (fds / RSS MiB)"
echo
header="| elapsed (s) |"
rule="|---|"
for name in "${names[@]}"; do header+=" $name |"; rule+="---|"; done
echo "$header driver ok / failed |"
echo "$rule---|"
awk -F'\t' -v names="${names[*]}" '
    NR == 1 { next }
    {
        if (!($1 in t)) { t[$1] = 1; ts[++m] = $1 }
        v[$1, $2] = $2 == "driver" ? $3 " / " $4 : sprintf("%d / %.1f", $3, $4 / 1024)
    }
    END {
        n = split(names, ns, " ")
        for (i = 1; i <= m; i++) {
            row = "| " ts[i] " |"
            for (j = 1; j <= n; j++) row = row " " v[ts[i], ns[j]] " |"
            print row " " v[ts[i], "driver"] " |"
        }
    }' "$work/samples.tsv"

echo
echo "| program | non-pipe fds idle before / after | fds warm-up max | fds end | bound | RSS MiB end of warm-up | RSS MiB end | growth bound MiB | verdict |"
echo "|---|---|---|---|---|---|---|---|---|"
for name in "${names[@]}"; do
    read -r wmax fend rwarm rend < <(awk -F'\t' -v n="$name" -v w="$warmup" '
        NR > 1 && $2 == n {
            if ($1 <= w) { if ($3 > wmax) wmax = $3; rwarm = $4 }
            fend = $3; rend = $4
        }
        END { print wmax + 0, fend + 0, rwarm + 0, rend + 0 }' "$work/samples.tsv")
    fbound=$((wmax + (wmax / 4 > fd_slack ? wmax / 4 : fd_slack)))
    growth_bound=$((rwarm / 10 > 8192 ? rwarm / 10 : 8192))
    ok=ok
    if [ "$fend" -gt "$fbound" ]; then
        ok=FAIL
        failures+=("$name: $fend fds at the end, bound $fbound")
    fi
    if [ "${idle_after[$name]}" -gt $((idle_before[$name] + idle_slack)) ]; then
        ok=FAIL
        failures+=("$name: ${idle_after[$name]} fds after the load, ${idle_before[$name]} before it")
    fi
    if [ $((rend - rwarm)) -gt "$growth_bound" ]; then
        ok=FAIL
        failures+=("$name: RSS grew by $(((rend - rwarm) / 1024)) MiB, bound $((growth_bound / 1024)) MiB")
    fi
    awk -v n="$name" -v idle="${idle_before[$name]} / ${idle_after[$name]}" -v wmax="$wmax" -v fend="$fend" -v fb="$fbound" -v rw="$rwarm" \
        -v re="$rend" -v gb="$growth_bound" -v ok="$ok" \
        'BEGIN { printf "| %s | %s | %d | %d | %d | %.1f | %.1f | %.1f | %s |\n", n, idle, wmax, fend, fb, rw / 1024, re / 1024, gb / 1024, ok }' 
done
echo
echo "driver: $final"
echo "reloads: $reloads rounds x ${#names[@]} programs; agent starts: $agent_starts; warm-up ${warmup}s"
if [ "${#failures[@]}" -eq 0 ]; then
    verdict=0
    echo "verdict: PASS"
else
    printf 'FAIL: %s\n' "${failures[@]}"
    echo "verdict: FAIL"
fi
exit "$verdict"
