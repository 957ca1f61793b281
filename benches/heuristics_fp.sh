#!/usr/bin/env bash
# False-positive figure of fim's heuristics: every file of each TREE is treated as new
# (a baseline of the bare root, then `verify` against a policy watching everything),
# and the files that trip a heuristic are counted and listed.
#
#   benches/heuristics_fp.sh /usr/share/wordpress-copy benches/data/linux /usr/share/php
#   FIM=target/release/fim benches/heuristics_fp.sh /usr/share/mediawiki
set -euo pipefail
cd "$(dirname "$0")/.."
# FIM=path/to/fim runs a binary already built (the default build compiles yara-x).
if [ -z "${FIM:-}" ]; then
    cargo build --release --quiet
    FIM=$PWD/target/release/fim
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for tree in "$@"; do
    tree=$(realpath "$tree")
    printf '[[watch]]\npath = "%s"\nexclude = ["*"]\n' "$tree" >"$work/bare.toml"
    printf '[[watch]]\npath = "%s"\n' "$tree" >"$work/all.toml"
    "$FIM" init -q --force --db "$work/fp.db" --policy "$work/bare.toml"
    "$FIM" verify -q --db "$work/fp.db" --policy "$work/all.toml" --output "$work/events.jsonl" || true
    python3 - "$tree" "$work/events.jsonl" <<'PY'
import collections, json, sys
tree, path = sys.argv[1:]
files = hits = 0
by_reason = collections.Counter()
listed = []
for line in open(path):
    e = json.loads(line)
    if e["kind"] != "new" or e["type"] != "file":
        continue
    files += 1
    if e["reasons"]:
        hits += 1
        by_reason.update(e["reasons"])
        listed.append((e["path"][len(tree) + 1:], e["reasons"]))
print(f"{tree}: {hits} of {files} files trip a heuristic ({100.0 * hits / max(files, 1):.3f}%)")
for reason, n in by_reason.most_common():
    print(f"    {n:6d}  {reason}")
for p, r in listed[:40]:
    print(f"    {p}: {', '.join(r)}")
if len(listed) > 40:
    print(f"    ... and {len(listed) - 40} more")
PY
    rm -f "$work/events.jsonl"
done
