#!/usr/bin/env bash
# Run every cargo-fuzz target for SECONDS seconds each (docs/FUZZING.md).
#
#   scripts/fuzz.sh 60              # CI: one minute per target
#   scripts/fuzz.sh 3600            # by hand, before a release
#   scripts/fuzz.sh 600 sigv4 ...   # only these targets
#
# Builds all targets once (cargo fuzz's default: release, debug assertions
# and overflow checks on, AddressSanitizer), then runs them, as many at
# once as there are CPUs, each on its corpus fuzz/corpus/<target> (seeded
# from the committed fuzz/seeds/<target>), with fuzz/dicts/<target>.dict
# when there is one.
# Exits non-zero if any target finds a crash, a leak, a timeout or an
# out-of-memory input, and prints where libFuzzer wrote it.
set -euo pipefail

usage() {
    echo "usage: $0 SECONDS [TARGET...]" >&2
    exit 2
}
[[ $# -ge 1 && $1 =~ ^[0-9]+$ && $1 -gt 0 ]] || usage
seconds=$1
shift

root=$(cd "$(dirname "$0")/.." && pwd)
fuzz=$root/fuzz
cd "$fuzz"

# cargo-fuzz passes nightly-only flags (-Zsanitizer and friends); the
# stable toolchain accepts them with RUSTC_BOOTSTRAP=1.
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

mapfile -t all < <(cargo fuzz list)
[[ ${#all[@]} -gt 0 ]] || { echo "no fuzz targets in fuzz/Cargo.toml" >&2; exit 1; }
# A target file without its [[bin]] entry would silently never run.
for f in fuzz_targets/*.rs; do
    t=$(basename "$f" .rs)
    if ! printf '%s\n' "${all[@]}" | grep -qx "$t"; then
        echo "fuzz/$f has no [[bin]] entry in fuzz/Cargo.toml" >&2
        exit 1
    fi
done
if [[ $# -gt 0 ]]; then
    for t in "$@"; do
        printf '%s\n' "${all[@]}" | grep -qx "$t" || { echo "no fuzz target '$t' (have: ${all[*]})" >&2; exit 2; }
    done
    targets=("$@")
else
    targets=("${all[@]}")
fi

start=$(date +%s)
echo "== building ${#all[@]} targets"
cargo fuzz build
echo "== built in $(( $(date +%s) - start )) s"

logs=$fuzz/target/fuzz-logs
mkdir -p "$logs"

# One target for `seconds`: its log in $logs/<target>.log, what it found in
# $logs/<target>.summary (starting with "!!" when it found a problem).
run_target() {
    local t=$1 corpus=$fuzz/corpus/$1 log=$logs/$1.log out=$logs/$1.summary t0 artifact
    local args=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1)
    [[ -f $fuzz/dicts/$t.dict ]] && args+=(-dict="$fuzz/dicts/$t.dict")
    t0=$(date +%s)
    if cargo fuzz run "$t" "$corpus" -- "${args[@]}" >"$log" 2>&1; then
        {
            # The last status line: "#N DONE cov: C ft: F corp: ..." and the run count.
            grep -E '^#[0-9]+' "$log" | tail -1 || true
            grep -E '^Done [0-9]+ runs' "$log" || true
            echo "   ok ($(( $(date +%s) - t0 )) s)"
        } >"$out"
        return
    fi
    {
        echo "!! $t FAILED after $(( $(date +%s) - t0 )) s; the end of $log:"
        tail -40 "$log"
        grep -E '^#[0-9]+' "$log" | tail -1 || true
        artifact=$(grep -oE '(Test unit|artifact) written to [^ ]+' "$log" | awk '{print $NF}' | tail -1 || true)
        echo "!! $t: artifact: ${artifact:-none written (see $log)}"
        [[ -n $artifact ]] && echo "!! reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run $t $artifact  (in fuzz/)"
    } >"$out"
}

# As many targets at once as there are CPUs (FUZZ_JOBS to change it): each
# libFuzzer process is single-threaded, so every target still gets a whole
# core for its `seconds`, and the run takes 1/CPUs of the time.
parallel=${FUZZ_JOBS:-$(nproc)}
for t in "${targets[@]}"; do
    corpus=$fuzz/corpus/$t
    mkdir -p "$corpus" "$fuzz/artifacts/$t"
    if [[ -d $fuzz/seeds/$t ]]; then
        cp -n "$fuzz/seeds/$t"/* "$corpus"/ 2>/dev/null || true
    fi
    rm -f "$logs/$t.summary"
    while [[ $(jobs -rp | wc -l) -ge $parallel ]]; do
        wait -n || true
    done
    echo "== $t: ${seconds} s, corpus $(find "$corpus" -type f | wc -l) inputs, log $logs/$t.log"
    run_target "$t" &
done
wait || true
failed=()
for t in "${targets[@]}"; do
    echo "== $t"
    if [[ ! -f $logs/$t.summary ]]; then
        echo "!! $t: no result (the run was killed? see $logs/$t.log)"
        failed+=("$t")
        continue
    fi
    cat "$logs/$t.summary"
    grep -q '^!! ' "$logs/$t.summary" && failed+=("$t")
done

echo "== total $(( $(date +%s) - start )) s"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzzing found problems in: ${failed[*]}" >&2
    exit 1
fi
echo "fuzzing: ${#targets[@]} targets, no crash"
