#!/usr/bin/env bash
# Make sure redis-server and redis-cli (the Cluster fixture's `--cluster create`) are on PATH:
# install Debian's package when missing and root.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "redis-server or redis-cli is missing: installing them with apt-get" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  exit 0
fi
echo "redis-server is not installed. Install it (e.g. 'sudo apt-get install redis-server')," >&2
echo "or set REDIS_URL to a Redis you already run." >&2
exit 1
