#!/usr/bin/env bash
# Locus swarm benchmark: builds the release binary, and for each bot count
# starts `locus serve` on a fresh database, creates bot accounts and tokens
# directly in it, spreads the bots over a world sized so ~40 players are in
# each view, runs `locus bots` (10 Hz moves, server at 20 Hz), then stops the
# server. Finishes with an idle-memory run (bots connected, not moving) and
# writes a Markdown table. See tests/bench/README.md.
#
# Usage: tests/bench/run.sh [OUT_DIR]
# Environment:
#   COUNTS    moving swarm sizes         (default "1000 2000 5000 10000")
#   DURATION  measured phase per run     (default 30s)
#   IDLE      idle connections, 0 = skip (default 20000, capped by the fd limit)
#   IN_VIEW   players per view to aim at (default 40)
#   SNAPSHOT  snapshot form the bots ask for, binary or json (default binary);
#             "binary json" runs each count once per form
#   SKIP_BUILD=1 to reuse target/release/locus
#   SERVER_BIN, BOTS_BIN  binaries for `serve` and for `bots` (default: the
#             release build for both; see bots_cost.sh, which compares bots)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-target/bench/$(date -u +%Y%m%dT%H%M%SZ)}
COUNTS=${COUNTS:-"1000 2000 5000 10000"}
DURATION=${DURATION:-30s}
IDLE=${IDLE:-20000}
IN_VIEW=${IN_VIEW:-40}
SNAPSHOT=${SNAPSHOT:-binary}
VIEW_RADIUS=600
mkdir -p "$OUT"

# Every connection is a file descriptor in both processes.
ulimit -n "$(ulimit -Hn)"
FD_LIMIT=$(ulimit -n)

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cargo build --release --bin locus
fi
BIN=$PWD/target/release/locus
SERVER_BIN=${SERVER_BIN:-$BIN}
BOTS_BIN=${BOTS_BIN:-$BIN}

SERVER_PID=
cleanup() { if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi; }
trap cleanup EXIT

# World side for N players with IN_VIEW of them inside one view circle.
world_for() {
  python3 -c "import math,sys; n=int(sys.argv[1]); print(round(math.sqrt(n*math.pi*$VIEW_RADIUS**2/$IN_VIEW)))" "$1"
}

# start_server NAME WORLD: fresh database, ephemeral port; sets SERVER_PID, URL, DB.
start_server() {
  local name=$1 world=$2 dir
  dir=$(mktemp -d)
  DB=$dir/locus.db
  LOCUS_LOG=warn,locus=info "$SERVER_BIN" serve --listen 127.0.0.1:0 --db "$DB" \
    --world-size "$world" --tick-hz 20 \
    --max-connections 60000 --max-connections-per-ip 0 --handshake-rate 0 \
    2> "$OUT/server-$name.log" &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    URL=$(grep -so 'listening on http://[0-9.:]*' "$OUT/server-$name.log" | head -1 | sed 's/listening on //') || true
    [ -n "$URL" ] && return 0
    sleep 0.1
  done
  echo "server did not start; see $OUT/server-$name.log" >&2
  exit 1
}

stop_server() {
  kill -TERM "$SERVER_PID"
  wait "$SERVER_PID" || true
  SERVER_PID=
}

# run NAME COUNT MOVE_HZ FORM
run() {
  local name=$1 count=$2 hz=$3 form=$4 world
  world=$(world_for "$count")
  echo "== $name: $count bots, $hz Hz, $form snapshots, world $world, load $(cut -d' ' -f1-3 /proc/loadavg)"
  start_server "$name" "$world"
  "$BOTS_BIN" bots --url "$URL" --count "$count" --db "$DB" --spread --snapshot "$form" \
    --move-hz "$hz" --duration "$DURATION" --ramp-per-sec 1000 \
    --server-pid "$SERVER_PID" --json "$OUT/bots-$name.json" --quiet \
    > "$OUT/bots-$name.txt" 2> "$OUT/bots-$name.log" || true
  cat "$OUT/bots-$name.txt"
  stop_server
}

for form in $SNAPSHOT; do
  for n in $COUNTS; do
    run "moving-$form-$n" "$n" 10 "$form"
  done
done

if [ "$IDLE" -gt 0 ]; then
  # Each process holds one descriptor per connection plus a few dozen.
  max_idle=$((FD_LIMIT - 200))
  if [ "$IDLE" -gt "$max_idle" ]; then
    echo "fd limit $FD_LIMIT: idle run capped at $max_idle connections"
    IDLE=$max_idle
  fi
  run "idle-binary-$IDLE" "$IDLE" 0 binary
fi

python3 - "$OUT" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
rows = []
def f(v, fmt="{:.1f}"):
    return "n/a" if v is None else fmt.format(v)
for p in sorted(out.glob("bots-*.json"), key=lambda p: (p.stem.split("-")[1], p.stem.split("-")[2], int(p.stem.split("-")[3]))):
    r = json.loads(p.read_text())
    s = r["server"]
    la = r.get("load_average") or [None] * 3
    online = max(r["online_at_end"], 1)
    scpu, bcpu = s.get("cpu_percent"), r.get("bots_cpu_percent")
    ratio = bcpu / scpu if scpu and bcpu is not None else None
    rows.append("| {} | {} | {}/{}/{}/{} | {} | {} | {} | {} | {} | {} / {} | {} | {} | {} / {} | {} / {} | {:.1f} | {:.0f} / {:.0f} | {} | {} |".format(
        p.stem[5:], r["bots"], r["connected"], r["failed"], r["kicked"], r["disconnected"],
        f(scpu, "{:.0f}%"), f(bcpu, "{:.0f}%"), f(ratio, "{:.2f}"),
        f(s["rss_kib"] / 1024 if s.get("rss_kib") else None, "{:.0f} MiB"),
        f(s.get("rss_per_bot_kib"), "{:.1f} KiB"),
        f(s.get("tick_p50_ms"), "{:.2f}"), f(s.get("tick_p99_ms"), "{:.2f}"),
        f(s.get("tick_cpu_ms"), "{:.2f}"), f(s.get("tick_thread_wait_percent"), "{:.0f}%"),
        f(r["move_ack"]["p50_ms"]), f(r["move_ack"]["p99_ms"]),
        f(r["move_seen"]["p50_ms"]), f(r["move_seen"]["p99_ms"]),
        r["snapshots_per_sec"] / online, r["bytes_in_per_bot_sec"], r["bytes_out_per_bot_sec"],
        r["consistency_errors"],
        f(la[0], "{:.1f}")))
head = ("| run | bots | conn/fail/kick/lost | server CPU | bots CPU | bots/server CPU | server RSS | RSS/bot | tick p50/p99 ms "
        "| tick CPU ms | tick thread waiting | ack p50/p99 ms | seen p50/p99 ms | snapshots/s per bot | B/s per bot in/out | consistency errors | load 1m |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
table = head + "\n" + "\n".join(rows) + "\n"
(out / "table.md").write_text(table)
print(table)
PY
echo "results in $OUT"
