#!/usr/bin/env bash
# Install the official OpenAI Node.js SDK (npm package `openai`) into VENV/node for the test that calls
# `openpcc proxy` from Node.js (tests/openai_front/test_node_sdk.py). openai 7 needs Node.js 22; 6.30.1 is the
# newest that runs on Node.js 20, and has no dependencies.
# Usage: scripts/install-node-openai.sh [VENV]   (default .venv). Without node and npm it says so and does
# nothing: the test then skips (or fails when CI is set).
set -euo pipefail

VENV="${1:-.venv}"
VERSION="6.30.1"
PREFIX="$VENV/node"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "install-node-openai: node or npm not found; the Node.js SDK test will skip (fail under CI)"
	exit 0
fi
installed="$(node -p "require('$PREFIX/node_modules/openai/package.json').version" 2>/dev/null || true)"
if [ "$installed" = "$VERSION" ]; then
	echo "install-node-openai: openai $VERSION already installed in $PREFIX"
	exit 0
fi
mkdir -p "$PREFIX"
echo "install-node-openai: installing the npm package openai@$VERSION into $PREFIX"
npm install --silent --no-audit --no-fund --prefix "$PREFIX" "openai@$VERSION"
