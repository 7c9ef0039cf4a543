#!/usr/bin/env bash
# Socket.IO broadcast throughput and idle memory: our SocketIo (release build
# of server/examples/broadcast_bench.rs) against socket.io 4.8 on Node
# (tests/bench/socketio/node_server.mjs), both driven by the same Rust load
# client (`broadcast_bench throughput|idle`). Prints a markdown table.
#
#   bash tests/bench/socketio/run.sh
#
# Environment (defaults in brackets):
#   CLIENTS [1000]       room members for the throughput test
#   BATCHES [120]        measured triggers of 50 broadcasts each (after 10 warm-up ones)
#   RUNS [3]             throughput runs per server; the median is reported
#   IDLE_CLIENTS [10000] idle connections for the memory test
#   SETTLE [10]          seconds to wait with every idle client connected
#   SERVERS ["locus locus-1t node"] which servers to measure
#
# Every test gets a fresh server process. Needs `ulimit -n` above
# IDLE_CLIENTS + 100 for both processes (raised here up to the hard limit).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
CLIENTS="${CLIENTS:-1000}"
BATCHES="${BATCHES:-120}"
RUNS="${RUNS:-3}"
IDLE_CLIENTS="${IDLE_CLIENTS:-10000}"
SETTLE="${SETTLE:-10}"
SERVERS="${SERVERS:-locus locus-1t node}"
LOG_DIR="$(mktemp -d)"
SERVER_PID=""

need=$((IDLE_CLIENTS + 100))
hard=$(ulimit -Hn)
if [[ "$hard" != unlimited && "$hard" -lt "$need" ]]; then
  echo "ulimit -Hn is $hard; the idle test needs $need descriptors" >&2
  exit 1
fi
ulimit -n "$need"

cd "$ROOT"
cargo build --release --quiet --example broadcast_bench
BENCH="$ROOT/target/release/examples/broadcast_bench"
NODE_VERSION="$(node --version)"
SIO_VERSION="$(node -p "require('$ROOT/tests/node_modules/socket.io/package.json').version")"

stop_server() {
  if [[ -n "$SERVER_PID" ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
trap stop_server EXIT

# start_server KIND: starts a fresh server; sets SERVER_PID and SERVER_URL.
start_server() {
  local log="$LOG_DIR/server.log"
  : >"$log"
  case "$1" in
    locus) "$BENCH" serve --port 0 2>"$log" & ;;
    locus-1t) "$BENCH" serve --port 0 --threads 1 2>"$log" & ;;
    node) (cd "$ROOT/tests" && exec node bench/socketio/node_server.mjs 0) 2>"$log" & ;;
    *) echo "unknown server $1" >&2; exit 1 ;;
  esac
  SERVER_PID=$!
  for _ in $(seq 100); do
    if grep -q "listening on http://" "$log"; then
      SERVER_URL="ws://$(grep -o 'listening on http://[0-9.:]*' "$log" | head -1 | sed 's|listening on http://||')"
      sleep 0.5 # let the server settle before the baseline RSS
      return
    fi
    sleep 0.1
  done
  echo "server $1 did not start:" >&2
  cat "$log" >&2
  exit 1
}

# field JSON KEY: one value of the load client's JSON line.
field() {
  node -e 'const v = JSON.parse(process.argv[1])[process.argv[2]]; console.log(v ?? "")' "$1" "$2"
}

median() {
  printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

label() {
  case "$1" in
    locus) echo "Locus SocketIo (Rust, release, 2 worker threads)" ;;
    locus-1t) echo "Locus SocketIo (Rust, release, 1 worker thread)" ;;
    node) echo "socket.io $SIO_VERSION (Node $NODE_VERSION)" ;;
  esac
}

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
declare -A RATE CPU RSS RATES
for kind in $SERVERS; do
  rates=()
  cpus=()
  for run in $(seq "$RUNS"); do
    start_server "$kind"
    out="$("$BENCH" throughput --url "$SERVER_URL" --clients "$CLIENTS" --batches "$BATCHES" --warmup 10 --pid "$SERVER_PID")"
    stop_server
    echo "$kind throughput run $run: $out" >&2
    rates+=("$(field "$out" messages_per_sec)")
    cpus+=("$(field "$out" messages_per_server_cpu_sec)")
  done
  RATE[$kind]="$(median "${rates[@]}")"
  CPU[$kind]="$(median "${cpus[@]}")"
  RATES[$kind]="${rates[*]}"

  start_server "$kind"
  out="$("$BENCH" idle --url "$SERVER_URL" --clients "$IDLE_CLIENTS" --pid "$SERVER_PID" --settle-secs "$SETTLE")"
  stop_server
  echo "$kind idle: $out" >&2
  RSS[$kind]="$(field "$out" bytes_per_connection)"
done
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

fmt() { node -e 'console.log(Math.round(Number(process.argv[1])).toLocaleString("en-US"))' "$1"; }
kib() { node -e 'console.log((Number(process.argv[1]) / 1024).toFixed(1))' "$1"; }

echo
echo "| server | broadcast deliveries/s ($CLIENTS clients, median of $RUNS) | deliveries per server CPU-second | server RSS per idle WebSocket ($IDLE_CLIENTS connections) |"
echo "| --- | ---: | ---: | ---: |"
for kind in $SERVERS; do
  echo "| $(label "$kind") | $(fmt "${RATE[$kind]}") | $(fmt "${CPU[$kind]}") | $(kib "${RSS[$kind]}") KiB |"
done
echo
echo "Runs (deliveries/s): $(for kind in $SERVERS; do printf '%s: %s; ' "$kind" "${RATES[$kind]}"; done)"
echo "Load average (1/5/15 min) before: $LOAD_BEFORE; after: $LOAD_AFTER; $(nproc) cores; $(date -u '+%Y-%m-%d %H:%M UTC')."
