#!/usr/bin/env bash
# The benchmark: kms against moto_server, side by side, on this machine.
# See docs/PERFORMANCE.md for the method and the figures.
#
#   scripts/bench.sh                   # every operation, 3 runs of 5 s each after 2 s warm-up
#   scripts/bench.sh --repeat 1        # one run per operation
#   scripts/bench.sh --scale           # also the 100,000-key scale run
#   scripts/bench.sh --scale-only --keys 1000000 --accounts 100   # only the scale run, 1,000,000 keys in 100 accounts
#   scripts/bench.sh --overload        # also the overload run (10x the connections, 30 s)
#   scripts/bench.sh --overload-only   # only the overload run
#   scripts/bench.sh --hsm-only        # only the HSM key store run (SoftHSM2)
#   scripts/bench.sh --xks-only        # only the external key store run (kms xks-proxy)
#   scripts/bench.sh --generators      # health, Encrypt, Decrypt, GenerateDataKey with all three
#                                      # load generators (signing, --replay, wrk) side by side
#   scripts/bench.sh --sign-only       # Sign against raw aws-lc-rs (crypto-baseline) and Encrypt
#   scripts/bench.sh --stall-only      # one 60-second Encrypt run: p99.9, max, per-second timeline
#
# Options:
#   --duration S          measured seconds per run (5)
#   --repeat N            runs per operation; the median run is reported (3)
#   --warmup S            warm-up seconds before each run (2)
#   --connections N       kms connections (64)
#   --moto-connections N  moto connections (8: moto serves ~300-400 req/s
#                         whatever the concurrency, more only adds queueing)
#   --ops a,b,c           kms operations (every default one, health included;
#                         the replay and wrk runs: health,encrypt-32,decrypt,generate-data-key)
#   --replay              also a load run on the same server with `kms-bench
#                         --replay`: each connection signs a pool of requests
#                         once and sends them as raw bytes (almost no generator
#                         cost per request)
#   --replay-only         only the replay run (no signing run, no moto)
#   --wrk                 also the same operations measured with wrk and one
#                         pre-signed request (`kms-bench wrk-script`); wrk is
#                         Debian's package `wrk`, installed with apt-get if missing
#   --wrk-only            only the wrk run
#   --generators          only the generators side by side: the replay and wrk
#                         operations with the signing generator, --replay and
#                         wrk, on one server (no moto)
#   --crypto-baseline     also `kms-bench crypto-baseline`: what aws-lc-rs signs
#                         per second on every CPU outside the server (RSA-2048,
#                         P-256), for the Sign targets
#   --sign-only           only the Sign comparison: crypto-baseline, then
#                         encrypt-32, sign-p256 and sign-rsa2048 with the
#                         signing generator and with --replay, on one server
#   --stall-only          only the stall run: encrypt-32 for 60 s (--duration),
#                         one run, the signing generator; the per-second
#                         timeline, the slowest requests with their times, the
#                         audit fsync histogram, vmstat, the server's page faults,
#                         the audit files and the writer's slow batches
#   --no-moto             skip moto (no Python venv needed)
#   --scale               also run the scale run
#   --rotation-pass       also the background job's pass: KEYS keys with
#                         rotation enabled on a --dev server, the clock moved
#                         past their rotation date, Encrypt measured meanwhile
#   --scale-only          only the scale run (no load run, no moto)
#   --keys K              keys in the scale run (100000)
#   --accounts N          spread the scale run's keys over N accounts, a user
#                         made in each through the operator API (0: the
#                         bootstrap admin's account only; the default)
#   --scale-concurrency C CreateKey connections in the scale run (64)
#   --overload            also the overload run: encrypt-32 at --connections
#                         (baseline), then 10x as many for 30 s, then again at
#                         --connections, on a server of its own
#   --overload-only       only the overload run (no load run, no moto)
#   --hsm                 also the HSM run: encrypt-32, decrypt and
#                         generate-data-key with keys in a custom key store
#                         on a SoftHSM2 token, then the same with software
#                         keys on the same server (docs/HSM.md)
#   --hsm-only            only the HSM run
#   --xks                 also the XKS run: kms xks-proxy alone (Encrypt and
#                         Decrypt through the KMS side's client, HTTPS), then
#                         encrypt-32, decrypt and generate-data-key with keys in
#                         an external key store on it and with software keys,
#                         at 1 connection and at --connections (docs/XKS.md)
#   --xks-only            only the XKS run
#   --overload-connections N  connections of the overload run (10x --connections)
#   --overload-duration S seconds of the overload run (30)
#   --max-in-flight N     the overload run's server max_in_flight (its default)
#   --throttle-pause S    mean seconds a throttled connection waits before it
#                         sends again, jittered over [0, 2S] (0.1; 0: at once)
#   --log-level L         KMS_LOG for the server (unset: the server's default, info)
#   --profile             also profile the server under encrypt-32 with perf
#                         (cpu-clock, DWARF call graphs) into profile.txt
#   --out DIR             results directory (target/bench/<timestamp>)
#
# Environment: BENCH_COMMIT names the source in the report when the tree is
# not a git checkout.
#
# Everything started here (servers in their own process groups) is stopped
# on exit, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DURATION=5 REPEAT=3 WARMUP=2 CONNECTIONS=64 MOTO_CONNECTIONS=8 OPS="" MOTO=1
SCALE=0 ROTATION_PASS=0 KEYS=100000 ACCOUNTS=0 SCALE_CONCURRENCY=64 LOG_LEVEL="" OUT="" PROFILE=0
HSM=0 XKS=0 OVERLOAD=0 LOAD=1 OVERLOAD_CONNECTIONS=""
REPLAY=0 WRK=0 CRYPTO=0 SIGN=0 STALL=0 DURATION_SET=0 GEN_SIGNING=0 OVERLOAD_DURATION=30 MAX_IN_FLIGHT="" THROTTLE_PAUSE=0.1
while [ $# -gt 0 ]; do
  case $1 in
    --duration) DURATION=$2; DURATION_SET=1; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --moto-connections) MOTO_CONNECTIONS=$2; shift 2 ;;
    --ops) OPS=$2; shift 2 ;;
    --no-moto) MOTO=0; shift ;;
    --replay) REPLAY=1; shift ;;
    --replay-only) REPLAY=1; LOAD=0; MOTO=0; shift ;;
    --wrk) WRK=1; shift ;;
    --wrk-only) WRK=1; LOAD=0; MOTO=0; shift ;;
    --generators) GEN_SIGNING=1; REPLAY=1; WRK=1; LOAD=0; MOTO=0; shift ;;
    --crypto-baseline) CRYPTO=1; shift ;;
    --sign-only) SIGN=1; CRYPTO=1; LOAD=0; MOTO=0; shift ;;
    --stall-only) STALL=1; LOAD=0; MOTO=0; shift ;;
    --scale) SCALE=1; shift ;;
    --scale-only) SCALE=1; LOAD=0; MOTO=0; shift ;;
    --accounts) ACCOUNTS=$2; shift 2 ;;
    --rotation-pass) ROTATION_PASS=1; shift ;;
    --overload) OVERLOAD=1; shift ;;
    --overload-only) OVERLOAD=1; LOAD=0; MOTO=0; shift ;;
    --hsm) HSM=1; shift ;;
    --hsm-only) HSM=1; LOAD=0; MOTO=0; shift ;;
    --xks) XKS=1; shift ;;
    --xks-only) XKS=1; LOAD=0; MOTO=0; shift ;;
    --overload-connections) OVERLOAD_CONNECTIONS=$2; shift 2 ;;
    --overload-duration) OVERLOAD_DURATION=$2; shift 2 ;;
    --max-in-flight) MAX_IN_FLIGHT=$2; shift 2 ;;
    --throttle-pause) THROTTLE_PAUSE=$2; shift 2 ;;
    --keys) KEYS=$2; shift 2 ;;
    --scale-concurrency) SCALE_CONCURRENCY=$2; shift 2 ;;
    --log-level) LOG_LEVEL=$2; shift 2 ;;
    --profile) PROFILE=1; shift ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,/^# on exit/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

