#!/bin/sh
# CrowdSec (Debian package crowdsec 1.4.6) in replay ("time-machine") mode on the
# labeled access log fim is measured on, scored the way weblog.py scores fim.
#
#     sudo benches/crowdsec.sh [LOG] [LABELS]
#
# Run as root; idempotent. Offline: no hub update, no Central API (CAPI); the local
# API (LAPI) runs inside the replaying crowdsec process on 127.0.0.1:8080 only, since
# that is where alerts are stored (sqlite), and cscli reads them back from there.
# Writes to $OUT (default /var/tmp/crowdsec-bench)/crowdsec-{time.txt,alerts.json,detections.jsonl,score.txt}.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
LOG=${1:-$HERE/data/access-1m.log}
LABELS=${2:-$HERE/data/access-1m.labels}
OUT=${OUT:-/var/tmp/crowdsec-bench}; mkdir -p "$OUT"
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
for c in crowdsecurity/nginx crowdsecurity/base-http-scenarios crowdsecurity/http-cve; do
    timeout 60 cscli --error collections install "$c" 2>/dev/null || true  # already linked by the postinst
done
timeout 60 cscli collections list -o raw > "$OUT/crowdsec-collections.txt" 2>&1 || true
timeout 60 cscli scenarios list -o raw > "$OUT/crowdsec-scenarios.txt" 2>&1 || true

# 2. Start from an empty alert/decision store, so only this replay is counted.
timeout 60 cscli --error alerts delete --all >/dev/null 2>&1 || true
timeout 60 cscli --error decisions delete --all >/dev/null 2>&1 || true

# 3. Replay. -dsn/-type: time-machine mode (bucket clocks follow the log's timestamps,
# the process exits once the file is read and the buckets are flushed); -no-capi: no
# Central API. The LAPI is kept (listen_uri 127.0.0.1:8080): the agent pushes its
# alerts to it. Logs go to /var/log/crowdsec.log.
: > /var/log/crowdsec.log 2>/dev/null || true
timeout 900 /usr/bin/time -v -o "$OUT/crowdsec-time.txt" \
    crowdsec -c /etc/crowdsec/config.yaml -dsn "file://$LOG" -type nginx -no-capi \
    || echo "crowdsec exited with $? (see /var/log/crowdsec.log)" >&2

# 4. Alerts -> the JSONL weblog.py scores (kind = scenario, client = source IP).
# A second LAPI-only process (-no-cs) serves the stored alerts to cscli.
crowdsec -c /etc/crowdsec/config.yaml -no-cs -no-capi &
LAPI=$!
trap 'kill $LAPI 2>/dev/null || true' EXIT
for _ in $(seq 1 30); do
    timeout 5 cscli --error alerts list -l 1 >/dev/null 2>&1 && break
    sleep 1
done
timeout 300 cscli alerts list -l 0 -o json > "$OUT/crowdsec-alerts.json"
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
grep -E 'Elapsed|Maximum resident|Percent of CPU|User time|System time' "$OUT/crowdsec-time.txt"
