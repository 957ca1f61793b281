#!/usr/bin/env bash
# Fetch the published schemas the ECS/OCSF tests validate against (package registries
# only): Elastic's field list from the npm package @elastic/ecs, as JSON, and the OCSF
# JSON Schema from the PyPI package ocsf-json-schema (with jsonschema to apply it).
# Usage: tests/schemas/fetch.sh DIR  — writes DIR/ecs_flat.json.
set -euo pipefail
dir=$(realpath -m "${1:?usage: fetch.sh DIR}")
mkdir -p "$dir"
if [ ! -s "$dir/ecs_flat.json" ]; then
    work=$(mktemp -d)
    (cd "$work" && npm pack --silent @elastic/ecs@8.11.5 >/dev/null && tar xzf elastic-ecs-8.11.5.tgz)
    node -e 'const m = require(process.argv[1]); require("fs").writeFileSync(process.argv[2], JSON.stringify(m.EcsFlat))' \
        "$work/package/build/commonjs/ecs_flat.js" "$dir/ecs_flat.json"
    rm -rf "$work"
fi
python3 -c 'import jsonschema, ocsf_json_schema' 2>/dev/null ||
    python3 -m pip install --quiet --disable-pip-version-check ocsf-json-schema jsonschema
