#!/usr/bin/env bash
# `make run`: a Redis (REDIS_URL, or a local redis-server started here), the Rivya simulator and
# the gateway, then a demo team with a key and a curl to paste. Ctrl-C stops everything.
# It writes .run/env (REDIS_URL, the admin token, the gateway's URL), which the CLI reads, so
# `.venv/bin/rivya-gateway teams list` reaches the same state with no settings. Run twice, it
# says the first is running instead of starting another; the demo key is kept in .run/demo-key
# and reused while it works.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=.venv/bin
RUN_DIR=${RUN_DIR:-.run}  # state, logs and Redis's data (the tests point it elsewhere)
GATEWAY_PORT=${GATEWAY_PORT:-8080}
SIM_PORT=${SIM_PORT:-8081}
LOCAL_REDIS_PORT=${LOCAL_REDIS_PORT:-6390}
export GATEWAY_ADMIN_TOKEN=${GATEWAY_ADMIN_TOKEN:-dev-admin-token-local}
# Browser tokens work out of the box locally (a placeholder: accepted only with the simulator).
export GATEWAY_TOKEN_SECRET=${GATEWAY_TOKEN_SECRET:-dev-token-secret-local-placeholder-0001}
# The copies of results (a local directory; RESULTS_STORE_URL=s3://… for an object store).
export RESULTS_DIR=${RESULTS_DIR:-$RUN_DIR/results}
mkdir -p "$RUN_DIR"
GW="http://127.0.0.1:${GATEWAY_PORT}"

gateway_up() { "$BIN/python" -c "import httpx,sys; httpx.get(sys.argv[1], timeout=1).raise_for_status()" "$GW/readyz" 2>/dev/null; }
if gateway_up; then
  echo "A gateway is already running at $GW (logs in $RUN_DIR/): nothing started."
  if [ -s "$RUN_DIR/demo-key" ]; then echo "Its demo key:  export GW=$GW GW_KEY=$(cat "$RUN_DIR/demo-key")"; fi
  echo "Stop it with Ctrl-C in its terminal, or run a second one apart from it (its own ports and"
  echo "state): GATEWAY_PORT=8082 SIM_PORT=8083 LOCAL_REDIS_PORT=6391 RUN_DIR=.run-2 make run"
  exit 0
fi

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

redis_ping() { "$BIN/python" -c "import redis,sys; redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()" "$1" 2>/dev/null; }
wait_for() { # url, name, log
  for _ in $(seq 1 100); do
    if "$BIN/python" -c "import httpx,sys; httpx.get(sys.argv[1], timeout=1).raise_for_status()" "$1" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "$2 did not come up; see $3" >&2; exit 1
}

# One source of truth: a REDIS_URL of your own (the environment, else .env, which the gateway
# and the CLI also read) is the Redis this instance uses, and what .run/env then records.
if [ -z "${REDIS_URL:-}" ] && [ -f .env ]; then
  REDIS_URL=$("$BIN/python" -c "from dotenv import dotenv_values; print(dotenv_values('.env').get('REDIS_URL') or '')")
  if [ -n "$REDIS_URL" ]; then export REDIS_URL; echo "REDIS_URL from .env."; fi
fi
if [ -n "${REDIS_URL:-}" ]; then
  redis_ping "$REDIS_URL" || { echo "REDIS_URL=$REDIS_URL does not answer PING" >&2; exit 1; }
  echo "Using your Redis at REDIS_URL."
else
  export REDIS_URL="redis://127.0.0.1:${LOCAL_REDIS_PORT}/0"
  if redis_ping "$REDIS_URL"; then
    echo "Reusing the local Redis on port $LOCAL_REDIS_PORT."
  else
    bash scripts/ensure-redis-server.sh
    redis-server --port "$LOCAL_REDIS_PORT" --bind 127.0.0.1 --dir "$(cd "$RUN_DIR" && pwd)" \
      --appendonly yes --save "" >"$RUN_DIR/redis.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 50); do redis_ping "$REDIS_URL" && break; sleep 0.1; done
    redis_ping "$REDIS_URL" || { echo "redis-server did not start; see $RUN_DIR/redis.log" >&2; exit 1; }
    echo "Started redis-server on port $LOCAL_REDIS_PORT (data in $RUN_DIR/)."
  fi
