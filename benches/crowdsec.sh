#!/bin/sh
# CrowdSec (Debian package crowdsec 1.4.6) in replay ("time-machine") mode on the
# labeled access log fim is measured on, scored the way weblog.py scores fim.
#
#     sudo benches/crowdsec.sh [LOG] [LABELS]      FULL=1 to replay the whole log
#
# By default it replays a per-client subset (every line of every attacker, flood capped
# at 300 lines each; all monitor and login clients; 2 crawler hosts; 2000 random
# browsing clients; ~34k lines): CrowdSec 1.4.6 replays at ~200-230 lines/s here (2
# shared cores), so the 1M-line log would take ~75-80 min. The http scenarios bucket
# by source IP, so each kept client is judged on its exact own history.
#
# Run as root; idempotent. Offline: no hub update, no Central API (CAPI). The local API
# (LAPI, 127.0.0.1:8080 only) runs as its own process (-no-cs) and stores the alerts in
# sqlite; the replaying agent runs with -no-api (with the LAPI in-process, a -dsn run
# never exits) and pushes its alerts to it; cscli reads them back.
# Writes to $OUT (default /var/tmp/crowdsec-bench)/crowdsec-{time.txt,alerts.json,detections.jsonl,score.txt}.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
LOG=${1:-$HERE/data/access-1m.log}
LABELS=${2:-$HERE/data/access-1m.labels}
OUT=${OUT:-/var/tmp/crowdsec-bench}; mkdir -p "$OUT"
CSCLI="cscli --branch master"  # else cscli asks version.crowdsec.net for the hub branch and dies
CAPI=/etc/crowdsec/online_api_credentials.yaml

# 1. Setup. The package's postinst fails offline at `cscli capi register` (it only
# registers when $CAPI is empty), so mark CAPI as deliberately unconfigured and let
# dpkg finish the configuration: offline hub (symlinks /var/lib/crowdsec/hub ->
# /usr/share/crowdsec/hub, .index.json included), the upstream-recommended items
# (collections linux, sshd, nginx, apache2, base-http-scenarios, http-cve, plus the
# whitelists parser) linked from /etc/crowdsec, data files, sqlite WAL.
if [ ! -s "$CAPI" ]; then
    echo "# offline: CAPI deliberately not registered (benches/crowdsec.sh)" > "$CAPI"
fi
if ! dpkg-query -W -f '${Status}' crowdsec | grep -q 'ok installed'; then
    timeout 300 dpkg --configure crowdsec
