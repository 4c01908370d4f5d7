#!/usr/bin/env bash
# Installs Debian's PostgreSQL server, which the PostgreSQL store tests start on a free loopback port
# (tests/support/postgres.py; they never use the system cluster). Idempotent: does nothing when a
# server binary is already there. Needs root for apt-get.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || command -v postgres >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-postgres: PostgreSQL is missing and this is not root; run: sudo apt-get install -y postgresql" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# The package's post-install starts the system cluster; the tests do not need it, and policy-rc.d keeps it off.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -q postgresql
