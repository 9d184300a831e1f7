#!/usr/bin/env bash
# Ferry's three jobs on loopback, in one command, with safe defaults:
#
#   1. ferry-proxy terminates TLS in front of two HTTP upstreams; curl goes through it twice
#      (round robin) and /metrics is scraped;
#   2. a two-hop ferry-hop chain (client -> hop 1 -> hop 2 -> destination), used through SOCKS5
#      by curl, then probed hop by hop with `ferry-hop trace`;
#   3. ferry-gateway and ferry-agent with generated credentials and certificate; curl reaches
#      the agent's side with `curl -x` (HTTP CONNECT with the client token).
#
# It says what it does as it goes, ends with a summary, and stops everything it started (each
# program drains on SIGTERM). Every port is FERRY_DEMO_PORT (default 7070) plus an offset from
# 0 to 11, so one demo never collides with itself; pick another base to run two at once.
# FERRY_DEMO_BIN=DIR uses already-built binaries instead of building them in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."

base="${FERRY_DEMO_PORT:-7070}"
port() { echo $((base + $1)); }
up_a=$(port 0) up_b=$(port 1) proxy=$(port 2) proxy_admin=$(port 3)
hop1=$(port 4) hop2=$(port 5) socks=$(port 6)
gw_agents=$(port 7) gw_clients=$(port 8) gw_admin=$(port 9) agent_admin=$(port 10)

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
step() { printf '   %s\n' "$*"; }

# The demo's tools: curl (the client), python3 (the HTTP upstreams), openssl (random hop
# keys). A fresh Debian machine may lack some; install them as the tests do.
need=()
for tool in curl python3 openssl; do
    command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
if [ "${#need[@]}" -gt 0 ]; then
    say "installing ${need[*]}"
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ -n "${FERRY_DEMO_BIN:-}" ]; then
    bin="$FERRY_DEMO_BIN"
else
    say "building the four programs (release)"
    cargo build --release --locked -q -p ferry-cli
    bin=target/release
fi

# start, stop_all, wait_port, make_hop_keys.
# shellcheck source=scripts/lib/run.sh
. scripts/lib/run.sh

work=$(mktemp -d)
pids=()
cleanup() {
    stop_all
    rm -rf "$work"
}
trap cleanup EXIT

# Two HTTP upstreams, each serving a file that names it.
for u in a b; do
    mkdir -p "$work/www-$u"
    echo "hello from upstream $u" >"$work/www-$u/who.txt"
done
start upstream-a python3 -m http.server --bind 127.0.0.1 --directory "$work/www-a" "$up_a"
start upstream-b python3 -m http.server --bind 127.0.0.1 --directory "$work/www-b" "$up_b"
wait_port "$up_a"
wait_port "$up_b"

# --- 1. reverse proxy ------------------------------------------------------------------------
say "1/3 reverse proxy: ferry-proxy terminates TLS on 127.0.0.1:$proxy for two upstreams"
start proxy "$bin/ferry-proxy" --listen "127.0.0.1:$proxy" --tls-self-signed \
    --upstream "127.0.0.1:$up_a" --upstream "127.0.0.1:$up_b" --metrics "127.0.0.1:$proxy_admin"
# Wait (bounded: 10 s) for the TLS listener with a real TLS client (a bare TCP probe would be
# counted as a failed handshake).
for _ in $(seq 1 100); do
    if curl -sk -o /dev/null --max-time 2 "https://127.0.0.1:$proxy/"; then break; fi
    sleep 0.1
done
step "ferry-proxy --listen 127.0.0.1:$proxy --tls-self-signed --upstream :$up_a --upstream :$up_b"
proxy_replies=()
for i in 1 2; do
    # -k: the demo's certificate is self-signed (development only).
    reply=$(curl -sk --max-time 10 "https://127.0.0.1:$proxy/who.txt")
    proxy_replies+=("$reply")
    step "curl https://127.0.0.1:$proxy/who.txt  ->  $reply"
done
wait_port "$proxy_admin"
metrics=$(curl -s --max-time 10 "http://127.0.0.1:$proxy_admin/metrics")
handshakes=$(grep -c '^ferry_proxy_tls_handshakes_total' <<<"$metrics" || true)
step "scraped http://127.0.0.1:$proxy_admin/metrics:"
grep -E '^ferry_proxy_(connections_total|tls_handshakes_total)' <<<"$metrics" | sed 's/^/      /'

# --- 2. forward chain ------------------------------------------------------------------------
say "2/3 forward chain: SOCKS5 on 127.0.0.1:$socks -> hop 1 (:$hop1) -> hop 2 (:$hop2) -> upstream a"
# Each hop shares a random 32-byte key with the client; keys live in files, never on the
# command line.
make_hop_keys "$work" 2
# Each hop may reach only its next address (secure default: without --allow, nothing).
start hop1 "$bin/ferry-hop" serve --listen "127.0.0.1:$hop1" --key-file "$work/hop1.keys" \
    --allow "127.0.0.1:$hop2"
start hop2 "$bin/ferry-hop" serve --listen "127.0.0.1:$hop2" --key-file "$work/hop2.keys" \
    --allow "127.0.0.1:$up_a"