fi
# Debian ships path_traversal.txt but the scenario wants http_path_traversal.txt (its
# dest_file); without it http-path-traversal-probing errors on every event.
cp -n /usr/share/crowdsec/data/*.txt /var/lib/crowdsec/data/ 2>/dev/null || true
[ -e /var/lib/crowdsec/data/http_path_traversal.txt ] ||
    cp /usr/share/crowdsec/data/path_traversal.txt /var/lib/crowdsec/data/http_path_traversal.txt
for c in crowdsecurity/nginx crowdsecurity/base-http-scenarios crowdsecurity/http-cve; do
    timeout 60 $CSCLI --error collections install "$c" 2>/dev/null || true  # already linked by the postinst
done
timeout 60 $CSCLI collections list -o raw > "$OUT/crowdsec-collections.txt" 2>&1 || true
timeout 60 $CSCLI scenarios list -o raw > "$OUT/crowdsec-scenarios.txt" 2>&1 || true

# 2. The subset (unless FULL=1), then a LAPI of our own, then an empty alert store.
if [ "${FULL:-0}" != 1 ]; then
    timeout 300 python3 - "$LOG" "$LABELS" "$OUT/subset.log" <<'EOF'
import random, sys
# Per-client subset: every line of every attacker (flood: first 300 lines each), all monitor
# and login clients, 2 crawler hosts, 2000 random browsing clients. CrowdSec's http
# scenarios bucket per source IP, so each kept client sees exactly its own full history.
log, labels, out = sys.argv[1:4]
rng = random.Random(1)
keep, cap, browse = {}, {}, []
for row in open(labels):
    a, who, what = row.rstrip("\n").split("\t")
    if who == "attacker": keep[a] = 300 if what == "flood" else None
    elif what in ("monitor", "login"): keep[a] = None
    elif what == "crawler" and a in ("66.249.66.1", "157.55.39.1"): keep[a] = None
    elif what == "browse": browse.append(a)
for a in rng.sample(browse, 2000): keep[a] = None
n = 0
with open(out, "w") as f:
    for line in open(log):
        a = line.split(" ", 1)[0]
        if a in keep:
            c = cap.get(a, 0)
            if keep[a] is None or c < keep[a]:
                cap[a] = c + 1; f.write(line); n += 1
with open(out + ".labels", "w") as f:
    for row in open(labels):
        if row.split("\t", 1)[0] in keep: f.write(row)
print(n, "lines", len(keep), "clients", file=sys.stderr)
EOF
    LOG=$OUT/subset.log; LABELS=$OUT/subset.log.labels
fi
crowdsec -c /etc/crowdsec/config.yaml -no-cs -no-capi > "$OUT/lapi.out" 2>&1 &
LAPI=$!
trap 'kill $LAPI 2>/dev/null || true' EXIT
for _ in $(seq 1 30); do
    timeout 5 $CSCLI --error alerts list -l 1 >/dev/null 2>&1 && break
    sleep 1
done
timeout 60 $CSCLI --error alerts delete --all >/dev/null 2>&1 || true
timeout 60 $CSCLI --error decisions delete --all >/dev/null 2>&1 || true

# 3. Replay. -dsn/-type: time-machine mode (bucket clocks follow the log's timestamps;
# the agent exits once the file is read and the buckets are flushed); -no-capi: no
# Central API; -no-api: alerts go to the LAPI above.
timeout 900 /usr/bin/time -v -o "$OUT/crowdsec-time.txt" \
    crowdsec -c /etc/crowdsec/config.yaml -dsn "file://$LOG" -type nginx -no-capi -no-api \
    > "$OUT/replay.out" 2>&1 || echo "crowdsec exited with $? (see $OUT/replay.out)" >&2

# 4. Alerts -> the JSONL weblog.py scores (kind = scenario, client = source IP).
timeout 300 $CSCLI alerts list -l 0 -o json > "$OUT/crowdsec-alerts.json"
kill $LAPI; wait $LAPI 2>/dev/null || true; trap - EXIT
python3 - "$OUT/crowdsec-alerts.json" "$OUT/crowdsec-detections.jsonl" <<'EOF'
import json, sys
alerts = json.load(open(sys.argv[1])) or []
with open(sys.argv[2], "w") as f:
    for a in alerts:
        src = a.get("source") or {}
        ip = src.get("ip") or src.get("value")
        if src.get("scope", "Ip") == "Ip" and ip:
            f.write(json.dumps({"kind": a.get("scenario"), "client": ip}) + "\n")
print(f"{len(alerts)} alerts", file=sys.stderr)
EOF
python3 "$HERE/weblog.py" score "$LABELS" "$OUT/crowdsec-detections.jsonl" | tee "$OUT/crowdsec-score.txt"
# Scenario -> which labeled kinds it caught, and benign flagged per scenario.
python3 - "$LABELS" "$OUT/crowdsec-detections.jsonl" <<'EOF' | tee -a "$OUT/crowdsec-score.txt"
import collections, ipaddress, json, sys
labels = {}
for row in open(sys.argv[1]):
    a, who, what = row.rstrip("\n").split("\t")
    labels[ipaddress.ip_address(a)] = (who, what)
per = collections.defaultdict(lambda: collections.defaultdict(set))
caught = collections.defaultdict(set)
for row in open(sys.argv[2]):
    e = json.loads(row)
    ip = ipaddress.ip_address(e["client"])
    who, what = labels.get(ip, ("unknown", "?"))
    per[e["kind"]][f"{who}:{what}"].add(ip)
    if who == "attacker":
        caught[what].add(ip)
print("\nper scenario (distinct clients by label):")
for s in sorted(per):
    print(f"  {s}: " + ", ".join(f"{k}={len(v)}" for k, v in sorted(per[s].items())))
total = collections.Counter(w for who, w in labels.values() if who == "attacker")
print("\nattackers caught per labeled kind (by any scenario):")
for k in sorted(total):
    print(f"  {k:22} {len(caught[k])}/{total[k]}")
EOF
echo "lines replayed: $(wc -l < "$LOG")"
grep -E 'Elapsed|Maximum resident|Percent of CPU|User time|System time' "$OUT/crowdsec-time.txt"
