#!/usr/bin/env bash
# Added latency of a cross-instance delivery over a same-instance one (issue 15) at the musical load (the native
# harness's scenario a: 10 users in one group, each 50 msg/s, fan-out 9): one nats-server -js and two routers with
# --cluster; users alternate between the two routers, and the harness's loadgen, patched by loadgen_cluster.patch
# (--port2, --settle), splits its latency histogram into same-instance and cross-instance deliveries. A run of one router
# without --cluster (all users on it) is printed for comparison.
#
#   bench/cluster_latency.sh [--duration S] [--scale] [--shared DIR]   (DIR: the native harness, default ../shared/bench)
#
# --scale runs the harness's scenario h instead (250 groups x 4 users, each 20 msg/s): with users alternating
# between the two routers, every group spans both (the worst case for NATS traffic).
#
# Prints one JSON line per run (the loadgen's, with same_p99_us and cross_p99_us) and a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=10
SCALE=0
SHARED=../shared/bench
[ -d "$SHARED" ] || SHARED=/work/shared/bench
while [ $# -gt 0 ]; do
  case $1 in
    --duration) DURATION=$2; shift 2 ;;
    --scale) SCALE=1; shift ;;
    --shared) SHARED=$2; shift 2 ;;
    *) echo "usage: $0 [--duration S] [--scale] [--shared DIR]" >&2; exit 2 ;;
  esac
done
command -v nats-server >/dev/null || { echo "needs nats-server (apt install nats-server)" >&2; exit 1; }
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
cp "$SHARED/loadgen.c" "$WORK/loadgen.c"
(cd "$WORK" && patch -s -p0 <"$OLDPWD/bench/loadgen_cluster.patch" && cc -O2 -Wall -o loadgen loadgen.c -lm)

wait_port() { for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
router() { # port, extra args...
  local port=$1; shift
  deno run --frozen --allow-net --allow-env --allow-read --allow-write main.ts --host 127.0.0.1 --osc-port "$port" \
    --disable-osc11 --log-level warning --max-connections-per-address 2000 --max-unregistered-per-address 2000 \
    --max-registers-per-second 100000 --max-connections 2000 "$@" >"$WORK/router-$port.log" 2>&1 &
  PIDS+=($!)
  wait_port "$port"
}
LOAD=(--senders 10 --receivers 0 --rate 50 --duration "$DURATION")
# (1,000 users register first: each new name is hashed (scrypt) before it is put in the shared state.)
[ $SCALE = 1 ] && LOAD=(--groups 250 --senders 4 --receivers 0 --rate 20 --duration "$DURATION" --drain 5 --settle 300)

nats-server -js -a 127.0.0.1 -p 24222 -sd "$WORK/js" >"$WORK/nats.log" 2>&1 &
PIDS+=($!)
wait_port 24222
router 26555 --cluster nats://127.0.0.1:24222 --cluster-name bench
A=${PIDS[-1]}
router 26565 --cluster nats://127.0.0.1:24222 --cluster-name bench
B=${PIDS[-1]}
cluster=$("$WORK/loadgen" --port 26555 --port2 26565 "${LOAD[@]}" --pid "$A,$B" --label cluster || true)
echo "$cluster"
router 26575
single=$("$WORK/loadgen" --port 26575 "${LOAD[@]}" --pid "${PIDS[-1]}" --label single || true)
echo "$single"
python3 - "$cluster" "$single" <<'PY'
import json, sys
c, s = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"same instance p50/p99: {c['same_p50_us']}/{c['same_p99_us']} us; cross instance p50/p99: "
      f"{c['cross_p50_us']}/{c['cross_p99_us']} us; added p99: {c['cross_p99_us'] - c['same_p99_us']:.1f} us; "
      f"lost {c['lost']}, gaps {c['gaps']}")
print(f"one router without --cluster p50/p99: {s['p50_us']}/{s['p99_us']} us; lost {s['lost']}")
print(f"router CPU: two instances {c['router_cpu_pct']}% (sum), one router {s['router_cpu_pct']}%; "
      f"deliveries/s {c['deliv_per_s']} vs {s['deliv_per_s']}")
PY
