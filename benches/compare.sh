#!/usr/bin/env bash
# Whole-tree comparison of fim against b3sum and AIDE on two real trees from Debian
# packages: WordPress (/usr/share/wordpress, symlinks dereferenced) and the Linux 6.1
# kernel source. Each measurement runs with a warm page cache (warmed right before it).
#
#   benches/compare.sh            # installs what it needs (as root), then measures
#   RUNS=10 benches/compare.sh    # more repetitions per measurement
#
# Prints wall times (hyperfine mean), fim's ratios to the anchors, peak RSS and the
# baseline's bytes per entry. Data lives in benches/data (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
DATA=$PWD/benches/data
mkdir -p "$DATA"

need_pkgs=()
[ -d /usr/share/wordpress ] || need_pkgs+=(wordpress)
ls /usr/src/linux-source-6.1.tar.* >/dev/null 2>&1 || need_pkgs+=(linux-source-6.1)
command -v aide >/dev/null || need_pkgs+=(aide)
command -v hyperfine >/dev/null || need_pkgs+=(hyperfine)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi
command -v b3sum >/dev/null || cargo install --quiet b3sum
export PATH=$HOME/.cargo/bin:$PATH

[ -d "$DATA/wordpress" ] || cp -rL /usr/share/wordpress "$DATA/wordpress" 2>/dev/null || true
if [ ! -d "$DATA/linux" ]; then
    tar -C "$DATA" -xf /usr/src/linux-source-6.1.tar.*
    mv "$DATA/linux-source-6.1" "$DATA/linux"
fi

cargo build --release --quiet
FIM=$PWD/target/release/fim

# mean wall seconds of a command, page cache warmed before each run
mean() {
    local tree=$1; shift
    hyperfine --style none --runs "$RUNS" --warmup 1 -i \
        --prepare "find $tree -type f -print0 | xargs -0 cat >/dev/null" \
        --export-json "$DATA/h.json" "$@" >/dev/null 2>&1
    python3 -c 'import json,sys; print("%.3f" % json.load(open(sys.argv[1]))["results"][0]["mean"])' "$DATA/h.json"
}

peak_rss_mb() {
    /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1 | awk '{printf "%.0f", $1/1024}'
}

printf '%-10s %8s %8s %8s %8s %8s %8s %8s %8s %8s %8s %8s\n' tree entries b3sum aide-init aide-check fim-init fim-verify init/b3 verify/b3 aide/verify rss-MB B/entry
for name in wordpress linux; do
    tree=$DATA/$name
    db=$DATA/$name.db
    entries=$(find "$tree" | wc -l)
    cat >"$DATA/$name.aide.conf" <<CONF
database_in=file:$DATA/$name.aide.db
database_out=file:$DATA/$name.aide.db
report_url=stdout
R = p+u+g+s+m+c+i+n+sha256
$tree R
CONF
    b3=$(mean "$tree" "cd $tree && find . -type f -print0 | xargs -0 b3sum")
    ainit=$(mean "$tree" "aide --init -c $DATA/$name.aide.conf")
    acheck=$(mean "$tree" "aide --check -c $DATA/$name.aide.conf")
    finit=$(mean "$tree" "$FIM init -q --force --accept-suspicious --db $db $tree")
    fverify=$(mean "$tree" "$FIM verify -q --db $db")
    rss=$(peak_rss_mb "$FIM" verify -q --db "$db")
    bpe=$(( $(stat -c %s "$db") / entries ))
    python3 - "$name" "$entries" "$b3" "$ainit" "$acheck" "$finit" "$fverify" "$rss" "$bpe" <<'PY'
import sys
n, e, b3, ai, ac, fi, fv, rss, bpe = sys.argv[1:]
b3, ai, ac, fi, fv = map(float, (b3, ai, ac, fi, fv))
print("%-10s %8s %8.3f %8.3f %8.3f %8.3f %8.3f %7.2fx %7.2fx %7.1fx %8s %8s" % (n, e, b3, ai, ac, fi, fv, fi / b3, fv / b3, ac / fv, rss, bpe))
PY
done
echo "targets: init/b3 and verify/b3 <= 1.0x; aide-check/fim-verify >= 10x; rss < 100 MB; < 300 B/entry"
