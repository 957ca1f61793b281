#!/usr/bin/env bash
# A WordPress site with 100,000 uploads: what init and verify cost now that the
# WordPress pack watches every upload (`report = "suspicious"`: recorded, reported only
# when the heuristics find it suspicious). Only new and changed files are read for
# content checks, so a verify costs the hashing of the tree plus the checks of what
# changed.
#
#   benches/uploads.sh                  # debug build (target/debug/fim)
#   FIM=target/release/fim benches/uploads.sh
#   UPLOADS=20000 benches/uploads.sh    # a smaller site
#
# The site is a small WordPress-like tree plus UPLOADS small real images (JPEG, PNG,
# GIF, WebP made by PHP's GD, each made unique by trailing bytes as editors leave
# them), spread over years and months as WordPress files them. Data lives in
# benches/data (not committed). Each time is the best of RUNS, on a warm page cache.
set -euo pipefail
cd "$(dirname "$0")/.."
UPLOADS=${UPLOADS:-100000}
RUNS=${RUNS:-3}
FIM=${FIM:-$PWD/target/debug/fim}
DATA=$PWD/benches/data/uploads
SITE=$DATA/site

command -v php >/dev/null && php -r 'exit(function_exists("imagewebp") ? 0 : 1);' || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq php-cli php-gd >/dev/null
}
[ -x "$FIM" ] || cargo build --quiet

if [ "$(cat "$DATA/count" 2>/dev/null)" != "$UPLOADS" ]; then
    rm -rf "$DATA"
    mkdir -p "$SITE/wp-includes" "$SITE/wp-content/plugins/hello" "$DATA/seeds"
    echo "<?php define('DB_NAME', 'wp');" >"$SITE/wp-config.php"
    echo "<?php \$wp_version = '6.4';" >"$SITE/wp-includes/version.php"
    echo "<?php /* Plugin Name: Hello */" >"$SITE/wp-content/plugins/hello/hello.php"
    php -r '$i = imagecreatetruecolor(48, 48); mt_srand(7);
        for ($x = 0; $x < 48; $x++) for ($y = 0; $y < 48; $y++)
            imagesetpixel($i, $x, $y, mt_rand(0, 0xffffff));
        $d = $argv[1];
        imagejpeg($i, "$d/seed.jpg"); imagepng($i, "$d/seed.png");
        imagegif($i, "$d/seed.gif"); imagewebp($i, "$d/seed.webp");' "$DATA/seeds"
    python3 - "$SITE/wp-content/uploads" "$DATA/seeds" "$UPLOADS" <<'PY'
import os, sys
root, seeds, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
kinds = [(ext, open(os.path.join(seeds, "seed." + ext), "rb").read())
         for ext in ("jpg", "png", "gif", "webp")]
for i in range(count):
    year, month = 2016 + i * 10 // count, 1 + (i // 97) % 12
    folder = os.path.join(root, str(year), "%02d" % month)
    os.makedirs(folder, exist_ok=True)
    ext, seed = kinds[i % len(kinds)]
    with open(os.path.join(folder, "image-%06d.%s" % (i, ext)), "wb") as f:
        f.write(seed + b"\0" + str(i).encode())
PY
    echo "$UPLOADS" >"$DATA/count"
fi
cat >"$DATA/policy.toml" <<TOML
include = ["$PWD/policies/wordpress.toml"]
[vars]
docroot = "$SITE"
TOML

warm() { find "$SITE" -type f -print0 | xargs -0 cat >/dev/null; }
# best wall seconds of RUNS runs of a command (its exit code ignored: verify exits 1
# when it reports)
best() {
    local best=
    for _ in $(seq "$RUNS"); do
        warm
        local start end
        start=$(date +%s.%N)
        "$@" >/dev/null 2>&1 || true
        end=$(date +%s.%N)
        best=$(python3 -c "import sys; t = float(sys.argv[2]) - float(sys.argv[1]); b = sys.argv[3]; print('%.2f' % (t if not b else min(t, float(b))))" "$start" "$end" "$best")
    done
    echo "$best"
}

entries=$(find "$SITE" | wc -l)
db=$DATA/fim.db
init_s=$(best "$FIM" init --force --quiet --policy "$DATA/policy.toml" --db "$db")
verify_s=$(best "$FIM" verify --quiet --db "$db")
# verify exits 1 when it reports: counted, not fatal
reports() { "$FIM" verify --quiet --db "$db" || true; }
clean=$(reports | wc -l)

# 100 new real uploads in this month's folder, and one disguised shell among them.
new=$SITE/wp-content/uploads/2026/12
mkdir -p "$new"
for i in $(seq 100); do
    cp "$DATA/seeds/seed.jpg" "$new/new-$i.jpg"
    printf '%s' "$i" >>"$new/new-$i.jpg"
done
verify_new_s=$(best "$FIM" verify --quiet --db "$db")
reported_new=$(reports | wc -l)
printf 'GIF89a<?php system($_GET[1]);' >"$new/avatar.gif"
reported_shell=$(reports | grep -c '"PHP code in a .gif file"' || true)
rm -rf "$new"

printf '%-8s %8s %10s %8s %8s %14s %10s %10s\n' build entries uploads init verify verify+100new reported shell
printf '%-8s %8s %10s %7ss %7ss %13ss %10s %10s\n' "$(basename "$(dirname "$FIM")")" "$entries" "$UPLOADS" \
    "$init_s" "$verify_s" "$verify_new_s" "$clean/$reported_new" "$reported_shell"
