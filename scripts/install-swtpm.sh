#!/usr/bin/env bash
# Installs the Debian software TPM (swtpm) used by the compute-node identity tests.
# Idempotent: does nothing when swtpm is already on PATH. Needs root for apt-get.
set -euo pipefail
if command -v swtpm >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-swtpm: swtpm is missing and this is not root; run: sudo apt-get install -y swtpm swtpm-tools" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q swtpm swtpm-tools
