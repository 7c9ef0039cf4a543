#!/usr/bin/env bash
# What `locus bots` costs beside the server it loads: runs two `locus bots`
# binaries (BEFORE and AFTER) in turn against the same server binary, on a
# fresh database each run, ROUNDS times for each count, through run.sh (world
# sized for ~40 in view, --spread, 10 Hz moves, 20 Hz ticks, binary
# snapshots), and writes one table of bots CPU / server CPU per run plus the
# median ratio per binary and count. See tests/bench/README.md.
#
# Usage: tests/bench/bots_cost.sh BEFORE AFTER [OUT_DIR]
# Environment:
#   SERVER_BIN  the server for every run (default: BEFORE)
#   COUNTS      bot counts (default "1000 5000")
#   ROUNDS      before/after pairs per count (default 3)
#   DURATION    measured phase per run (default 20s)
set -euo pipefail
cd "$(dirname "$0")/../.."
BEFORE=$(realpath "$1")
AFTER=$(realpath "$2")
OUT=${3:-target/bench/bots-cost-$(date -u +%Y%m%dT%H%M%SZ)}
SERVER_BIN=$(realpath "${SERVER_BIN:-$BEFORE}")
COUNTS=${COUNTS:-"1000 5000"}
ROUNDS=${ROUNDS:-3}
export DURATION=${DURATION:-20s}
mkdir -p "$OUT"

for n in $COUNTS; do
  for round in $(seq 1 "$ROUNDS"); do
    for side in before after; do
      if [ "$side" = before ]; then bots=$BEFORE; else bots=$AFTER; fi
      SERVER_BIN=$SERVER_BIN BOTS_BIN=$bots SKIP_BUILD=1 IDLE=0 COUNTS=$n SNAPSHOT=binary \
        bash tests/bench/run.sh "$OUT/$side-$n-r$round" > "$OUT/$side-$n-r$round.out" 2>&1
      echo "$side $n round $round done, load $(cut -d' ' -f1-3 /proc/loadavg)"
    done
  done
done

python3 - "$OUT" <<'PY'
import json, pathlib, statistics, sys
out = pathlib.Path(sys.argv[1])
rows, ratios = [], {}
def key(p):
    side, n, r = p.name.split("-")
    return (int(n), r, side != "before")
for d in sorted((p for p in out.iterdir() if p.is_dir()), key=key):
    side, n, r = d.name.split("-")
    for j in d.glob("bots-*.json"):
        rep = json.loads(j.read_text())
        s = rep["server"]
        online = max(rep["online_at_end"], 1)
        b, c = rep.get("bots_cpu_percent"), s.get("cpu_percent")
        ratio = b / c if b is not None and c else None
        if ratio is not None:
            ratios.setdefault((int(n), side), []).append(ratio)
        la = rep.get("load_average") or [None]
        # Bots CPU per message they handled (a snapshot in or a position
        # out), µs: on a starved machine bots fall behind and handle fewer.
        msgs = rep["snapshots_per_sec"] + rep["positions_per_sec"]
        per_msg = (b or 0) / 100 * 1e6 / msgs if msgs else 0
        if msgs:
            ratios.setdefault((int(n), side, "us"), []).append(per_msg)
        rows.append("| {} | {} | {} | {}/{}/{}/{} | {:.0f}% | {:.0f}% | {:.2f} | {:.2f} | {:.1f} / {:.1f} | {:.1f} | {:.1f} | {} | {:.1f} |".format(
            n, r[1:], side, rep["connected"], rep["failed"], rep["kicked"], rep["disconnected"],
            b or 0, c or 0, ratio or 0, per_msg, rep["move_ack"]["p50_ms"], rep["move_ack"]["p99_ms"],
            rep["snapshots_per_sec"] / online, rep["positions_per_sec"] / online,
            rep["consistency_errors"], la[0] or 0))
head = ("| bots | round | bots binary | conn/fail/kick/lost | bots CPU | server CPU | bots/server CPU "
        "| bots CPU µs per message | ack p50/p99 ms | snapshots/s per bot | positions/s per bot | consistency errors | load 1m |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
summary = ["| bots | median bots/server CPU before | after | after/before | median bots CPU µs per message before | after | after/before |",
           "|---|---|---|---|---|---|---|"]
med = lambda k: statistics.median(ratios.get(k, [float("nan")]))
for n in sorted({k[0] for k in ratios}):
    b, a = med((n, "before")), med((n, "after"))
    bu, au = med((n, "before", "us")), med((n, "after", "us"))
    summary.append(f"| {n} | {b:.2f} | {a:.2f} | {a / b:.2f} | {bu:.2f} | {au:.2f} | {au / bu:.2f} |")
table = head + "\n" + "\n".join(rows) + "\n\n" + "\n".join(summary) + "\n"
(out / "table.md").write_text(table)
print(table)
PY
echo "results in $OUT"
