#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs what the tests need, then runs
# `cargo test` over the whole workspace (unit, integration, property and doc tests, and the fuzz
# harnesses as property tests). Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

# System tools the tests call: sh and ulimit (the CLI tests), openssl (the proxy's TLS tests
# run `openssl s_client` to check session reuse through ferry-proxy), memcached (the registry
# tests start a real server) and curl (the gateway front's and the hop's tests run real curl
# clients through them: `curl -x`, `curl --socks5-hostname`). Each tool's Debian package has the
# same name.
need=()
for tool in sh openssl memcached curl haproxy; do
    command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
# Real egress proxies for ferry-egress's tests (crates/ferry-egress/tests/egress/real.rs):
# tinyproxy (HTTP CONNECT with Basic auth), Dante's danted (SOCKS5, package dante-server) and
# microsocks (SOCKS5 with username/password). TOOL:PACKAGE where the names differ.
for pair in tinyproxy:tinyproxy danted:dante-server microsocks:microsocks; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
# A third-party SOCKS5 client for the interop tests: PySocks (Debian's python3-socks, for
# Debian's /usr/bin/python3).
if ! /usr/bin/python3 -c 'import socks' >/dev/null 2>&1; then
    need+=(python3-socks)
fi
# The install tests (crates/ferry-cli/tests/install_cli.rs) check the installed systemd units
# with `systemd-analyze verify` (package systemd), render the man pages with man (man-db) and
# load the completions into bash. TOOL:PACKAGE where the names differ.
for pair in systemd-analyze:systemd man:man-db bash:bash; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if [ "${#need[@]}" -gt 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${need[@]}"
fi

cargo test --workspace --all-features --locked "$@"