fi

# The simulator calls the gateway back when a task ends (Rivya's webhooks, as hints), over plain
# http on this machine.
SIM_PUBLIC_BASE_URL="http://127.0.0.1:${SIM_PORT}" SIM_ALLOW_INSECURE_WEBHOOKS=true \
  "$BIN/rivya-gateway" simulator --port "$SIM_PORT" >"$RUN_DIR/simulator.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:${SIM_PORT}/api/v1/models" simulator "$RUN_DIR/simulator.log"

RIVYA_WEBHOOK_TOKEN=${RIVYA_WEBHOOK_TOKEN:-$("$BIN/python" -c 'import secrets; print(secrets.token_hex(16))')}
export RIVYA_WEBHOOK_TOKEN
RIVYA_SIMULATOR=true RIVYA_BASE_URL="http://127.0.0.1:${SIM_PORT}" \
  RIVYA_WEBHOOK_URL="$GW/webhooks/rivya" WEBHOOK_ALLOWED_HOSTS="${WEBHOOK_ALLOWED_HOSTS:-127.0.0.1,localhost}" \
  "$BIN/rivya-gateway" serve --port "$GATEWAY_PORT" >"$RUN_DIR/gateway.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:${GATEWAY_PORT}/readyz" gateway "$RUN_DIR/gateway.log"

"$BIN/rivya-gateway" teams get demo >/dev/null 2>&1 ||
  "$BIN/rivya-gateway" teams create demo --name "Demo team" --budget 800 --period day >/dev/null

# What the CLI needs to reach this instance's state (it reads .run/env, then .env).
umask 077
cat >"$RUN_DIR/env" <<ENV
# Written by make run: the CLI (rivya-gateway) reads this file, so it reaches this instance.
REDIS_URL=$REDIS_URL
GATEWAY_ADMIN_TOKEN=$GATEWAY_ADMIN_TOKEN
GATEWAY_URL=$GW
ENV

# The demo key from an earlier run, while it still works; else a new one.
KEY=""
if [ -s "$RUN_DIR/demo-key" ] && "$BIN/python" -c "import httpx,sys; httpx.get(sys.argv[1] + '/v1/usage', headers={'Authorization': 'Bearer ' + sys.argv[2]}, timeout=5).raise_for_status()" "$GW" "$(cat "$RUN_DIR/demo-key")" 2>/dev/null; then
  KEY=$(cat "$RUN_DIR/demo-key")
  KEY_NOTE="Demo team 'demo' key (kept from an earlier run in $RUN_DIR/demo-key):"
else
  KEY=$("$BIN/rivya-gateway" keys create demo --name "make run" --json 2>/dev/null |
    "$BIN/python" -c "import json,sys; print(json.load(sys.stdin)['key'])")
  printf '%s' "$KEY" >"$RUN_DIR/demo-key"
  KEY_NOTE="Demo team 'demo' has a new key (kept in $RUN_DIR/demo-key):"
fi

cat <<MSG

Rivya Gateway is running at $GW (upstream: the simulator at http://127.0.0.1:${SIM_PORT}).
Logs: $RUN_DIR/gateway.log, $RUN_DIR/simulator.log.  For the admin API:
  export GATEWAY_ADMIN_TOKEN=$GATEWAY_ADMIN_TOKEN

$KEY_NOTE
  export GW=$GW GW_KEY=$KEY

Create an image, waiting up to 30 s for it to finish:
  curl -s "$GW/v1/images?wait=30" -H "Authorization: Bearer \$GW_KEY" \\
    -H 'Content-Type: application/json' \\
    -d '{"prompt": "a lighthouse at dusk, oil painting", "aspect_ratio": "16:9"}'

Read a task (id from the answer above):
  curl -s "$GW/v1/images/TASK_ID" -H "Authorization: Bearer \$GW_KEY"

Open result.primary_url in a browser to see the image.  API docs: $GW/docs.  Ctrl-C stops all.
MSG

wait -n "${pids[@]}"
