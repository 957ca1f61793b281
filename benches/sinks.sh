#!/usr/bin/env bash
# Sink throughput and the outbox's cost on `verify`, on loopback.
#
# A tree of 10,000 files is baselined, then every file is changed, so each `verify`
# reports 10,000 events. verify runs with no sink, then with one sink at a time; the
# difference is that sink's delivery (rendering, reading the outbox, sending, moving
# the cursor), and 10,000 / difference its events per second. A file sink into
# /dev/null measures the outbox alone. Receivers: rsyslogd (UDP, TCP, unix socket), a
# Python HTTP server for the webhook and Slack, aiosmtpd for e-mail.
# Usage: benches/sinks.sh [EVENTS]   (needs hyperfine, rsyslog, python3-aiosmtpd)
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-10000}
cargo build --release -q
fim=$PWD/target/release/fim
work=$(mktemp -d /var/tmp/fim-sinks-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/www"
for ((i = 0; i < events; i++)); do
    d=$work/www/d$((i / 500))
    [ -d "$d" ] || mkdir "$d"
    printf 'file %d\n' "$i" >"$d/f$i.html"
done

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
udp=$(port); tcp=$(port); http=$(port); smtp=$(port)
cat >"$work/rsyslog.conf" <<CONF
global(workDirectory="$work" maxMessageSize="64k")
module(load="imudp")
module(load="imtcp")
module(load="imuxsock" SysSock.Use="off")
ruleset(name="fim") { action(type="omfile" file="$work/syslog.out") }
input(type="imudp" address="127.0.0.1" port="$udp" ruleset="fim")
input(type="imtcp" address="127.0.0.1" port="$tcp" ruleset="fim")
input(type="imuxsock" Socket="$work/log.sock" UseSpecialParser="off" ruleset="fim")
CONF
/usr/sbin/rsyslogd -n -f "$work/rsyslog.conf" -i "$work/rsyslogd.pid" &
python3 - "$http" <<'PY' &
import http.server, sys
class Ok(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Ok).serve_forever()
PY
/usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$smtp" -c aiosmtpd.handlers.Sink &
sleep 2

policy() { # policy NAME [SINK TABLE]
    {
        printf '[[watch]]\npath = "%s/www"\n' "$work"
        if [ $# -gt 1 ]; then printf '\n[[sink]]\n%s\n' "$2"; fi
    } >"$work/$1.toml"
}
policy none
policy devnull 'type = "file"
path = "/dev/null"'
policy file "type = \"file\"
path = \"$work/events.jsonl\""
policy file-ecs "type = \"file\"
path = \"$work/events-ecs.jsonl\"
format = \"ecs\""
policy file-ocsf "type = \"file\"
path = \"$work/events-ocsf.jsonl\"
format = \"ocsf\""
policy syslog-udp "type = \"syslog\"
address = \"udp://127.0.0.1:$udp\""
policy syslog-tcp "type = \"syslog\"
address = \"tcp://127.0.0.1:$tcp\""
policy syslog-unix "type = \"syslog\"
address = \"unix://$work/log.sock\""
policy webhook "type = \"webhook\"
url = \"http://127.0.0.1:$http/\""
policy slack "type = \"slack\"
url = \"http://127.0.0.1:$http/\""
policy email "type = \"email\"
smtp = \"smtp://127.0.0.1:$smtp\"
from = \"fim@example.org\"
to = [\"ops@example.org\"]"

"$fim" init -q --db "$work/base.db" --policy "$work/none.toml"
for f in "$work"/www/*/*.html; do echo changed >>"$f"; done
# Every run starts from the same baseline: the history grows by 10,000 events a run,
# and a bigger database file would make later commands look slower.
cp "$work/base.db" "$work/base.clean"

names=(none devnull file file-ecs file-ocsf syslog-udp syslog-tcp syslog-unix webhook slack email)
cmds=()
for n in "${names[@]}"; do
    cmds+=(-n "$n" "$fim verify -q --db $work/base.db --policy $work/$n.toml >/dev/null; test \$? -eq 1")
done
hyperfine --warmup 1 --runs 5 --prepare "cp $work/base.clean $work/base.db" --export-json "$work/sinks.json" "${cmds[@]}"
python3 - "$work/sinks.json" "$events" <<'PY'
import json, sys
results = {r["command"]: r["mean"] for r in json.load(open(sys.argv[1]))["results"]}
events = int(sys.argv[2])
base = results.pop("none")
print(f"\nverify, {events} events, no sink: {base:.3f} s")
print(f"{'sink':<12} {'verify s':>9} {'delivery s':>11} {'events/s':>10} {'cost':>7}")
for name, mean in results.items():
    extra = max(mean - base, 1e-9)
    print(f"{name:<12} {mean:>9.3f} {extra:>11.3f} {events / extra:>10.0f} {100 * extra / base:>6.1f}%")
PY
