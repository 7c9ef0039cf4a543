#!/usr/bin/env bash
# Cluster benchmark (issue 13, item 8): the same `locus bots` swarm (COUNT
# bots placed at random, a world sized for ~40 in view, 10 Hz moves, binary
# snapshots) against one `locus serve` on PostgreSQL, then against three
# `--cluster` nodes on one private Redis (for each REGIONS setting), all on
# a private PostgreSQL and Redis started here (tests/run.sh's functions).
# Records per run: CPU of every node and of Redis (from /proc, over the
# bots' measured phase), the bots' report (handoffs/s, handoff time from
# the old node's last snapshot to the new node's first, consistency
# errors), and from every node's /metrics the bytes published to Redis and
# the players in its border bands. Also an idle three-node cluster (no
# bots) for the fixed cost. Writes one Markdown table and a cost model.
# See tests/bench/README.md.
#
# Usage: tests/bench/cluster.sh [OUT_DIR]
# Environment:
#   COUNT     bots (default 1000)
#   DURATION  measured phase per run (default 30s)
#   REGIONS   region grids for the cluster runs (default "3 6")
#   SKIP_BUILD=1 to reuse target/release/locus
#   PERF=1    also profile the nodes over each window (OUT/perf-NAME.data;
#             PERF_CALLGRAPH=dwarf for full stacks)
#   NODE_LOG  the nodes' LOCUS_LOG (default warn,locus=info)
#   CLUSTER_WORKERS  async worker threads per cluster node (TOKIO_WORKER_THREADS,
#             default 2, as many as the machine's cores; the single node
#             always runs the default)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
OUT=${1:-target/bench/cluster-$(date -u +%Y%m%dT%H%M%SZ)}
COUNT=${COUNT:-1000}
DURATION=${DURATION:-30s}
REGIONS=${REGIONS:-"3 6"}
IN_VIEW=40
VIEW_RADIUS=600
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
ulimit -n "$(ulimit -Hn)"