cat >"$work/access.toml" <<EOF
[keys]
file = "$work/client.keys"

[[chain]]
name = "demo"
hops = [{ address = "127.0.0.1:$hop1", key_id = 1 },
        { address = "127.0.0.1:$hop2", key_id = 2 }]

[[listener]]
mode = "socks5"
bind = "127.0.0.1:$socks"
EOF
start access "$bin/ferry-hop" access --config "$work/access.toml"
wait_port "$hop1"
wait_port "$hop2"
wait_port "$socks"
chain_reply=$(curl -s --max-time 10 --socks5-hostname "127.0.0.1:$socks" "http://127.0.0.1:$up_a/who.txt")
step "curl --socks5-hostname 127.0.0.1:$socks http://127.0.0.1:$up_a/who.txt  ->  $chain_reply"
step "ferry-hop trace --config access.toml --destination 127.0.0.1:$up_a:"
"$bin/ferry-hop" trace --config "$work/access.toml" --destination "127.0.0.1:$up_a" --log warn \
    | sed 's/^/      /'

# --- 3. reverse tunnel -----------------------------------------------------------------------
say "3/3 reverse tunnel: ferry-gateway (:$gw_clients for clients, :$gw_agents QUIC for agents) + ferry-agent 'edge-1'"
# A private CA (agents trust ca.pem) and the gateway's certificate for localhost and
# 127.0.0.1, valid one day.
"$bin/ferry-gateway" cert --name localhost --ip 127.0.0.1 --days 1 --out-dir "$work/pki" >/dev/null
step "ferry-gateway cert --name localhost --ip 127.0.0.1 --days 1 --out-dir pki"
# Credentials: the token file keeps only hashes; each token is printed once.
"$bin/ferry-gateway" token new --role agent --agent-id edge-1 --token-file "$work/tokens" >"$work/edge-1.token"
client_token=$("$bin/ferry-gateway" token new --role client --agent-id edge-1 --token-file "$work/tokens")
step "ferry-gateway token new --role agent|client --agent-id edge-1 --token-file tokens"
# Both the gateway and the agent must allow a destination (deny by default).
start gateway "$bin/ferry-gateway" --agent-listen "127.0.0.1:$gw_agents" --listen "127.0.0.1:$gw_clients" \
    --tls-cert "$work/pki/gateway.pem" --tls-key "$work/pki/gateway.key" --token-file "$work/tokens" \
    --allow "127.0.0.1:$up_b" --metrics "127.0.0.1:$gw_admin"
wait_port "$gw_clients"
start agent "$bin/ferry-agent" --gateway "127.0.0.1:$gw_agents" --server-name localhost \
    --tls-ca "$work/pki/ca.pem" --agent-id edge-1 --token-file "$work/edge-1.token" \
    --allow "127.0.0.1:$up_b" --metrics "127.0.0.1:$agent_admin"
wait_port "$agent_admin"
# Wait (bounded: 10 s) until the agent holds its connection to the gateway.
for _ in $(seq 1 100); do
    if curl -s "http://127.0.0.1:$agent_admin/metrics" | grep -q '^ferry_agent_connected 1'; then break; fi
    sleep 0.1
done
step "agent connected: $(curl -s "http://127.0.0.1:$agent_admin/metrics" | grep '^ferry_agent_connected')"
# -p: CONNECT even for http:// URLs; username = agent id, password = client token.
tunnel_reply=$(curl -s --max-time 10 -p -x "http://edge-1:$client_token@127.0.0.1:$gw_clients" \
    "http://127.0.0.1:$up_b/who.txt")
step "curl -p -x http://edge-1:TOKEN@127.0.0.1:$gw_clients http://127.0.0.1:$up_b/who.txt  ->  $tunnel_reply"
denied=$(curl -s -o /dev/null --max-time 10 -p -x "http://edge-1:$client_token@127.0.0.1:$gw_clients" \
    -w '%{http_connect}' "http://127.0.0.1:$up_a/who.txt" || true)
step "a destination no rule allows (127.0.0.1:$up_a) is refused: CONNECT status $denied"

# --- summary ---------------------------------------------------------------------------------
say "stopping (every program drains on SIGTERM)"
stop_all

ok=0 fail=0
check() {
    if [ "$2" = "$3" ]; then
        printf '   ok    %s\n' "$1"
        ok=$((ok + 1))
    else
        printf '   FAIL  %s: got %q, wanted %q\n' "$1" "$2" "$3"
        fail=$((fail + 1))
    fi
}
say "summary"
both=$(printf '%s\n' "${proxy_replies[@]}" | sort | tr '\n' '|')
check "proxy: TLS, round robin over both upstreams" "$both" "hello from upstream a|hello from upstream b|"
check "proxy: TLS handshakes counted in /metrics" "$((handshakes > 0))" "1"
check "chain: SOCKS5 through two hops" "$chain_reply" "hello from upstream a"
check "tunnel: curl -x through gateway and agent" "$tunnel_reply" "hello from upstream b"
check "tunnel: destination outside the allowlist refused" "$denied" "403"
echo "   demo: $ok of $((ok + fail)) checks ok"
[ "$fail" -eq 0 ]
