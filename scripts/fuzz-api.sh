#!/usr/bin/env bash
# Schema-driven fuzzing of `secret-sync api` with schemathesis: starts the
# Humanitec sandbox and the API (Postgres-backed, on free ports, its own
# database and queue prefix), seeds a project, creates an API token, then
# lets schemathesis generate requests from the served /api/openapi.json.
# Fails on any 5xx, any undocumented status, any response outside the
# document's schemas, and any invalid request the API accepts.
#
#   scripts/fuzz-api.sh            # ~1-2 minutes
#   FUZZ_EXAMPLES=200 scripts/fuzz-api.sh
#
# Needs: local Postgres and RabbitMQ (as for `cargo test`), psql, and
# schemathesis (`st`; .ci/run installs it into $SCHEMATHESIS_VENV).
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
VENV="${SCHEMATHESIS_VENV:-$HOME/.cache/secret-sync-schemathesis}"
ST="${ST:-$VENV/bin/st}"
EXAMPLES="${FUZZ_EXAMPLES:-100}"
if ! [ -x "$ST" ]; then
  ST="$(command -v st || true)"
fi
if [ -z "$ST" ]; then
  echo "schemathesis not found; install it with:"
  echo "  python3 -m venv $VENV && $VENV/bin/pip install schemathesis==$SCHEMATHESIS_VERSION"
  exit 2
fi

# The binaries as the test build makes them (scripts/test has just built
# them, so this costs nothing there): a plain `cargo build -p` resolves
# features without the dev-dependencies and would compile both again. The
# sandbox's binary is built because its package has an integration test
# that runs it (humanitec-sandbox/tests/binary.rs).
cargo test --workspace --no-run --quiet 2>/dev/null || cargo test --workspace --no-run
BIN=target/debug
for exe in secret-sync humanitec-sandbox; do
  # Both come from the test build (the sandbox's through its own binary test).
  [ -x "$BIN/$exe" ] || { echo "$BIN/$exe was not built by the test build"; exit 1; }
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
RUN_ID="fuzz_$$_$(date +%s)"
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/${RUN_ID}"
export QUEUE_PREFIX="${RUN_ID}."
export ENCRYPTION_KEY="$("$BIN/secret-sync" keygen)"
SANDBOX_PORT="$(free_port)"
API_PORT="$(free_port)"
export HUMANITEC_API_URL="http://127.0.0.1:${SANDBOX_PORT}"
export API_LISTEN="127.0.0.1:${API_PORT}"
# Health and metrics on a port of their own choosing (never a worker's).
export HTTP_LISTEN="127.0.0.1:0"
# The fuzzer sends requests as fast as it can: it checks the schemas, not
# the per-token rate limits (tests/it/hostile_clients.rs checks those).
export RATE_LIMIT_TRIGGERS="100000/s,100000" RATE_LIMIT_PREVIEWS="100000/s,100000" RATE_LIMIT_WRITES="100000/s,100000"
LOGS="$(mktemp -d)"
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql -q "postgres://postgres@127.0.0.1:5432/postgres" -c "DROP DATABASE IF EXISTS \"${RUN_ID}\" WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$LOGS"
  if command -v rabbitmqctl >/dev/null; then
    for q in jobs events dead wait.250ms wait.2000ms wait.10000ms wait.30000ms wait.120000ms; do
      rabbitmqctl -q delete_queue "${QUEUE_PREFIX}secret-sync.${q}" >/dev/null 2>&1 || true
    done
  fi
}
trap cleanup EXIT

"$BIN/humanitec-sandbox" --listen "127.0.0.1:${SANDBOX_PORT}" >"$LOGS/sandbox.log" 2>&1 &
PIDS+=($!)
"$BIN/secret-sync" migrate >/dev/null
psql -q "$DATABASE_URL" -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO projects (id, name) VALUES ('proj', 'Fuzzed project');
WITH e AS (INSERT INTO environments (project_id, slug, name) VALUES ('proj', 'prod', 'Production') RETURNING id)
INSERT INTO secret_folders (environment_id, path) SELECT id, '/app' FROM e;
SQL
"$BIN/secret-sync" api >"$LOGS/api.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do
  if curl -fsS "http://${API_LISTEN}/healthz" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
curl -fsS "http://${API_LISTEN}/healthz" >/dev/null || { echo "the API did not start:"; cat "$LOGS/api.log"; exit 1; }
TOKEN="$("$BIN/secret-sync" token create --project proj --role write --name fuzz 2>/dev/null)"

