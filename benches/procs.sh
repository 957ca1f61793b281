#!/usr/bin/env bash
# The process detectors' cost (run as root: the exec events need it).
# 1. `fim watch` with `[processes]` (default 10 s scans, exec events on): its CPU at
#    idle for SECONDS, then while benches/forkload.c starts RATE short programs a second
#    (half /bin/true, half `sh -c true`) for SECONDS; CPU from /proc/PID/stat (all
#    threads). Goal: < 5 % of a core above idle at 1,000 execs/s. Beside it, the floor
#    (benches/connector_floor.c): a C reader that only receives the events, and one that
#    also reads each exec'd process's stat and exe, under the same load.
# 2. One full /proc look with PROCS processes (sleepers are started to reach it):
#    `fim verify` with `[processes]` minus the same verify without it, against
#    `ps -eo pid,ppid,user,exe,args` (the table) and `ss -lptn` (the listeners).
#
#   benches/procs.sh [RATE] [SECONDS] [PROCS]     # defaults: 1000 30 2000
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-1000}
SECONDS_=${2:-30}
PROCS=${3:-2000}
FIM=${FIM:-$PWD/target/release/fim}
[ -n "${FIM_NO_BUILD:-}" ] || cargo build --release --quiet
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
# Built outside /tmp: a program run from there is itself an event.
LOAD=$PWD/target/forkload
gcc -O2 -o "$LOAD" benches/forkload.c
mkdir -p "$WORK/www"
echo hello >"$WORK/www/index.html"
cat >"$WORK/procs.toml" <<TOML
[[watch]]
path = "$WORK/www"

[processes]
TOML
grep -v processes "$WORK/procs.toml" >"$WORK/files.toml"
"$FIM" init -q --db "$WORK/db" --policy "$WORK/procs.toml"
TICK=$(getconf CLK_TCK)

cpu() { # PID → utime+stime ticks
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}
share() { # TICKS SECONDS → percent of a core
    python3 -c "import sys; print(f'{int(sys.argv[1]) / $TICK / float(sys.argv[2]) * 100:.2f}')" "$1" "$2"
}

"$FIM" watch -q --db "$WORK/db" --policy "$WORK/procs.toml" --output "$WORK/events.jsonl" &
WATCH=$!
PIDS+=("$WATCH")
sleep 3
a=$(cpu "$WATCH"); sleep "$SECONDS_"; b=$(cpu "$WATCH")
idle=$(share $((b - a)) "$SECONDS_")
a=$(cpu "$WATCH")
start=$(date +%s.%N)
started=$("$LOAD" "$RATE" "$SECONDS_")
end=$(date +%s.%N)
sleep 1 # the last poll
b=$(cpu "$WATCH")
took=$(python3 -c "print(float('$end') - float('$start'))")
load=$(share $((b - a)) "$took")
rate=$(python3 -c "print(round($started / $took))")
echo "fim watch CPU: idle $idle % of a core; under $rate execs/s ($started in ${took%.*} s): $load %"
python3 -c "print(f'  above idle: {$load - $idle:.2f} % of a core ({($load - $idle) * 1000 / max($rate, 1):.2f} % per 1,000 execs/s)')"
echo "  process events while loaded: $(grep -c '"category":"process"' "$WORK/events.jsonl" || true)"
grep '"category":"process"' "$WORK/events.jsonl" | cut -c1-300 || true
kill "$WATCH"
wait "$WATCH" 2>/dev/null || true

FLOOR=$PWD/target/connector_floor
gcc -O2 -o "$FLOOR" benches/connector_floor.c
for mode in 0 1; do
    "$FLOOR" "$mode" &
    reader=$!
    sleep 1
    a=$(cpu "$reader")
    start=$(date +%s.%N)
    "$LOAD" "$RATE" "$SECONDS_" >/dev/null
    end=$(date +%s.%N)
    b=$(cpu "$reader")
    kill "$reader"
    wait "$reader" 2>/dev/null || true
    took=$(python3 -c "print(float('$end') - float('$start'))")
    what=$([ "$mode" = 0 ] && echo "receives every event" || echo "reads stat and exe of each exec")
    echo "  floor, a C reader that $what: $(share $((b - a)) "$took") % of a core"
done

nprocs() { local n=0 d; for d in /proc/[0-9]*; do n=$((n + 1)); done; echo "$n"; }
now=$(nprocs)
for _ in $(seq "$now" "$((PROCS - 1))"); do
    sleep 600 &
    PIDS+=($!)
done
echo "processes: $(nprocs)"
best() { # NAME COMMAND... → the best of 5 wall times, in ms
    local name=$1 t b=999999
    shift
    for _ in 1 2 3 4 5; do
        t=$(date +%s%N)
        "$@" >/dev/null 2>&1 || true
        t=$((($(date +%s%N) - t) / 1000000))
        [ "$t" -lt "$b" ] && b=$t
    done
    echo "$b"
}
with=$(best verify "$FIM" verify -q --db "$WORK/db" --policy "$WORK/procs.toml")
without=$(best verify "$FIM" verify -q --db "$WORK/db" --policy "$WORK/files.toml")
ps_ms=$(best ps ps -eo pid,ppid,user,exe,args)
ss_ms=$(best ss ss -lptn)
echo "full /proc look: fim $((with - without)) ms (verify $with ms, without [processes] $without ms); ps -eo pid,ppid,user,exe,args $ps_ms ms; ss -lptn $ss_ms ms"
