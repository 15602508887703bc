#!/usr/bin/env bash
# Sets up a fresh Debian machine for pymultus: system packages (as root), the uv tool,
# and .venv/ with every workspace distribution installed editable at the locked versions.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v ip >/dev/null || need_apt+=(iproute2)
[ -x /usr/lib/cni/macvlan ] || need_apt+=(containernetworking-plugins)
command -v cc >/dev/null || need_apt+=(gcc libc6-dev)
command -v make >/dev/null || need_apt+=(make)
if [ -x /usr/bin/python3.11 ] && ! /usr/bin/python3.11 -c 'import ensurepip' 2>/dev/null; then
    need_apt+=(python3.11-venv)
fi
if [ "${PYMULTUS_WITH_PODMAN:-0}" = 1 ]; then
    command -v podman >/dev/null || need_apt+=(podman)
    command -v runc >/dev/null || need_apt+=(runc)
    [ -x /bin/busybox ] || need_apt+=(busybox-static)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: missing system packages (${need_apt[*]}); run as root or install them" >&2
        exit 1
    fi
    echo "setup: apt-get install ${need_apt[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# uv: the one tool that reads uv.lock. Use the one on PATH, else a private copy.
UV_VERSION=0.13.9
UV=$(command -v uv || true)
if [ -z "$UV" ]; then
    UV=.cache/uv-tool/bin/uv
    if [ ! -x "$UV" ]; then
        py=$(command -v python3)
        "$py" -m venv .cache/uv-tool
        .cache/uv-tool/bin/python -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
    fi
fi

# The CNI binary starts once per pod: Debian's optimised CPython starts ~15 % faster
# than a generic build, so prefer it when present.
PY=${PYMULTUS_PYTHON:-}
if [ -z "$PY" ]; then
    if [ -x /usr/bin/python3.11 ]; then PY=/usr/bin/python3.11; else PY=$(command -v python3); fi
fi
"$UV" sync --frozen --python "$PY" --quiet --compile-bytecode
# Our own (editable) sources too: the CNI binary is a fresh process per pod, and where
# PYTHONDONTWRITEBYTECODE is set nothing would ever cache the compiled modules.
.venv/bin/python -m compileall -q core/src plugins/*/src examples/*/src >/dev/null
echo "setup: .venv ready ($(.venv/bin/python --version))" >&2
./scripts/build-shim.sh  # the compiled pymultus-shim (thick mode), into .cache/shim/
