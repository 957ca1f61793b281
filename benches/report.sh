#!/usr/bin/env bash
# `fim report` over a baseline holding 100,000 recorded events (the goal: under 2 s,
# a page under 5 MB): 90,000 new files found by one verify (in 300 folders, a third
# of them under an upload rule), then an access log replayed with `analyze --db`
# (10,000 clients each probing for sensitive files, and 200,000 ordinary requests).
# Prints the event count, the wall time of the report and the page's size.
#
#   benches/report.sh            # N=100000 by default
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=${FILES:-90000}
CLIENTS=${CLIENTS:-10000}
cargo build --release --quiet
FIM=$PWD/target/release/fim
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
mkdir -p "$DIR/www/uploads"
cat >"$DIR/policy.toml" <<POLICY
[[watch]]
path = "$DIR/www"

[[rule]]
name = "upload-code"
paths = ["uploads/**"]
severity = "high"
POLICY
"$FIM" init -q --policy "$DIR/policy.toml" --db "$DIR/db"
python3 - "$DIR" "$FILES" "$CLIENTS" <<'PY'
import datetime, os, sys
root, files, clients = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(files):
    d = os.path.join(root, "www", "uploads" if i % 3 == 0 else "site", f"d{i % 300}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i}.html"), "w") as f:
        f.write("x")
now = datetime.datetime.now(datetime.timezone.utc)
with open(os.path.join(root, "access.log"), "w") as log:
    lines = []
    for c in range(clients):
        ip = f"10.{c // 65536 % 256}.{c // 256 % 256}.{c % 256}"
        for j, path in enumerate(["/.env", "/.git/config", "/wp-config.php.bak"]):
            t = now - datetime.timedelta(seconds=86000 * (clients - c) / clients - j)
            lines.append((t, f'{ip} - - [{t:%d/%b/%Y:%H:%M:%S +0000}] "GET {path} HTTP/1.1" 404 100 "-" "curl/8"'))
    for k in range(200000):
        t = now - datetime.timedelta(seconds=86000 * (200000 - k) / 200000)
        lines.append((t, f'192.0.2.{k % 200} - - [{t:%d/%b/%Y:%H:%M:%S +0000}] "GET /p{k % 5000} HTTP/1.1" {404 if k % 17 == 0 else 200} 500 "-" "Mozilla/5.0"'))
    lines.sort(key=lambda x: x[0])
    log.write("\n".join(l for _, l in lines) + "\n")
PY
"$FIM" verify -q --db "$DIR/db" >/dev/null || true
"$FIM" analyze -q --policy "$DIR/policy.toml" --db "$DIR/db" "$DIR/access.log" >/dev/null || true
EVENTS=$("$FIM" events --db "$DIR/db" | wc -l)
start=$(date +%s.%N)
"$FIM" report --db "$DIR/db" --out "$DIR/report.html"
end=$(date +%s.%N)
SIZE=$(stat -c %s "$DIR/report.html")
python3 -c "import sys; print(f'{int(sys.argv[3]):,} events: report in {float(sys.argv[2])-float(sys.argv[1]):.2f} s, {int(sys.argv[4])/1e6:.2f} MB')" "$start" "$end" "$EVENTS" "$SIZE"
