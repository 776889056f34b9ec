#!/usr/bin/env bash
# Make sure Debian's chromium is on PATH for the dashboard's browser test (driven by Playwright
# with executable_path; never `playwright install`): install it when missing and root.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "chromium is missing: installing it with apt-get" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  exit 0
fi
echo "chromium is not installed; the dashboard test needs it (e.g. 'sudo apt-get install chromium')." >&2
exit 1
