#!/usr/bin/env bash
# `make demo`: the user's seed example (examples/seed/: the NetworkAttachmentDefinition
# macvlan-conf and the pod samplepod), first planned with `pymultus dry-run` (touches
# nothing), then run for real with `pymultus try` in throwaway network namespaces, which
# are removed afterwards. `try` needs root; without it the demo says so and stops there.
set -euo pipefail
cd "$(dirname "$0")/.."

PYMULTUS=.venv/bin/pymultus
SEED=examples/seed
FILES=(-f "$SEED/network-attachment.yaml" -f "$SEED/pod.yaml")

if [ ! -x "$PYMULTUS" ]; then
    echo "demo: $PYMULTUS is missing; run 'make demo' (it sets up .venv/ first)" >&2
    exit 1
fi
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ] && [ "${TERM:-dumb}" != dumb ]; then
    BOLD=$'\033[1m' DIM=$'\033[2m' RESET=$'\033[0m'
else
    BOLD='' DIM='' RESET=''
fi

heading() { printf '\n%s== %s ==%s\n' "$BOLD" "$1" "$RESET"; }
command_line() { printf '%s$ %s%s\n\n' "$DIM" "$*" "$RESET"; }

heading "1/2  dry-run: the plan for pod samplepod (nothing is touched)"
command_line pymultus dry-run "${FILES[@]}"
"$PYMULTUS" dry-run "${FILES[@]}" 2>&1

if [ "$(id -u)" -ne 0 ]; then
    heading "2/2  try: skipped"
    echo "pymultus try creates network namespaces and links, which needs root;"
    echo "this demo runs as $(id -un 2>/dev/null || id -u). As root, run: make demo"
    exit 0
fi

heading "2/2  try: the same plan, for real, in throwaway network namespaces"
command_line pymultus try "${FILES[@]}"
"$PYMULTUS" try "${FILES[@]}"