# The private PostgreSQL and Redis of the test command.
# shellcheck source=../run.sh
REPO=$ROOT
source "$ROOT/tests/run.sh"
ROOT=$REPO
trap 'stop_nodes; cleanup' EXIT
start_postgres
start_redis
[ -n "${LOCUS_TEST_POSTGRES_URL:-}" ] || die "no PostgreSQL (install Debian's postgresql)"
[ -n "${LOCUS_TEST_REDIS_URL:-}" ] || die "no Redis (install Debian's redis-server)"
PSQL="$LOCUS_TEST_PG_BINDIR/psql"
REDIS_PORT=${LOCUS_TEST_REDIS_URL##*:}
REDIS_PORT=${REDIS_PORT%/}

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cargo build --release --bin locus
fi
BIN=$ROOT/target/release/locus
WORLD=$(python3 -c "import math; print(round(math.sqrt($COUNT*math.pi*$VIEW_RADIUS**2/$IN_VIEW)))")
SECONDS_MEASURED=${DURATION%s}

NODE_PIDS=()
NODE_URLS=()
stop_nodes() {
  for pid in "${NODE_PIDS[@]:-}"; do
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${NODE_PIDS[@]:-}"; do
    [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  done
  NODE_PIDS=()
  NODE_URLS=()
}

# fresh_db NAME: a new PostgreSQL database; prints its URL.
fresh_db() {
  local base=${LOCUS_TEST_POSTGRES_URL%/postgres}
  "$PSQL" -q "$LOCUS_TEST_POSTGRES_URL" -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
  echo "$base/$1"
}

# start_node NAME DB [serve args...]: one node on a free port.
start_node() {
  local name=$1 db=$2 port
  shift 2
  port=$(free_port)
  LOCUS_LOG=${NODE_LOG:-warn,locus=info} "$BIN" serve --listen "127.0.0.1:$port" --db "$db" \
    --world-size "$WORLD" --tick-hz 20 \
    --max-connections 60000 --max-connections-per-ip 0 --handshake-rate 0 "$@" \
    2> "$OUT/node-$name.log" &
  NODE_PIDS+=("$!")
  NODE_URLS+=("http://127.0.0.1:$port")
  for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$port/api/health" >/dev/null && return 0
    sleep 0.1
  done
  echo "node $name did not start; see $OUT/node-$name.log" >&2
  exit 1
}

# cpu_ticks PID...: utime+stime of the processes, in clock ticks.
cpu_ticks() {
  local total=0 pid fields
  for pid in "$@"; do
    read -ra fields < "/proc/$pid/stat"
    total=$((total + fields[13] + fields[14]))
  done
  echo "$total"
}

# metric_sum NAME: a metric summed over the running nodes.
metric_sum() {
  local url sum=0 v
  for url in "${NODE_URLS[@]}"; do
    v=$(curl -sf "$url/metrics" | awk -v m="$1" '$1 == m { print $2 }' | head -1)
    sum=$(python3 -c "print(${sum} + float('${v:-0}' or 0))")
  done
  echo "$sum"
}

# swarm NAME: the bots against the first node; records CPU and metrics
# over the measured phase into $OUT/NAME.env.
swarm() {
  local name=$1 db=$2 before_nodes before_redis after_nodes after_redis bytes0 bytes1 border
  "$BIN" bots --url "${NODE_URLS[0]}" --count "$COUNT" --db "$db" --spread --snapshot binary \
    --move-hz 10 --duration "$DURATION" --ramp-per-sec 500 \
    --json "$OUT/bots-$name.json" --quiet > "$OUT/bots-$name.txt" 2> "$OUT/bots-$name.log" &
  local bots=$!
  # The bots ramp up, then measure for DURATION: sample the middle of it.
  for _ in $(seq 1 600); do
    grep -q . "$OUT/bots-$name.log" 2>/dev/null && break
    sleep 0.1
  done
  sleep $((COUNT / 500 + 8))
  before_nodes=$(cpu_ticks "${NODE_PIDS[@]}")
  before_redis=$(cpu_ticks "$REDIS_PID")
  bytes0=$(metric_sum locus_cluster_published_bytes_total)
  local window=$((SECONDS_MEASURED / 2))
  if [ "${PERF:-0}" = 1 ]; then
    # A profile of every node over the window (perf report -i ...).
    local pids
    pids=$(IFS=,; echo "${NODE_PIDS[*]}")
    perf record -q -F 499 --call-graph "${PERF_CALLGRAPH:-fp}" -p "$pids" -o "$OUT/perf-$name.data" -- sleep "$window" 2>/dev/null
  else
    sleep "$window"
  fi
  after_nodes=$(cpu_ticks "${NODE_PIDS[@]}")
  after_redis=$(cpu_ticks "$REDIS_PID")
  bytes1=$(metric_sum locus_cluster_published_bytes_total)
  border=$(metric_sum locus_cluster_border_players)
  wait "$bots" || true
  local hz
  hz=$(getconf CLK_TCK)
  cat > "$OUT/$name.env" <<EOF
nodes_cpu=$(python3 -c "print(($after_nodes - $before_nodes) / $hz / $window * 100)")
redis_cpu=$(python3 -c "print(($after_redis - $before_redis) / $hz / $window * 100)")
redis_bytes_per_sec=$(python3 -c "print(($bytes1 - $bytes0) / $window)")
border_players=$border
load=$(cut -d' ' -f1 /proc/loadavg)
EOF
  cat "$OUT/bots-$name.txt"
}

# idle_cluster REGIONS DB: three cluster nodes, each with its own public URL.
idle_cluster() {
  local regions=$1 i port
  for i in 1 2 3; do
    port=$(free_port)
    LOCUS_LOG=${NODE_LOG:-warn,locus=info} TOKIO_WORKER_THREADS=${CLUSTER_WORKERS:-2} \
      "$BIN" serve --listen "127.0.0.1:$port" --db "$2" \
      --world-size "$WORLD" --tick-hz 20 --max-connections 60000 --max-connections-per-ip 0 \
      --handshake-rate 0 --cluster "$LOCUS_TEST_REDIS_URL" --public-url "http://127.0.0.1:$port" \
      --regions "$regions" 2> "$OUT/node-c$regions-$i.log" &
    NODE_PIDS+=("$!")
    NODE_URLS+=("http://127.0.0.1:$port")
  done
  for url in "${NODE_URLS[@]}"; do
    for _ in $(seq 1 300); do
      curl -sf "$url/api/health" >/dev/null && break
      sleep 0.1
    done
  done
  sleep 3
}

echo "== single node, $COUNT bots, world $WORLD, load $(cut -d' ' -f1-3 /proc/loadavg)"
db=$(fresh_db bench_single)
start_node single "$db"
swarm single "$db"
stop_nodes

echo "== idle cluster: three nodes, no bots"
db=$(fresh_db bench_idle)
redis-cli -p "$REDIS_PORT" FLUSHALL >/dev/null
idle_cluster 3 "$db"
t0=$(cpu_ticks "${NODE_PIDS[@]}")
sleep 10
t1=$(cpu_ticks "${NODE_PIDS[@]}")
echo "idle_cpu=$(python3 -c "print(($t1 - $t0) / $(getconf CLK_TCK) / 10 * 100)")" > "$OUT/idle.env"
stop_nodes

for regions in $REGIONS; do
  echo "== three nodes, $regions x $regions regions, $COUNT bots, load $(cut -d' ' -f1-3 /proc/loadavg)"
  db=$(fresh_db "bench_c$regions")
  redis-cli -p "$REDIS_PORT" FLUSHALL >/dev/null
  idle_cluster "$regions" "$db"
  swarm "cluster-$regions" "$db"
  stop_nodes
done

python3 - "$OUT" "$COUNT" <<'PY'
import json, pathlib, sys
out, count = pathlib.Path(sys.argv[1]), int(sys.argv[2])
def env(name):
    return {k: float(v) for k, v in (l.split("=", 1) for l in (out / f"{name}.env").read_text().split())}
idle = env("idle")["idle_cpu"]
runs = []
for e in sorted(out.glob("*.env")):
    if e.stem == "idle":
        continue
    r = json.loads((out / f"bots-{e.stem}.json").read_text())
    m = env(e.stem)
    runs.append((e.stem, r, m))
single = next(m for n, r, m in runs if n == "single")
rows = []
for name, r, m in runs:
    h = r.get("handoff") or {}
    per_border = m["redis_bytes_per_sec"] / m["border_players"] if m["border_players"] else None
    rows.append(
        f"| {name} | {r['connected']}/{r['failed']} | {m['nodes_cpu']:.0f}% | {m['nodes_cpu'] / single['nodes_cpu']:.2f}x | "
        f"{m['redis_cpu']:.0f}% | {r.get('handoffs_per_sec', 0):.1f} | {h.get('p50_ms', 0):.0f} / {h.get('p99_ms', 0):.0f} | "
        f"{m['border_players']:.0f} | {m['redis_bytes_per_sec'] / 1024:.0f} KiB/s | "
        + (f"{per_border:.0f} B/s" if per_border else "n/a")
        + f" | {r['move_ack']['p99_ms']:.0f} | {r['snapshots_per_sec'] / max(r['online_at_end'], 1):.1f} | {r['consistency_errors']} | {m['load']:.1f} |")
table = ("| run | connected/failed | nodes CPU | vs one node | Redis CPU | handoffs/s | handoff p50/p99 ms "
         "| border players | Redis bytes published | per border player | ack p99 ms | snapshots/s per bot | consistency errors | load 1m |\n"
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")
# Cost model: CPU = idle + owned * players + mirrored * border players + handoff * handoffs/s,
# owned from the single node, the other two from the cluster runs (least squares).
owned = single["nodes_cpu"] / count
eqs = []
for name, r, m in runs:
    if name == "single":
        continue
    eqs.append((m["border_players"], r.get("handoffs_per_sec", 0), m["nodes_cpu"] - idle - owned * count))
model = f"\nIdle three-node cluster: {idle:.1f}% of a core. Per owned player: {owned * 10:.3f}% per 10 players (from the single node).\n"
if len(eqs) >= 2:
    import itertools
    (a1, b1, c1), (a2, b2, c2) = eqs[0], eqs[1]
    det = a1 * b2 - a2 * b1
    if abs(det) > 1e-9:
        mirrored = (c1 * b2 - c2 * b1) / det
        handoff = (a1 * c2 - a2 * c1) / det
        model += (f"Solved from the two cluster runs: per border player {mirrored:.4f}% of a core, "
                  f"per handoff/s {handoff:.3f}% of a core.\n")
(out / "table.md").write_text(table + model)
print(table + model)
PY
echo "results in $OUT"
