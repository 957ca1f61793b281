#!/usr/bin/env bash
# `fim analyze` over a generated 1M-line auth.log (benches/authlog.py), every auth
# detector on, against the anchor `fail2ban-regex LOG sshd` (Debian `fail2ban`) on the
# same file. Prints wall time and lines/s of both (the goal: fim ≥ 150,000 lines/s).
#
#   benches/auth.sh              # installs fail2ban if missing (as root), then measures
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=$PWD/benches/data
mkdir -p "$DATA"
command -v fail2ban-regex >/dev/null || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fail2ban >/dev/null
}
LOG=$DATA/auth-1m.log
[ -s "$LOG" ] || python3 benches/authlog.py "$LOG"
LINES=$(wc -l <"$LOG")
cargo build --release --quiet
FIM=$PWD/target/release/fim

measure() { # NAME COMMAND...
    local name=$1 start end
    shift
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || true
    end=$(date +%s.%N)
    python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'$name: {s:.2f} s, {int(sys.argv[3])/s:,.0f} lines/s')" "$start" "$end" "$LINES"
}
measure "fim analyze" "$FIM" analyze --log-format auth "$LOG"
measure "fail2ban-regex sshd" fail2ban-regex "$LOG" sshd
