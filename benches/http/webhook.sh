#!/usr/bin/env bash
# The webhook load figure of docs/api.md: `POST /api/v1/webhooks/bench` with a token (auth
# on), on a SQLite file, every call firing a rule whose action is `core.noop`, driven over
# loopback by oha (`cargo install oha`, from crates.io).
#
#   benches/http/webhook.sh [requests] [connections]      (defaults 200000 and 64)
#
# Builds `attune` in release mode, starts `attune serve --http`, creates the rule through
# the API, warms up, then prints oha's summary (requests/s, latency percentiles) and the
# server's executions count, and stops the server (SIGTERM: it drains).
set -euo pipefail
cd "$(dirname "$0")/../.."
requests=${1:-200000}
connections=${2:-64}
command -v oha >/dev/null || { echo "oha is missing: cargo install oha" >&2; exit 2; }
cargo build --release -q -p attune-server --bin attune
bin=${CARGO_TARGET_DIR:-target}/release/attune
dir=$(mktemp -d)
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$dir"' EXIT
port=$((20000 + RANDOM % 20000))
ATTUNE_ADMIN_USER=bench ATTUNE_ADMIN_PASSWORD=bench ATTUNE_LOG=warn \
    "$bin" --db "$dir/state.db" serve --http "127.0.0.1:$port" 2>"$dir/server.log" &
server=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do curl -sf "$base/health" >/dev/null && break; sleep 0.1; done
token=$(curl -sf -u bench:bench -X POST -H 'Content-Type: application/json' -d '{}' \
    "$base/auth/v1/tokens" | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
curl -sf -X POST -H "X-Auth-Token: $token" -H 'Content-Type: application/json' "$base/api/v1/rules" \
    -d '{"name": "bench", "pack": "bench", "enabled": true,
         "trigger": {"type": "core.st2.webhook", "parameters": {"url": "bench"}},
         "action": {"ref": "core.noop"}}' >/dev/null
body='{"host": "web-1", "status": "down"}'
oha --no-tui -n 2000 -c "$connections" -m POST -H "X-Auth-Token: $token" \
    -T application/json -d "$body" "$base/api/v1/webhooks/bench" >/dev/null
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
oha --no-tui -n "$requests" -c "$connections" -m POST -H "X-Auth-Token: $token" \
    -T application/json -d "$body" "$base/api/v1/webhooks/bench"
sleep 2
curl -sf -H "X-Auth-Token: $token" "$base/metrics" | grep -E '^attune_(http_requests_total.*webhooks|execution_status_changes_total)' || true
