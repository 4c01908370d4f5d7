#!/usr/bin/env bash
# `make wheel`: does the package install as a user would install it?
#
#  1. builds the sdist from this checkout (maturin, in a fresh build venv outside the checkout);
#  2. builds a wheel from that sdist with pip, in pip's isolated build environment, for a manylinux target
#     (maturin's zig support links against an old glibc), and checks it with `auditwheel show`;
#  3. installs the wheel in another fresh venv and runs the CLI from there (`openpcc --help`, `openpcc demo`),
#     from a directory outside the checkout so that nothing from the checkout can be imported.
#
# Everything lives in a fresh `mktemp -d` folder, removed at the end (KEEP_WHEEL_DIR=1 keeps it).
# CARGO_TARGET_DIR defaults to the checkout's target/ so the build reuses compiled dependencies.
# MANYLINUX (default manylinux_2_28) names the policy; on a machine that is not Linux the wheel is
# built natively and the auditwheel step is left out (it applies to Linux wheels only).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
policy=${MANYLINUX:-manylinux_2_28}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}
work=$(mktemp -d "${TMPDIR:-/tmp}/openpcc-wheel.XXXXXX")
if [[ -z "${KEEP_WHEEL_DIR:-}" ]]; then trap 'rm -rf "$work"' EXIT; fi
step() { printf '\n== make wheel: %s\n' "$*"; }

step "build venv with maturin, ziglang and auditwheel ($work/build-venv)"
"$python" -m venv "$work/build-venv"
build_py="$work/build-venv/bin/python"
"$build_py" -m pip install -q --upgrade pip
"$build_py" -m pip install -q "$(grep -E '^maturin' "$repo/requirements-dev.txt" | sed 's/ *#.*//')" ziglang auditwheel

step "sdist"
(cd "$repo" && "$work/build-venv/bin/maturin" sdist --out "$work/sdist")
sdist=$(echo "$work"/sdist/openpcc-*.tar.gz)
listing=$(tar -tzf "$sdist" | sed 's|^[^/]*/||')
for needed in proto/csprotos/router.proto LICENSE README.md; do
    grep -qx "$needed" <<<"$listing" || { echo "the sdist lacks $needed" >&2; exit 1; }
done

step "wheel from the sdist with pip (isolated build environment)"
if [[ "$(uname -s)" == Linux ]]; then
    # pip's isolated environment has maturin only: put the build venv's zig on PATH for --zig.
    # --no-cache-dir: a wheel cached from an earlier sdist must not stand in for this build.
    zig_dir=$("$build_py" -c 'import os, ziglang; print(os.path.dirname(ziglang.__file__))')
    PATH="$zig_dir:$PATH" MATURIN_PEP517_ARGS="--zig --compatibility $policy" \
        "$build_py" -m pip wheel --no-cache-dir --no-deps --wheel-dir "$work/dist" "$sdist"
else
    "$build_py" -m pip wheel --no-cache-dir --no-deps --wheel-dir "$work/dist" "$sdist"
fi
wheel=$(echo "$work"/dist/openpcc-*.whl)
echo "built $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KiB)"

if [[ "$(uname -s)" == Linux ]]; then
    step "auditwheel: the wheel must satisfy $policy"
    report=$("$work/build-venv/bin/auditwheel" show "$wheel")
    echo "$report"
    # auditwheel names the most compatible policy the wheel satisfies: its glibc minor must not exceed ours.
    [[ "$report" =~ \"manylinux_2_([0-9]+)_$(uname -m)\" ]] \
        || { echo "auditwheel reports no manylinux policy for $(basename "$wheel")" >&2; exit 1; }
    (( BASH_REMATCH[1] <= ${policy##*_} )) \
        || { echo "the wheel needs manylinux_2_${BASH_REMATCH[1]}, newer than $policy" >&2; exit 1; }
    [[ "$(basename "$wheel")" == *"${policy}_$(uname -m).whl" ]] \
        || { echo "the wheel is not tagged ${policy}_$(uname -m)" >&2; exit 1; }
fi

step "install the wheel in a fresh venv and run the CLI from outside the checkout"
"$python" -m venv "$work/run-venv"
# the wheel itself is the local file; its runtime dependencies (aiohttp, sigstore, ...) come from the index
"$work/run-venv/bin/python" -m pip install -q "$wheel"
cd "$work"
"$work/run-venv/bin/python" -c 'import openpcc, sys; assert not openpcc.__file__.startswith(sys.argv[1]), openpcc.__file__' "$repo"
"$work/run-venv/bin/openpcc" --help
"$work/run-venv/bin/openpcc" demo
step "ok: $(basename "$wheel") built from $(basename "$sdist"), installed and run"
