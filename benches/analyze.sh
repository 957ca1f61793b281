#!/usr/bin/env bash
# `fim analyze` against GoAccess on the same 1M-line combined log (one day of a site:
# people browsing, crawlers, monitoring, 300 attackers of every kind, 500,000 distinct
# client addresses, a few minutes of 5xx), then detection quality on that labeled log.
#
#   benches/analyze.sh           # installs what it needs (as root), then measures
#   RUNS=5 benches/analyze.sh    # more repetitions (default 3)
#
# Prints the mean wall time and lines/s of both (hyperfine, warm page cache), fim's
# speed-up over GoAccess (the goal is 4×), fim's peak RSS (the goal is < 256 MB), and per
# detector how many attackers it caught and how many benign clients it flagged (the goal
# is 0). GoAccess only parses and counts; fim runs every detector. Data lives in
# benches/data (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
DATA=$PWD/benches/data
mkdir -p "$DATA"

need=()
command -v goaccess >/dev/null || need+=(goaccess)
command -v hyperfine >/dev/null || need+=(hyperfine)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

LOG=$DATA/access-1m.log
LABELS=$DATA/access-1m.labels
[ -s "$LOG" ] && [ -s "$LABELS" ] || python3 benches/weblog.py generate "$LOG" "$LABELS"
LINES=$(wc -l <"$LOG")

cargo build --release --quiet
FIM=$PWD/target/release/fim

# `fim analyze` exits 1 when it detected something: that is success here.
hyperfine --runs "$RUNS" --warmup 1 --export-json "$DATA/analyze.json" \
    -n fim "$FIM analyze $LOG >/dev/null || [ \$? -eq 1 ]" \
    -n goaccess "goaccess $LOG --log-format=COMBINED -o $DATA/report.json 2>/dev/null" >/dev/null

python3 - "$DATA/analyze.json" "$LINES" <<'EOF'
import json, sys
results = {r["command"]: r["mean"] for r in json.load(open(sys.argv[1]))["results"]}
lines = int(sys.argv[2])
for name, mean in results.items():
    print(f"{name:9} {mean:7.2f} s  {lines / mean:>10,.0f} lines/s")
print(f"fim is {results['goaccess'] / results['fim']:.2f}x GoAccess (goal: 4x)")
EOF

/usr/bin/time -v "$FIM" analyze "$LOG" >"$DATA/detections.jsonl" 2>"$DATA/time.txt" || [ $? -eq 1 ]
rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$DATA/time.txt")
echo "fim peak RSS: $((rss / 1024)) MB (goal: < 256 MB); $(wc -l <"$DATA/detections.jsonl") detections"

python3 benches/weblog.py score "$LABELS" "$DATA/detections.jsonl"
