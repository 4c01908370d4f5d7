#!/usr/bin/env bash
# Installs the Debian tools the stack's network tests use: tcpdump (the confidentiality capture on
# loopback), iproute2 (`ip netns` for the unlinkability test) and HAProxy (the load balancer in front of
# gateway and router replicas). Idempotent: installs only what is missing. Needs root for apt-get.
set -euo pipefail
missing=()
command -v tcpdump >/dev/null 2>&1 || missing+=(tcpdump)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-netdeps: missing ${missing[*]} and this is not root; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
# The package enables a system service on hosts with systemd; the tests start their own HAProxy.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now haproxy >/dev/null 2>&1 || true
fi
