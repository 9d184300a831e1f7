#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each and prints one line per target.
#
#   scripts/fuzz.sh SECONDS [TARGET ...]
#
# - Installs cargo-fuzz (`cargo install --locked cargo-fuzz`) when it is missing.
# - Uses the nightly toolchain with AddressSanitizer when `cargo +nightly` works; otherwise
#   stable with `--sanitizer none` (the crates are safe Rust, so little is lost), and says so.
# - Fuzzes into a scratch copy of fuzz/corpus/TARGET, so the checked-in corpus is untouched
#   unless FUZZ_UPDATE_CORPUS=1: then each target's scratch corpus is minimised with
#   `cargo fuzz cmin` and replaces fuzz/corpus/TARGET (the hand-written seed-* files are kept).
# - FUZZ_JOBS=N runs N targets at once (default 1: one core). FUZZ_NICE=N runs the fuzzers
#   under `nice -n N` (default 0), so builds on the same machine keep their cores.
# - A crash, leak, timeout or out-of-memory finding leaves its input in
#   fuzz/artifacts/TARGET/; the script then exits 1. Add such an input to the target's corpus
#   as a regression seed (`seed-<what>`) once it is fixed.
# - FUZZ_DEV=1 builds the targets in the debug profile (quicker to build, slower to run; CI's
#   smoke run uses it).
# - FUZZ_LOG_DIR=DIR keeps each target's libFuzzer log there (default: a temp dir, removed).
#
# Output: `target seconds runs exec/s corpus-files findings`, then `N passed, N failed`.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds=${1:?usage: scripts/fuzz.sh SECONDS [TARGET ...]}
shift
case $seconds in *[!0-9]* | '') echo "SECONDS must be a whole number, got '$seconds'" >&2; exit 64 ;; esac
jobs=${FUZZ_JOBS:-1}
nice_level=${FUZZ_NICE:-0}

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install --locked -q cargo-fuzz
fi
if cargo +nightly --version >/dev/null 2>&1; then
    toolchain=(+nightly)
    sanitizer=()
    echo "toolchain: $(cargo +nightly --version) with AddressSanitizer" >&2
else
    toolchain=()
    sanitizer=(--sanitizer none)
    echo "no nightly toolchain: stable without a sanitizer" >&2
fi

# Release builds with debug assertions, so an integer overflow is a finding too.
# FUZZ_DEV=1: a debug build instead (much quicker to build, slower to run: for a smoke run).
if [ "${FUZZ_DEV:-0}" = 1 ]; then
    flags=(--dev "${sanitizer[@]}")
else
    flags=(-O --debug-assertions "${sanitizer[@]}")
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo "${toolchain[@]}" fuzz list)
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
logs=${FUZZ_LOG_DIR:-$work/logs}
mkdir -p "$logs"

echo "building ${#targets[@]} targets" >&2
cargo "${toolchain[@]}" fuzz build "${flags[@]}"

# Runs one target and writes its summary line to $work/TARGET.line.
run_one() {
    local target=$1 corpus=$work/corpus/$1 log=$logs/$1.log
    mkdir -p "$corpus" "artifacts/$target"
    if [ -d "corpus/$target" ]; then
        cp -r "corpus/$target/." "$corpus/"
    fi
    local before status=0
    before=$(find "artifacts/$target" -type f | wc -l)
    nice -n "$nice_level" cargo "${toolchain[@]}" fuzz run "${flags[@]}" "$target" "$corpus" -- \
        -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 \
        >"$log" 2>&1 || status=$?
    local runs rate files findings
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    files=$(find "$corpus" -type f | wc -l)
    findings=$(($(find "artifacts/$target" -type f | wc -l) - before))
    if [ "$status" -ne 0 ] && [ "$findings" -eq 0 ]; then
        findings="error(exit $status, see $log)"
    fi
    if [ "${FUZZ_UPDATE_CORPUS:-0}" = 1 ] && [ "$findings" = 0 ]; then
        local min=$work/min/$target
        mkdir -p "$min"
        cp -r "$corpus/." "$min/"
        cargo "${toolchain[@]}" fuzz cmin "${flags[@]}" "$target" "$min" >>"$log" 2>&1
        mkdir -p "corpus/$target"
        find "corpus/$target" -type f ! -name 'seed-*' -delete
        find "$min" -type f ! -name 'seed-*' -exec cp {} "corpus/$target/" \;
        files="$(find "corpus/$target" -type f | wc -l) (minimised)"
    fi
    printf '%-24s %6s %12s %8s %16s %s\n' "$target" "$seconds" "${runs:-?}" "${rate:-?}" \
        "$files" "$findings" >"$work/$target.line"
}

running=0
for target in "${targets[@]}"; do
    run_one "$target" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait

printf '%-24s %6s %12s %8s %16s %s\n' target seconds runs exec/s corpus-files findings
passed=0
failed=0
for target in "${targets[@]}"; do
    line=$(cat "$work/$target.line" 2>/dev/null || echo "$target (no result)")
    echo "$line"
    if [ "$(awk '{print $NF}' <<<"$line")" = 0 ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