# Something real to find: a connection and a sync in the fuzzed project.
# A seeding call that fails shows its answer and the API's log, then stops.
seed_id() { # seed_id <path> <object> <body>
  local answer
  if ! answer="$(curl -sS -w '\n%{http_code}' -X POST "http://${API_LISTEN}$1" \
      -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$3")" \
    || [ "${answer##*$'\n'}" -ge 300 ]; then
    echo "seeding POST $1 failed: ${answer}" >&2
    echo "the API's log:" >&2
    tail -n 40 "$LOGS/api.log" >&2
    exit 1
  fi
  printf '%s' "${answer%$'\n'*}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]]["id"])' "$2"
}
# The sandbox answers before the API checks a token with it.
for _ in $(seq 1 100); do
  if curl -fsS "${HUMANITEC_API_URL}/_sandbox/health" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
CONNECTION_ID="$(seed_id /api/v1/app-connections/humanitec appConnection \
  '{"name":"humanitec","projectId":"proj","method":"api-token","credentials":{"apiToken":"sandbox-admin-token"}}')"
SYNC_ID="$(seed_id /api/v1/secret-syncs/humanitec secretSync \
  '{"name":"seeded","projectId":"proj","connectionId":"'"$CONNECTION_ID"'","environment":"prod","secretPath":"/app","isAutoSyncEnabled":false,"syncOptions":{"initialSyncBehavior":"overwrite-destination"},"destinationConfig":{"scope":"application","org":"demo-org","app":"web"}}')"

# Random values would almost never name the project, folder, connection or
# sync that exist; these dictionaries make most generated requests reach
# them, so successful responses are checked as well as errors.
cat >"$LOGS/schemathesis.toml" <<TOML
[dictionaries.projects]
values = ["proj"]
[dictionaries.environments]
values = ["prod"]
[dictionaries.paths]
values = ["/app"]
[dictionaries.connections]
values = ["$CONNECTION_ID"]
[dictionaries.syncs]
values = ["$SYNC_ID"]
# Dot names cover the path builder's refusals (issue 36): '.', '..' and
# their encodings must answer 400, never reach Humanitec as path steps.
[dictionaries.apps]
values = ["web", "web", "web", ".", "..", "%2e", ".%2E"]
[dictionaries.orgs]
values = ["demo-org", "demo-org", "demo-org", ".."]
[dictionaries.envs]
values = ["production", "production", "..", "."]

[parameters]
"query.projectId" = { dictionary = "projects", probability = 0.8 }
"body.projectId" = { dictionary = "projects", probability = 0.8 }
"body.environment" = { dictionary = "environments", probability = 0.8 }
"body.secretPath" = { dictionary = "paths", probability = 0.8 }
"body.connectionId" = { dictionary = "connections", probability = 0.8 }
"body.destinationConfig.org" = { dictionary = "orgs", probability = 0.8 }
"body.destinationConfig.app" = { dictionary = "apps", probability = 0.8 }
"body.destinationConfig.env" = { dictionary = "envs", probability = 0.8 }
"path.syncId" = { dictionary = "syncs", probability = 0.6 }
"path.connectionId" = { dictionary = "connections", probability = 0.6 }
TOML

echo "fuzzing http://${API_LISTEN} with schemathesis $("$ST" --version | awk '{print $NF}'), ${EXAMPLES} examples per operation"
status=0
# (run from $LOGS: schemathesis keeps a cache in its working directory)
# One worker: with two threads, CPython 3.11's `ast` module (one recursion
# counter per interpreter, not per thread) can fail Hypothesis's parse of a
# lambda with "SystemError: AST constructor recursion depth mismatch"
# (python/cpython#106905), a crash in the tool, not a finding.
(cd "$LOGS" && "$ST" --config-file "$LOGS/schemathesis.toml" run "http://${API_LISTEN}/api/openapi.json" \
  --header "Authorization: Bearer ${TOKEN}" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection \
  --max-examples "$EXAMPLES" \
  --seed "${FUZZ_SEED:-20261125}" \
  --workers 1 \
  --request-timeout 10 \
  --suppress-health-check all \
  --warnings off) \
  || status=$?
echo "API log: $(grep -c 'secret sync created' "$LOGS/api.log") syncs created, $(grep -c 'secret sync updated' "$LOGS/api.log") updated, $(grep -c 'job queued' "$LOGS/api.log") jobs queued by generated requests"
if grep -q "panicked" "$LOGS/api.log"; then
  echo "the API panicked:"; grep -A5 "panicked" "$LOGS/api.log"; status=1
fi
if [ "$status" -ne 0 ]; then
  echo "API log (last 40 lines):"; tail -n 40 "$LOGS/api.log"
fi
exit "$status"
