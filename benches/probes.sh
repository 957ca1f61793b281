#!/usr/bin/env bash
# Probe benchmarks (see benches/probes.py for the method): CPU per 100 probes a minute
# (HTTP and HTTPS), phase-timing precision against `curl -w`, and the delay from a
# failure to the `down` event (computed for the defaults, measured on a scaled copy).
# Needs python3, openssl and curl.
#
#   benches/probes.sh            # builds the release binary first
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in python3 openssl curl; do
    command -v "$tool" >/dev/null || { echo "benches/probes.sh needs $tool" >&2; exit 2; }
done
cargo build --release --quiet
exec python3 benches/probes.py "$PWD/target/release/fim"
