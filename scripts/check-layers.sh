#!/usr/bin/env bash
# Fails when a pure (L0) crate pulls tokio into its normal dependency tree (docs/architecture.md).
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for crate in ferry-base ferry-allow ferry-limit ferry-front ferry-chain ferry-auth; do
    if [ -d "crates/$crate" ] && cargo tree --locked -p "$crate" -e normal --prefix none 2>/dev/null | grep -Eq '^tokio(-[a-z]+)? '; then
        echo "layering: $crate (L0) depends on tokio" >&2
        status=1
    fi
done
[ "$status" -eq 0 ] && echo "layering: L0 crates are free of tokio"
exit "$status"
