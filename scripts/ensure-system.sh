#!/usr/bin/env bash
# Make sure the system packages relaylane's setup needs are present: Python 3.11+ with venv.
# Installs them with apt-get when missing and allowed (root); otherwise says how.
set -euo pipefail
PY=${PY:-python3}

ok() {
    command -v "$PY" >/dev/null 2>&1 &&
        "$PY" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

ok && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing python3 and python3-venv with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
    ok && exit 0
fi
echo "relaylane needs Python 3.11+ with the venv module: apt-get install -y python3 python3-venv" >&2
exit 1
