#!/usr/bin/env bash
# The dashboard's browser tests drive Debian's Chromium (/usr/bin/chromium) with Playwright.
# Installs it with apt-get when missing and allowed (root); otherwise says how. Without it
# those tests skip with the reason shown, except under CI=true, where they fail.
set -euo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium with apt-get (the dashboard's browser tests)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
    command -v chromium >/dev/null 2>&1 && exit 0
fi
echo "no chromium: the dashboard's browser tests will be skipped (apt-get install -y chromium)" >&2
exit 1
