#!/usr/bin/env bash
# Delivery figures of one `locus serve` under `locus bots`: server CPU,
# context switches and syscalls per second, and syscalls per socket per tick,
# counted over 10 s of the steady phase (perf stat tracepoints on the server
# process; /proc/PID/task/*/status for context switches; /metrics for ticks).
# Used for tests/bench/results/2026-12-03-delivery.md.
#
# usage: tests/bench/delivery.sh LOCUS_BIN LABEL BOTS [DURATION_S]
# env:   SPREAD=1 WORLD=5317   bots spread over a world sized for ~40 in view
#                              (default: all at the centre of a 4096 world,
#                              as side_by_side.sh in ../shared/peers beside
#                              the checkout does)
#        PROFILE=1             also `perf record -g` 8 s of the server (the
#                              window then needs DURATION >= 25)
#        SERVE_ARGS, BOT_ARGS  extra flags for `locus serve` / `locus bots`
#        OUT=/tmp/dbench PORT=3300
# Needs perf and root (or perf_event_paranoid <= 1). Prints one JSON line;
# writes OUT/LABEL-BOTS.{json,server.log,bots.txt} (and .perf with PROFILE).
set -u
BIN=$1; LABEL=$2; N=$3; DUR=${4:-$([ -n "${PROFILE:-}" ] && echo 25 || echo 20)}; PORT=${PORT:-3300}; OUT=${OUT:-/tmp/dbench}; mkdir -p $OUT
ulimit -n "$(ulimit -Hn)"
dir=$(mktemp -d)
"$BIN" serve --listen 127.0.0.1:$PORT --db "$dir/l.db" --world-size ${WORLD:-4096} \
  --max-connections 60000 --max-connections-per-ip 0 --handshake-rate 0 ${SERVE_ARGS:-} >$OUT/$LABEL-$N.server.log 2>&1 & SPID=$!
for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
if [ -n "${SPREAD:-}" ]; then SRC="--db $dir/l.db --spread"; else
"$BIN" admin bot-tokens --db "$dir/l.db" --prefix b$RANDOM --count "$N" --out "$dir/tokens.txt" >/dev/null 2>&1
SRC="--tokens $dir/tokens.txt"; fi
"$BIN" bots --url http://127.0.0.1:$PORT --count "$N" $SRC --duration "${DUR}s" \
  --move-hz 10 --server-pid "$SPID" --quiet --json "$OUT/$LABEL-$N.json" ${BOT_ARGS:-} >$OUT/$LABEL-$N.bots.txt 2>&1 & BPID=$!
# the steady phase: every bot online, then 3 s to settle
for _ in $(seq 120); do on=$(curl -s http://127.0.0.1:$PORT/metrics | awk '$1=="locus_players_online"{print $2}'); [ "${on:-0}" -ge "$N" ] && break; sleep 0.5; done
sleep 3
ctx() { cat /proc/$SPID/task/*/status | awk '/^voluntary_ctxt/{v+=$2} /^nonvoluntary_ctxt/{n+=$2} END{print v, n}'; }
tick() { curl -s http://127.0.0.1:$PORT/metrics | awk '$1=="locus_tick"{print $2}'; }
c0=$(ctx); t0=$(tick); s0=$(awk '{print $14+$15}' /proc/$SPID/stat)
[ -n "${PROFILE:-}" ] && perf record -F 499 --call-graph dwarf,16384 -p $SPID -o $OUT/$LABEL-$N.data -- sleep 8 >/dev/null 2>&1
perf stat -x, -e raw_syscalls:sys_enter,context-switches,cpu-migrations,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_sendto,syscalls:sys_enter_sendmsg,syscalls:sys_enter_recvfrom,syscalls:sys_enter_read,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_futex,syscalls:sys_enter_sched_yield \
  -p $SPID -o $OUT/$LABEL-$N.perf -- sleep 10
c1=$(ctx); t1=$(tick); s1=$(awk '{print $14+$15}' /proc/$SPID/stat)
echo "ctx0 $c0 ctx1 $c1 tick0 $t0 tick1 $t1 cpu_ticks $((s1-s0)) load $(cut -d' ' -f1-3 /proc/loadavg)" > $OUT/$LABEL-$N.txt
wait $BPID
kill $SPID; wait $SPID 2>/dev/null
python3 - "$OUT/$LABEL-$N" "$N" <<'PY'
import json,sys
base,n=sys.argv[1],int(sys.argv[2])
r=json.load(open(base+'.json'))
t=open(base+'.txt').read().split()
w=t
ctx0v,ctx0n=int(w[1]),int(w[2]); ctx1v,ctx1n=int(w[4]),int(w[5]); tick0,tick1=float(w[7]),float(w[9]); cpu=int(w[11])
ev={}
for line in open(base+'.perf'):
    p=line.strip().split(',')
    if len(p)>3 and p[0].replace('.','').isdigit(): ev[p[2]]=float(p[0])
ticks=tick1-tick0; conn=r.get('connected',n)
def g(k): return ev.get(k,0)
out={k:r.get(k) for k in ('connected','snapshots_per_sec','bots_cpu_percent')}
out['server_cpu_steady']=r['server'].get('cpu_percent'); out['tick_p50']=r['server'].get('tick_p50_ms'); out['ack_p99']=r['move_ack'].get('p99_ms') if isinstance(r.get('move_ack'),dict) else None
out['server_cpu_window_pct']=cpu/10.0  # clock ticks (100/s) over 10 s -> % of a core
out['ticks']=ticks
out['ctx_per_s_proc']=((ctx1v+ctx1n)-(ctx0v+ctx0n))/10
out['ctx_per_s_perf']=g('context-switches')/10
out['syscalls_per_s']=g('raw_syscalls:sys_enter')/10
for k in ('write','writev','sendto','sendmsg','recvfrom','read','epoll_wait','futex','sched_yield'):
    out[k+'_per_s']=g('syscalls:sys_enter_'+k)/10
if ticks>0:
    out['writes_per_socket_tick']=(g('syscalls:sys_enter_write')+g('syscalls:sys_enter_writev')+g('syscalls:sys_enter_sendto'))/(ticks*conn)
    out['syscalls_per_socket_tick']=g('raw_syscalls:sys_enter')/(ticks*conn)
print(json.dumps(out))
PY
