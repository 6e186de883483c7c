#!/usr/bin/env bash
# Make sure the Postfix tools the throughput benchmark compares against are installed:
# postfix, smtp-sink and smtp-source (Debian/Ubuntu package "postfix").
# The benchmark only ever runs private Postfix instances (bench/postfix_peer.py); the
# machine's default instance is left unconfigured and stopped.
set -euo pipefail

TOOLS=(postfix smtp-sink smtp-source)
SBIN_DIRS=(/usr/sbin /usr/local/sbin /sbin)

have() {
    command -v "$1" >/dev/null 2>&1 && return 0
    local d
    for d in "${SBIN_DIRS[@]}"; do
        [ -x "$d/$1" ] && return 0
    done
    return 1
}

missing() {
    local t out=()
    for t in "${TOOLS[@]}"; do
        have "$t" || out+=("$t")
    done
    echo "${out[*]:-}"
}

postfix_bin() {
    command -v postfix 2>/dev/null || {
        local d
        for d in "${SBIN_DIRS[@]}"; do
            [ -x "$d/postfix" ] && { echo "$d/postfix"; return 0; }
        done
        return 1
    }
}

# The package may start the default instance (only if it found a configuration);
# we never use it, so make sure it is not running.
stop_default_instance() {
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl stop postfix.service >/dev/null 2>&1 || true
    fi
    local pf
    pf=$(postfix_bin) || return 0
    # "postfix status" fails when there is no /etc/postfix/main.cf ("No configuration"):
    # then nothing can be running.
    if "$pf" status >/dev/null 2>&1; then
        echo "ensure-postfix: stopping the default Postfix instance started by the package"
        "$pf" stop || true
    fi
    if "$pf" status >/dev/null 2>&1; then
        echo "ensure-postfix: the default Postfix instance is still running; stop it with: postfix stop" >&2
        exit 1
    fi
}

miss=$(missing)
[ -z "$miss" ] && exit 0

echo "ensure-postfix: missing: $miss"

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-postfix: installing Debian package 'postfix' (main_mailer_type: No configuration)"
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postfix
    stop_default_instance
    miss=$(missing)
    if [ -n "$miss" ]; then
        echo "ensure-postfix: still missing after installing postfix: $miss" >&2
        exit 1
    fi
    echo "ensure-postfix: postfix, smtp-sink and smtp-source are installed"
    exit 0
fi

cat >&2 <<'EOF'
ensure-postfix: the throughput benchmark needs postfix, smtp-sink and smtp-source.
On Debian/Ubuntu, install them as root with:

  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postfix
  postfix status 2>/dev/null && postfix stop   # the benchmark uses private instances only

(prefix each command with sudo when not root). Then run the benchmark again.
EOF
exit 1