OUT=${OUT:-target/bench/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kms-bench.XXXXXX")
PGIDS=()
PIDS=()

# Stop every process group we started: TERM, then KILL after 10 s.
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pg in "${PGIDS[@]}"; do
    kill -TERM -- "-$pg" 2>/dev/null || true
  done
  for pg in "${PGIDS[@]}"; do
    for _ in $(seq 100); do
      kill -0 -- "-$pg" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$pg" 2>/dev/null || true
  done
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run CMD...: in the background, then wait for it, so that TERM or INT
# reaches the trap at once rather than when CMD ends.
run() {
  "$@" &
  PIDS+=("$!")
  wait "$!"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start NAME LOGFILE CMD...: run CMD in its own session (process group =
# its pid) and set STARTED_PID. A non-leader child makes setsid exec in place.
start() {
  local name=$1 log=$2
  shift 2
  setsid "$@" >"$log" 2>&1 &
  STARTED_PID=$!
  PGIDS+=("$STARTED_PID")
  echo "bench: started $name (pid $STARTED_PID)" >&2
}

# stop PID: TERM its group and wait for it.
stop() {
  local pid=$1
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
}

# http_ok PORT PATH: one HTTP/1.0 GET with bash builtins; true on a 200.
http_ok() {
  local line
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
  IFS= read -r -t 2 line <&3 || line=""
  exec 3<&- 3>&-
  [[ $line == *" 200"* ]]
}

# wait_http PID PORT PATH SECONDS: wait until the server answers 200.
wait_http() {
  local pid=$1 port=$2 path=$3 deadline=$((SECONDS + $4))
  until http_ok "$port" "$path"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "bench: the server (pid $pid) exited before answering" >&2
      return 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "bench: no answer on 127.0.0.1:$port$path after $4 s" >&2
      return 1
    fi
    sleep 0.005
  done
}

# fetch PORT PATH: GET http://127.0.0.1:PORT/PATH to stdout.
fetch() {
  python3 -c 'import sys, urllib.request as u; sys.stdout.write(u.urlopen(f"http://127.0.0.1:{sys.argv[1]}{sys.argv[2]}", timeout=10).read().decode())' "$1" "$2"
}

# status_kb PID FIELD: a field of /proc/PID/status (VmRSS, VmHWM) in kB.
status_kb() {
  awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# start_kms DATA_DIR PORT LOG [ARG...]: start the release server with
# `serve --data-dir DATA_DIR --listen 127.0.0.1:PORT ARG...`; sets KMS_PID.
start_kms() {
  local env=() dir=$1 port=$2 log=$3
  shift 3
  [ -n "$LOG_LEVEL" ] && env=(env "KMS_LOG=$LOG_LEVEL")
  start kms "$log" "${env[@]}" "$ROOT/target/release/kms" serve --data-dir "$dir" --listen "127.0.0.1:$port" "$@"
  KMS_PID=$STARTED_PID
}

machine() {
  echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"
}

echo "bench: building release binaries" >&2
run cargo build --release --quiet -p kms -p kms-bench
[ "$XKS" = 1 ] && run cargo build --release --quiet -p kms-xks --example xks_load
BENCH=$ROOT/target/release/kms-bench
# BENCH_COMMIT names the source when it is not a git checkout (an export).
COMMIT=${BENCH_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
if [ -z "${BENCH_COMMIT:-}" ] && ! git diff --quiet HEAD -- crates ':!crates/kms-bench' 2>/dev/null; then
  COMMIT="$COMMIT+uncommitted"
fi
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $COMMIT"
  machine
  if [ "$LOAD" = 1 ]; then
    echo "kms: $CONNECTIONS connections; moto: $MOTO_CONNECTIONS connections; $REPEAT run(s) of ${WARMUP} s warm-up + ${DURATION} s per operation (median run reported)"
  fi
  if [ "$OVERLOAD" = 1 ]; then
    echo "overload: encrypt-32 at $CONNECTIONS connections, then ${OVERLOAD_CONNECTIONS:-$((10 * CONNECTIONS))} for $OVERLOAD_DURATION s, then $CONNECTIONS again; throttled connections back off $THROTTLE_PAUSE s on average"
  fi
} | tee "$OUT/info.txt"
if awk '{ exit !($1 > 0.5) }' /proc/loadavg; then
  echo "bench: warning: load average $(cut -d' ' -f1 /proc/loadavg) before the run: something else is using the CPUs, and the figures will show it" >&2
fi

# ---------------------------------------------------------------- kms
if [ "$LOAD" = 1 ]; then
  KMS_PORT=$(free_port)
  start_kms "$WORK/kms-data" "$KMS_PORT" "$WORK/kms.log"
  wait_http "$KMS_PID" "$KMS_PORT" /health 30
  OPS_ARGS=()
  [ -n "$OPS" ] && OPS_ARGS=(--ops "$OPS")
  run "$BENCH" --endpoint "http://127.0.0.1:$KMS_PORT" --credentials-file "$WORK/kms-data/credentials" \
    --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" --repeat "$REPEAT" \
    --server-pid "$KMS_PID" --label kms --json "$OUT/kms.json" "${OPS_ARGS[@]}" >"$OUT/kms.txt"
  cat "$OUT/kms.txt"
  echo "kms server after the load run: VmRSS $(status_kb "$KMS_PID" VmRSS) kB, VmHWM $(status_kb "$KMS_PID" VmHWM) kB" | tee -a "$OUT/kms.txt"
  fetch "$KMS_PORT" /metrics >"$OUT/kms-metrics.txt" || echo "bench: no /metrics from the server" >&2
  if [ "$PROFILE" = 1 ]; then
    if command -v perf >/dev/null; then
      # A separate encrypt-32 run (perf slows the server down); perf samples
      # the server for up to 5 s of its measured window.
      "$BENCH" --endpoint "http://127.0.0.1:$KMS_PORT" --credentials-file "$WORK/kms-data/credentials" \
        --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" --ops encrypt-32 \
        --server-pid "$KMS_PID" --label kms-profiled --json "$OUT/profile-run.json" >"$OUT/profile-run.txt" 2>&1 &
      PROFILED=$!
      PIDS+=("$PROFILED")
      sleep "$(python3 -c "print($WARMUP + 0.5)")"
      PERF_OK=1
      run perf record -q -F 999 -e cpu-clock --call-graph dwarf,16384 -p "$KMS_PID" -o "$WORK/perf.data" \
        -- sleep "$(python3 -c "print(max(1, min(5, $DURATION - 1)))")" 2>"$WORK/perf.err" || PERF_OK=0
      wait "$PROFILED"
      if [ "$PERF_OK" = 1 ]; then
        US=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["server_cpu_us_per_request"] or "")' "$OUT/profile-run.json")
        perf script -i "$WORK/perf.data" -F comm,tid,ip,sym 2>/dev/null |
          python3 scripts/bench_profile.py ${US:+--us-per-request "$US"} >"$OUT/profile.txt"
        sed -n '1,20p' "$OUT/profile.txt"
      else
        echo "bench: --profile: perf record failed: $(head -n 3 "$WORK/perf.err")" >&2
      fi
    else
      echo "bench: --profile: perf is not installed; skipped" >&2
    fi
  fi
  stop "$KMS_PID"
  tail -n 50 "$WORK/kms.log" >"$OUT/kms-server.log.tail"
fi

# ---------------------------------------------------------------- crypto baseline
COMPARE=()
[ "$LOAD" = 1 ] && COMPARE=(--kms "$OUT/kms.json" --kms-metrics "$OUT/kms-metrics.txt")
if [ "$CRYPTO" = 1 ]; then
  run "$BENCH" crypto-baseline --duration "$DURATION" --json "$OUT/crypto.json" >"$OUT/crypto.txt"
  cat "$OUT/crypto.txt"
  COMPARE+=(--crypto "$OUT/crypto.json")
fi

# cpu_ticks PID: user + system CPU of PID in clock ticks (1/100 s).
cpu_ticks() {
  awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# ensure_wrk: wrk (Debian's package) for --wrk, installed if missing.
ensure_wrk() {
  command -v wrk >/dev/null && return 0
  echo "bench: --wrk needs wrk (Debian package 'wrk'); installing it with apt-get" >&2
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get install -y -q wrk >/dev/null 2>&1 ||
    { "${sudo[@]}" apt-get update -q >/dev/null && "${sudo[@]}" apt-get install -y -q wrk >/dev/null; } ||
    { echo "bench: cannot install wrk; install it (apt-get install wrk) or leave out --wrk" >&2; return 1; }
}

# wrk_runs PORT CREDENTIALS OPS: each operation with wrk and a request
# signed once by `kms-bench wrk-script` (a fresh script per run: the
# signature is valid for 15 minutes), a warm-up, then REPEAT runs; the
# server's CPU from /proc, wrk's from `time`. Writes $OUT/wrk.json.
wrk_runs() {
  local port=$1 creds=$2 op r s0 s1 secs warm
  secs=$(printf '%.0f' "$DURATION")
  warm=$(printf '%.0f' "$WARMUP")
  : >"$WORK/wrk-runs.jsonl"
  for op in ${3//,/ }; do
    echo "kms-wrk: $op: $CONNECTIONS connections, $warm s warm-up + $secs s, $REPEAT run(s), wrk -t$(nproc)" >&2
    for r in $(seq 0 "$REPEAT"); do
      run "$BENCH" wrk-script --endpoint "http://127.0.0.1:$port" --credentials-file "$creds" \
        --op "$op" --out "$WORK/wrk-$op.lua"
      if [ "$r" = 0 ]; then
        [ "$warm" -gt 0 ] && wrk -t"$(nproc)" -c"$CONNECTIONS" -d"${warm}s" -s "$WORK/wrk-$op.lua" "http://127.0.0.1:$port" >/dev/null
        continue
      fi
      s0=$(cpu_ticks "$KMS_PID")
      { TIMEFORMAT='%U %S'; time wrk -t"$(nproc)" -c"$CONNECTIONS" -d"${secs}s" -s "$WORK/wrk-$op.lua" \
        "http://127.0.0.1:$port" >"$WORK/wrk.out"; } 2>"$WORK/wrk.time"
      s1=$(cpu_ticks "$KMS_PID")
      python3 scripts/bench_wrk.py run --op "$op" --wrk-output "$WORK/wrk.out" --time "$WORK/wrk.time" \
        --server-ticks "$s0" "$s1" >>"$WORK/wrk-runs.jsonl"
    done
  done
  python3 scripts/bench_wrk.py report --runs "$WORK/wrk-runs.jsonl" --connections "$CONNECTIONS" \
    --duration "$secs" --warmup "$warm" --threads "$(nproc)" --json "$OUT/wrk.json" >"$OUT/wrk.txt"
  cat "$OUT/wrk.txt"
}

# ---------------------------------------------------------------- replay, wrk, sign, stall
if [ "$GEN_SIGNING" = 1 ] || [ "$REPLAY" = 1 ] || [ "$WRK" = 1 ] || [ "$SIGN" = 1 ] || [ "$STALL" = 1 ]; then
  [ "$WRK" = 1 ] && ensure_wrk
  GEN_DIR=$WORK/kms-gen
  KMS_PORT=$(free_port)
  start_kms "$GEN_DIR" "$KMS_PORT" "$WORK/kms-gen.log"
  wait_http "$KMS_PID" "$KMS_PORT" /health 30
  GEN=(--endpoint "http://127.0.0.1:$KMS_PORT" --credentials-file "$GEN_DIR/credentials"
    --connections "$CONNECTIONS" --warmup "$WARMUP" --server-pid "$KMS_PID")
  GEN_OPS=${OPS:-health,encrypt-32,decrypt,generate-data-key}
  if [ "$STALL" = 1 ]; then
    STALL_DURATION=$DURATION
    [ "$DURATION_SET" = 1 ] || STALL_DURATION=60
    fetch "$KMS_PORT" /metrics >"$OUT/stall-metrics-before.txt" || true
    cat /proc/stat >"$OUT/stall-proc-stat-before.txt"
    vmstat -t 1 >"$OUT/stall-vmstat.txt" 2>&1 &
    VMSTAT=$!
    PIDS+=("$VMSTAT")
    # Every second: time, the server's page faults (minor, major), CPU ticks
    # (user, system), threads, and the machine's load average.
    while kill -0 "$KMS_PID" 2>/dev/null; do
      echo "$(date -u +%H:%M:%S.%N | cut -c1-12) $(awk '{ print $10, $12, $14, $15, $20 }' "/proc/$KMS_PID/stat") $(cut -d' ' -f1-4 /proc/loadavg)"
      sleep 1
    done >"$OUT/stall-server-samples.txt" 2>/dev/null &
    SAMPLER=$!
    PIDS+=("$SAMPLER")
    run "$BENCH" "${GEN[@]}" --duration "$STALL_DURATION" --repeat 1 --ops "${OPS:-encrypt-32}" \
      --label kms-stall --json "$OUT/stall.json" >"$OUT/stall.txt"
    kill "$VMSTAT" "$SAMPLER" 2>/dev/null || true
    cat /proc/stat >"$OUT/stall-proc-stat-after.txt"
    fetch "$KMS_PORT" /metrics >"$OUT/stall-metrics.txt" || true
    ls -l --time-style=full-iso "$GEN_DIR/audit" >"$OUT/stall-audit-files.txt"
    # The writer's own account: every file switch, and every batch whose
    # oldest event waited over 50 ms.
    grep -a -e 'audit log: next file' -e 'audit log: slow batch' "$WORK/kms-gen.log" | sed 's/\x1b\[[0-9;]*m//g' >"$OUT/stall-audit-log.txt" || true
    cat "$OUT/stall.txt"
    grep '^kms_audit_fsync_seconds_bucket' "$OUT/stall-metrics.txt" || true
    # Context: the machine's run queue and disk writes (the server's audit
    # trail writes about 1 KB per request; more is someone else's), and the
    # writer's slow batches.
    awk '$1 ~ /^[0-9]+$/ { n++; if ($1 > r) r = $1; if ($10 > 100000) big++; if ($10 > bo) bo = $10 }
      END { printf "vmstat over the run: %d samples, run queue up to %d, disk writes up to %.0f MB/s, %d second(s) over 100 MB/s\n", n, r, bo / 1024, big }' \
      "$OUT/stall-vmstat.txt" | tee -a "$OUT/stall.txt"
    echo "audit writer: $(grep -c 'slow batch' "$OUT/stall-audit-log.txt") slow batch(es) (oldest event waited over 50 ms), $(grep -c 'next file' "$OUT/stall-audit-log.txt") file switch(es); see stall-audit-log.txt" | tee -a "$OUT/stall.txt"
    COMPARE+=(--report "$OUT/stall.json")
  fi
  if [ "$SIGN" = 1 ]; then
    for mode in signing replay; do
      MODE_ARGS=()
      [ "$mode" = replay ] && MODE_ARGS=(--replay)
      run "$BENCH" "${GEN[@]}" --duration "$DURATION" --repeat "$REPEAT" --ops encrypt-32,sign-p256,sign-rsa2048 \
        --label "kms-sign-$mode" --json "$OUT/sign-$mode.json" "${MODE_ARGS[@]}" >"$OUT/sign-$mode.txt"
      cat "$OUT/sign-$mode.txt"
      COMPARE+=(--report "$OUT/sign-$mode.json")
    done
  fi
  if [ "$GEN_SIGNING" = 1 ]; then
    run "$BENCH" "${GEN[@]}" --duration "$DURATION" --repeat "$REPEAT" --ops "$GEN_OPS" \
      --label kms-signing --json "$OUT/signing.json" >"$OUT/signing.txt"
    cat "$OUT/signing.txt"
    COMPARE+=(--report "$OUT/signing.json")
  fi
  if [ "$REPLAY" = 1 ]; then
    run "$BENCH" "${GEN[@]}" --duration "$DURATION" --repeat "$REPEAT" --ops "$GEN_OPS" --replay \
      --label kms-replay --json "$OUT/replay.json" >"$OUT/replay.txt"
    cat "$OUT/replay.txt"
    COMPARE+=(--report "$OUT/replay.json")
  fi
  if [ "$WRK" = 1 ]; then
    wrk_runs "$KMS_PORT" "$GEN_DIR/credentials" "$GEN_OPS"
    COMPARE+=(--report "$OUT/wrk.json")
  fi
  fetch "$KMS_PORT" /metrics >"$OUT/gen-metrics.txt" || true
  stop "$KMS_PID"
  tail -n 200 "$WORK/kms-gen.log" >"$OUT/gen-server.log.tail"
fi

# ---------------------------------------------------------------- moto
if [ "$MOTO" = 1 ]; then
  VENV=$ROOT/.venv-bench
  REQ="moto[server]"
  if [ ! -x "$VENV/bin/moto_server" ] || [ "$(cat "$VENV/.requirements" 2>/dev/null)" != "$REQ" ]; then
    echo "bench: creating $VENV with $REQ" >&2
    python3 -m venv "$VENV"
    run "$VENV/bin/pip" install --quiet --disable-pip-version-check "$REQ"
    echo "$REQ" >"$VENV/.requirements"
  fi
  echo "moto: $("$VENV/bin/python" -c 'import moto; print(moto.__version__)')" | tee -a "$OUT/info.txt"
  MOTO_PORT=$(free_port)
  start moto "$WORK/moto.log" "$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT"
  MOTO_PID=$STARTED_PID
  wait_http "$MOTO_PID" "$MOTO_PORT" /moto-api/ 60
  run "$BENCH" --endpoint "http://127.0.0.1:$MOTO_PORT" --access-key bench --secret-key bench --region us-east-1 \
    --connections "$MOTO_CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" --repeat "$REPEAT" \
    --ops encrypt-32,decrypt,generate-data-key \
    --server-pid "$MOTO_PID" --label moto --json "$OUT/moto.json" >"$OUT/moto.txt"
  cat "$OUT/moto.txt"
  stop "$MOTO_PID"
  COMPARE+=(--moto "$OUT/moto.json")
fi

# ---------------------------------------------------------------- scale
if [ "$SCALE" = 1 ]; then
  SCALE_DIR=$WORK/kms-scale
  KMS_PORT=$(free_port)
  start_kms "$SCALE_DIR" "$KMS_PORT" "$WORK/kms-scale.log"
  wait_http "$KMS_PID" "$KMS_PORT" /health 30
  run "$BENCH" scale --endpoint "http://127.0.0.1:$KMS_PORT" --credentials-file "$SCALE_DIR/credentials" \
    --keys "$KEYS" --accounts "$ACCOUNTS" --concurrency "$SCALE_CONCURRENCY" --timeout 3600 --label kms --server-pid "$KMS_PID" \
    --json "$OUT/scale.json" >"$OUT/scale.txt"
  cat "$OUT/scale.txt"
  RSS_LOADED=$(status_kb "$KMS_PID" VmRSS)
  HWM_LOADED=$(status_kb "$KMS_PID" VmHWM)
  stop "$KMS_PID"
  # The data directory without the audit trail (kms.redb, the root key,
  # the credentials), apparent size and blocks on disk (kms.redb is
  # sparse: redb grows the file ahead of use); the audit trail apart.
  DB_BYTES=$(du -sb --exclude=audit "$SCALE_DIR" | cut -f1)
  DB_DISK_BYTES=$(( $(du -s --block-size=1 --exclude=audit "$SCALE_DIR" | cut -f1) ))
  AUDIT_BYTES=$(du -sb "$SCALE_DIR/audit" | cut -f1)
  # Start-up on the populated data directory: process start to /health.
  T0=$EPOCHREALTIME
  start_kms "$SCALE_DIR" "$KMS_PORT" "$WORK/kms-restart.log"
  wait_http "$KMS_PID" "$KMS_PORT" /health 120
  T1=$EPOCHREALTIME
  STARTUP_MS=$(python3 -c "print(round(($T1 - $T0) * 1000, 1))")
  RSS_STARTED=$(status_kb "$KMS_PID" VmRSS)
  stop "$KMS_PID"
  cat >"$OUT/scale-server.json" <<EOF
{"rss_kb_after_create": $RSS_LOADED, "hwm_kb_after_create": $HWM_LOADED,
 "data_dir_bytes": $DB_BYTES, "data_dir_disk_bytes": $DB_DISK_BYTES, "audit_bytes": $AUDIT_BYTES,
 "startup_ms": $STARTUP_MS, "rss_kb_after_restart": $RSS_STARTED}
EOF
  {
    echo "server after creating the keys: VmRSS $RSS_LOADED kB (peak VmHWM $HWM_LOADED kB)"
    echo "data directory without audit/: $DB_BYTES bytes ($DB_DISK_BYTES on disk); audit/: $AUDIT_BYTES bytes"
    echo "restart on the populated data directory: /health after $STARTUP_MS ms; VmRSS then $RSS_STARTED kB"
  } | tee -a "$OUT/scale.txt"
  COMPARE+=(--scale "$OUT/scale.json" --scale-server "$OUT/scale-server.json")
fi

# ---------------------------------------------------------------- overload
if [ "$OVERLOAD" = 1 ]; then
  OVERLOAD_DIR=$WORK/kms-overload
  OVERLOAD_ARGS=()
  if [ -n "$MAX_IN_FLIGHT" ]; then
    echo "max_in_flight = $MAX_IN_FLIGHT" >"$WORK/overload.toml"
    OVERLOAD_ARGS=(--config "$WORK/overload.toml")
  fi
  KMS_PORT=$(free_port)
  start_kms "$OVERLOAD_DIR" "$KMS_PORT" "$WORK/kms-overload.log" "${OVERLOAD_ARGS[@]}"
  wait_http "$KMS_PID" "$KMS_PORT" /health 30
  run "$BENCH" overload --endpoint "http://127.0.0.1:$KMS_PORT" --credentials-file "$OVERLOAD_DIR/credentials" \
    --baseline-connections "$CONNECTIONS" ${OVERLOAD_CONNECTIONS:+--connections "$OVERLOAD_CONNECTIONS"} \
    --duration "$OVERLOAD_DURATION" --baseline-duration "$DURATION" --warmup "$WARMUP" \
    --throttle-pause "$THROTTLE_PAUSE" --server-pid "$KMS_PID" --label kms \
    --json "$OUT/overload.json" >"$OUT/overload.txt"
  {
    echo "max_in_flight: ${MAX_IN_FLIGHT:-the default, 64 per core}"
    echo "kms server after the overload run: VmRSS $(status_kb "$KMS_PID" VmRSS) kB, peak VmHWM $(status_kb "$KMS_PID" VmHWM) kB"
  } >>"$OUT/overload.txt"
  cat "$OUT/overload.txt"
  fetch "$KMS_PORT" /metrics >"$OUT/overload-metrics.txt" || echo "bench: no /metrics from the server" >&2
  stop "$KMS_PID"
  tail -n 50 "$WORK/kms-overload.log" >"$OUT/overload-server.log.tail"
fi

# ---------------------------------------------------------------- HSM key store
if [ "$HSM" = 1 ]; then
  command -v softhsm2-util >/dev/null || { echo "bench: --hsm needs SoftHSM2 (apt-get install softhsm2)" >&2; exit 1; }
  HSM_DIR=$WORK/softhsm
  mkdir -p "$HSM_DIR/tokens"
  printf 'directories.tokendir = %s\nobjectstore.backend = file\n' "$HSM_DIR/tokens" >"$HSM_DIR/softhsm2.conf"
  export SOFTHSM2_CONF=$HSM_DIR/softhsm2.conf
  run softhsm2-util --init-token --free --label kms-bench --so-pin 0000 --pin kms-bench-pin >/dev/null
  printf '[[hsm_clusters]]\nid = "cluster-234567abcdefg"\nmodule = "/usr/lib/softhsm/libsofthsm2.so"\ntoken_label = "kms-bench"\n' >"$WORK/hsm.toml"
  KMS_PORT=$(free_port)
  start_kms "$WORK/kms-hsm" "$KMS_PORT" "$WORK/kms-hsm.log" --config "$WORK/hsm.toml"
  wait_http "$KMS_PID" "$KMS_PORT" /health 30
  for mode in hsm software; do
    HSM_ARGS=()
    [ "$mode" = hsm ] && HSM_ARGS=(--hsm-cluster cluster-234567abcdefg --hsm-pin kms-bench-pin)
    run "$BENCH" --endpoint "http://127.0.0.1:$KMS_PORT" --credentials-file "$WORK/kms-hsm/credentials" \
      --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" --repeat "$REPEAT" \
      --ops encrypt-32,decrypt,generate-data-key --server-pid "$KMS_PID" --label "kms-$mode" \
      --json "$OUT/hsm-$mode.json" "${HSM_ARGS[@]}" >"$OUT/hsm-$mode.txt"
    cat "$OUT/hsm-$mode.txt"
  done
  stop "$KMS_PID"
  tail -n 50 "$WORK/kms-hsm.log" >"$OUT/hsm-server.log.tail"
fi

# ---------------------------------------------------------------- external key store
if [ "$XKS" = 1 ]; then
  XD=$WORK/xks
  mkdir -p "$XD"
  (
    cd "$XD"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 -subj "/CN=kms-bench CA" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem -out proxy.csr -subj "/CN=xks.bench" 2>/dev/null
    echo "subjectAltName=DNS:xks.bench" >san.cnf
    openssl x509 -req -in proxy.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem -days 2 -extfile san.cnf 2>/dev/null
  )
  XKS_AK=AKIAXKSBENCHAAAAAAAA
  head -c 36 /dev/urandom | base64 | tr -d '\n' >"$XD/secret"
  XKS_PORT=$(free_port)
  {
    echo "listen = \"127.0.0.1:$XKS_PORT\""
    echo "data_dir = \"$XD/data\""
    echo 'regions = ["us-east-1"]'
    echo "tls_cert_file = \"$XD/cert.pem\""
    echo "tls_key_file = \"$XD/key.pem\""
    echo '[[path]]'
    echo 'uri_path = "/kms/xks/v1"'
    echo '[[path.credentials]]'
    echo "access_key_id = \"$XKS_AK\""
    echo "secret_access_key_file = \"$XD/secret\""
  } >"$XD/proxy.toml"
  for k in bench-1 bench-2 bench-3 bench-4; do
    run "$ROOT/target/release/kms" xks-proxy keys --data-dir "$XD/data" create "$k" >/dev/null
  done
  start xks-proxy "$WORK/xks-proxy.log" "$ROOT/target/release/kms" xks-proxy serve --config "$XD/proxy.toml"
  XKS_PID=$STARTED_PID
  for _ in $(seq 300); do
    if { exec 3<>"/dev/tcp/127.0.0.1/$XKS_PORT"; } 2>/dev/null; then
      exec 3<&- 3>&-
      break
    fi
    sleep 0.01
  done
  : >"$OUT/xks-proxy.txt"
  for op in encrypt decrypt; do
    run "$ROOT/target/release/examples/xks_load" --endpoint https://xks.bench --resolve "127.0.0.1:$XKS_PORT" \
      --ca "$XD/ca.pem" --access-key "$XKS_AK" --secret-file "$XD/secret" --key bench-1 --op "$op" \
      --connections "$CONNECTIONS" --seconds "$DURATION" >>"$OUT/xks-proxy.txt"
  done
  echo "xks proxy after the proxy runs: CPU $(awk '{print $14 + $15}' "/proc/$XKS_PID/stat") ticks, VmHWM $(status_kb "$XKS_PID" VmHWM) kB" >>"$OUT/xks-proxy.txt"
  cat "$OUT/xks-proxy.txt"
  {
    echo '[xks]'
    echo "ca_file = \"$XD/ca.pem\""
    echo "resolve = { \"xks.bench\" = \"127.0.0.1:$XKS_PORT\" }"
  } >"$WORK/xks.toml"
  KMS_PORT=$(free_port)
  start_kms "$WORK/kms-xks" "$KMS_PORT" "$WORK/kms-xks.log" --config "$WORK/xks.toml"
  wait_http "$KMS_PID" "$KMS_PORT" /health 30
  # The XKS runs share one store; an external key backs one KMS key in it.
  XKS_KEYS=(bench-1,bench-2 bench-3,bench-4)
  i=0
  for conns in 1 "$CONNECTIONS"; do
    for mode in xks software; do
      XKS_ARGS=()
      if [ "$mode" = xks ]; then
        XKS_ARGS=(--xks-endpoint https://xks.bench --xks-access-key "$XKS_AK" --xks-secret "$(cat "$XD/secret")" --xks-keys "${XKS_KEYS[$i]}")
        i=$((i + 1))
      fi
      run "$BENCH" --endpoint "http://127.0.0.1:$KMS_PORT" --credentials-file "$WORK/kms-xks/credentials" \
        --connections "$conns" --duration "$DURATION" --warmup "$WARMUP" --repeat "$REPEAT" \
        --ops encrypt-32,decrypt,generate-data-key --server-pid "$KMS_PID" --label "kms-$mode-c$conns" \
        --json "$OUT/xks-$mode-c$conns.json" "${XKS_ARGS[@]}" >"$OUT/xks-$mode-c$conns.txt"
      cat "$OUT/xks-$mode-c$conns.txt"
    done
  done
  stop "$KMS_PID"
  stop "$XKS_PID"
  tail -n 50 "$WORK/kms-xks.log" >"$OUT/xks-server.log.tail"
fi

# ---------------------------------------------------------------- rotation pass
if [ "$ROTATION_PASS" = 1 ]; then
  KMS_PORT=$(free_port)
  start kms "$WORK/kms-pass.log" "$ROOT/target/release/kms" serve --dev --listen "127.0.0.1:$KMS_PORT"
  KMS_PID=$STARTED_PID
  wait_http "$KMS_PID" "$KMS_PORT" /health 30
  run "$BENCH" scale --endpoint "http://127.0.0.1:$KMS_PORT" --access-key test --secret-key test \
    --keys "$KEYS" --concurrency "$SCALE_CONCURRENCY" --list-samples 10 --rotation-pass --timeout 3600 \
    --label kms --json "$OUT/rotation-pass.json" >"$OUT/rotation-pass.txt"
  cat "$OUT/rotation-pass.txt"
  stop "$KMS_PID"
fi

echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/info.txt"
if [ "${#COMPARE[@]}" -gt 0 ]; then
  echo
  python3 scripts/bench_compare.py "${COMPARE[@]}" --connections "$CONNECTIONS" | tee "$OUT/summary.txt"
fi
echo "bench: results in $OUT" >&2
