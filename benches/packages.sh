#!/usr/bin/env bash
# The full package-integrity pass (`[host] packages = true`: every package file under
# the watched trees against dpkg's MD5 sums) against the anchor `debsums -c` (Debian
# `debsums`) over the same packages: every installed package, its files under /usr and
# /etc (where dpkg puts nearly all of them). Each is run twice, the second (warm page
# cache) is reported; fim's figure is the pass itself, as `fim verify -v` logs it (the
# baseline comparison of the same run is not counted), and the whole verify beside it.
#
#   benches/packages.sh          # installs debsums if missing (as root), then measures
set -euo pipefail
cd "$(dirname "$0")/.."
command -v debsums >/dev/null || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debsums >/dev/null
}
cargo build --release --quiet
FIM=$PWD/target/release/fim
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cat >"$WORK/policy.toml" <<POLICY
[[watch]]
path = "/usr"

[[watch]]
path = "/etc"

[host]
updates = false
exposure = false
packages = true
POLICY
# /usr holds scripts in folders named like upload folders (…/media/…): taken in, as the
# package pass is what is measured.
"$FIM" init -q --accept-suspicious --db "$WORK/b.db" --policy "$WORK/policy.toml" >/dev/null 2>"$WORK/init.log" ||
    { echo "fim init failed: $(tail -1 "$WORK/init.log")" >&2; exit 1; }
files=$(cat /var/lib/dpkg/info/*.md5sums | wc -l)
echo "$(ls /var/lib/dpkg/info/*.md5sums | wc -l) packages with checksums, $files files in their md5sums"
for run in 1 2; do
    start=$(date +%s.%N)
    "$FIM" verify -v --db "$WORK/b.db" >/dev/null 2>"$WORK/fim.log" || true
    end=$(date +%s.%N)
    pass=$(grep -o 'host checks: .*' "$WORK/fim.log" || echo "no package pass logged")
    total=$(python3 -c "import sys; print(f'{float(sys.argv[2])-float(sys.argv[1]):.2f}')" "$start" "$end")
done
echo "fim: $pass (whole verify of /usr and /etc: $total s)"
for run in 1 2; do
    start=$(date +%s.%N)
    debsums -c >"$WORK/debsums.out" 2>"$WORK/debsums.err" || true
    end=$(date +%s.%N)
done
python3 -c "import sys; print(f'debsums -c: {float(sys.argv[2])-float(sys.argv[1]):.2f} s, {sys.argv[3]} files changed')" \
    "$start" "$end" "$(wc -l <"$WORK/debsums.out")"
