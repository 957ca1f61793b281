#!/usr/bin/env bash
# The anchor of issue 16: php-malware-finder's YARA rules run by Debian's `yara` beside
# fim over the same trees: the webshell corpus (detection) and benign PHP trees (false
# positives). fim sees every file as new (a baseline of the bare root, then `verify`
# against a policy watching everything, as benches/heuristics_fp.sh does), once with
# its own heuristics and once with php-malware-finder's rules added through
# `[heuristics] yara` (yara-x). Columns: files (regular files, symlinks not followed),
# files flagged and seconds taken by each; "pmf in fim" counts the files with a
# `yara` reason, which should equal the pmf column (same rules, other engine).
#
#   benches/webshells.sh [TREE...]    (default: the corpus and the Debian PHP trees)
#   FIM=target/debug/fim benches/webshells.sh /usr/share/wordpress
set -euo pipefail
cd "$(dirname "$0")/.."
PMF=$(realpath "${PMF:-../shared/anchors/php-malware-finder}")
CORPUS=$(realpath "${CORPUS:-../shared/corpus/webshells}")
command -v yara >/dev/null || { echo "needs Debian's yara (apt-get install yara)" >&2; exit 2; }
# FIM=target/debug/fim skips the release build (counts hold, times do not).
if [ -z "${FIM:-}" ]; then
    cargo build --release --quiet
    FIM=$PWD/target/release/fim
fi
FIM=$(realpath "$FIM")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The samples only (not the corpus's README and licence).
mkdir "$work/webshells"
cp -r "$CORPUS/Obfuscated" "$CORPUS/Deobfuscated" "$work/webshells/"
if [ $# -eq 0 ]; then
    set -- "$work/webshells" /usr/share/wordpress /usr/share/mediawiki /usr/share/dokuwiki \
        /usr/share/roundcube /usr/share/phpmyadmin /usr/share/php
fi
now() { date +%s.%N; }
# fim_run TREE POLICY_EXTRA OUT: seconds of the verify.
fim_run() {
    printf '[[watch]]\npath = "%s"\nexclude = ["*"]\n' "$1" >"$work/bare.toml"
    printf '%s\n[[watch]]\npath = "%s"\n' "$2" "$1" >"$work/all.toml"
    "$FIM" init -q --force --db "$work/fp.db" --policy "$work/bare.toml"
    local start
    start=$(now)
    "$FIM" verify -q --db "$work/fp.db" --policy "$work/all.toml" --output "$3" || true
    echo "$(now) - $start" | bc
}
printf '%-22s %7s | %9s %7s | %9s %7s | %9s %10s %7s\n' corpus files pmf "s" fim "s" \
    "fim+pmf" "pmf in fim" "s"
for tree in "$@"; do
    tree=$(realpath "$tree")
    files=$(find "$tree" -type f | wc -l)
    start=$(now)
    yara -r -N -p "$(nproc)" "$PMF/php.yar" "$tree" 2>/dev/null >"$work/pmf.txt" || true
    pmf_s=$(echo "$(now) - $start" | bc)
    # Lines are "RULE PATH": a file is flagged once, whatever the number of rules.
    pmf=$(cut -d' ' -f2- "$work/pmf.txt" | sort -u | wc -l)
    fim_s=$(fim_run "$tree" "" "$work/fim.jsonl")
    both_s=$(fim_run "$tree" "[heuristics]
yara = [\"$PMF/php.yar\"]" "$work/both.jsonl")
    read -r fim both pmf_in_fim < <(python3 - "$work/fim.jsonl" "$work/both.jsonl" <<'PY'
import json, sys
def flagged(path, only=None):
    n = 0
    for line in open(path):
        e = json.loads(line)
        if e["kind"] == "new" and e["type"] == "file" and any(
            only is None or r.startswith(only) for r in e["reasons"]
        ):
            n += 1
    return n
print(flagged(sys.argv[1]), flagged(sys.argv[2]), flagged(sys.argv[2], "yara "))
PY
)
    printf '%-22s %7d | %9d %7.2f | %9d %7.2f | %9d %10d %7.2f\n' "$(basename "$tree")" \
        "$files" "$pmf" "$pmf_s" "$fim" "$fim_s" "$both" "$pmf_in_fim" "$both_s"
    rm -f "$work"/*.jsonl
done
