#!/usr/bin/env bash
# Builds the compiled pymultus-shim (core/shim/pymultus-shim.c, libc only) into
# .cache/shim/pymultus-shim, or into the path given as the first argument.
# Rebuilds only when the source is newer; the result replaces the old one atomically.
set -euo pipefail
cd "$(dirname "$0")/.."
src=core/shim/pymultus-shim.c
out=${1:-.cache/shim/pymultus-shim}
if [ -x "$out" ] && [ "$out" -nt "$src" ]; then
    exit 0
fi
mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
"${CC:-cc}" -O2 -Wall -Wextra -Werror -std=c11 -o "$tmp" "$src"
mv -f "$tmp" "$out"
echo "build-shim: $out" >&2
