#!/usr/bin/env bash
# Soak test (not run in CI): a `locus serve` process with BOTS Node bots
# (tests/soak/bots.mjs, the official socket.io-client) joining, walking and
# leaving for MINUTES minutes, sampling the server's RSS, open descriptors
# and players online every 10 s into a CSV.
#
# Usage: tests/soak/run.sh [MINUTES=30] [BOTS=40]
# Env:   LOCUS_BIN (default target/release/locus if built, else target/debug/locus)
#        OUT (default: a new temporary directory; holds soak.csv, server.log, bots.log)
# Needs: node with tests/node_modules installed (bash tests/run.sh installs them), curl.
# Output: OUT/soak.csv with columns elapsed_s,rss_kib,fds,players_online, and
#         a summary line (first, last, min, max RSS) at the end.
set -euo pipefail

minutes=${1:-30}
bots=${2:-40}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${LOCUS_BIN:-}
if [[ -z $bin ]]; then
  if [[ -x $root/target/release/locus ]]; then bin=$root/target/release/locus; else bin=$root/target/debug/locus; fi
fi
out=${OUT:-$(mktemp -d -t locus-soak.XXXXXX)}
mkdir -p "$out"
echo "soak: $minutes min, $bots bots, binary $bin, output in $out"

NO_COLOR=1 LOCUS_LOG=info "$bin" serve --listen 127.0.0.1:0 --db "$out/soak.db" \
  --max-connections-per-ip 0 --handshake-rate 0 >/dev/null 2>"$out/server.log" &
server=$!
trap 'kill "$server" 2>/dev/null || true; kill "${bots_pid:-}" 2>/dev/null || true' EXIT

addr=
for _ in $(seq 1 600); do
  addr=$(sed -n 's/.*listening on http:\/\/\([0-9.:]*\).*/\1/p' "$out/server.log" | head -n1)
  [[ -n $addr ]] && break
  kill -0 "$server" 2>/dev/null || { echo "locus exited:"; cat "$out/server.log"; exit 1; }
  sleep 0.1
done
[[ -n $addr ]] || { echo "locus did not start"; exit 1; }
echo "server pid $server on $addr"

(cd "$root/tests" && exec node soak/bots.mjs "http://$addr" "$bots" $((minutes * 60))) >"$out/bots.log" 2>&1 &
bots_pid=$!

echo "elapsed_s,rss_kib,fds,players_online" >"$out/soak.csv"
start=$(date +%s)
while kill -0 "$bots_pid" 2>/dev/null; do
  now=$(date +%s)
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$server/status")
  fds=$(ls "/proc/$server/fd" | wc -l)
  online=$(curl -s "http://$addr/api/health" | sed -n 's/.*"players_online":\([0-9]*\).*/\1/p')
  echo "$((now - start)),$rss,$fds,${online:-?}" >>"$out/soak.csv"
  sleep 10
done
wait "$bots_pid" || echo "bots exited with an error (see $out/bots.log)"

kill -TERM "$server"
status=0
wait "$server" || status=$?
trap - EXIT
echo "server exit status: $status"
tail -n 1 "$out/bots.log"
awk -F, 'NR == 2 {first = $2; min = $2; max = $2} NR > 1 {last = $2; if ($2 < min) min = $2; if ($2 > max) max = $2; n++}
  END {printf "RSS over %d samples: first %.1f MiB, last %.1f MiB, min %.1f MiB, max %.1f MiB\n", n, first/1024, last/1024, min/1024, max/1024}' "$out/soak.csv"
