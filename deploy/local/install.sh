#!/usr/bin/env bash
# Installs what Baton's local Triton fleet, its tests and its code generation
# need, idempotently: Debian packages (the libpython the Python backend embeds,
# numpy < 2 for that Python, protoc), and a virtualenv holding the PyPI wheel
# nvidia-pytriton (a stock tritonserver with the Python backend) plus the
# Python tools the tests drive. A second run with everything present takes
# about a second.
#
# Result: $BATON_HOME/triton -> the tritonserver tree (bin/, backends/),
# $BATON_HOME/venv, and $BATON_HOME/bin/perf_analyzer. BATON_HOME defaults to ~/.cache/baton.
set -euo pipefail

BATON_HOME=${BATON_HOME:-$HOME/.cache/baton}
PYTRITON_VERSION=0.7.0
# Python packages in the venv; bump STAMP_VERSION when this list changes.
PIP_PACKAGES=("nvidia-pytriton==$PYTRITON_VERSION" "numpy<2" "tritonclient[http,grpc]==2.73.0")
STAMP_VERSION="pytriton-$PYTRITON_VERSION-r2"
APT_PACKAGES=(libpython3.11 python3-numpy protobuf-compiler curl gpgv xz-utils)

log() { printf 'install: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root for: $*"; exit 1; fi
}

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$BATON_HOME"
venv="$BATON_HOME/venv"
stamp="$venv/.baton-stamp"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$STAMP_VERSION" ]; then
  log "pip: installing ${PIP_PACKAGES[*]} into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "${PIP_PACKAGES[@]}"
  echo "$STAMP_VERSION" >"$stamp"
fi

tree=$("$venv/bin/python" -c 'import pathlib, pytriton; print(pathlib.Path(pytriton.__file__).parent / "tritonserver")')
[ -x "$tree/bin/tritonserver" ] || { log "no tritonserver binary under $tree"; exit 1; }

# The Python backend stub embeds libpython; pick the stub built for a Python
# whose shared library the system has (Debian 12: 3.11, with python3-numpy).
stub_dst="$tree/backends/python/triton_python_backend_stub"
if [ ! -x "$stub_dst" ]; then
  for v in 3.13 3.12 3.11 3.10 3.9 3.8; do
    if [ -x "$tree/python_backend_stubs/$v/triton_python_backend_stub" ] && ldconfig -p | grep -q "libpython$v.so.1.0"; then
      cp "$tree/python_backend_stubs/$v/triton_python_backend_stub" "$stub_dst"
      log "python backend stub: Python $v"
      break
    fi
  done
  [ -x "$stub_dst" ] || { log "no python backend stub matches a system libpython"; exit 1; }
fi

ln -sfn "$tree" "$BATON_HOME/triton"
log "tritonserver ready at $BATON_HOME/triton/bin/tritonserver"

# NVIDIA's perf_analyzer, the benchmark anchor (its own script explains why
# it needs one).
BATON_HOME="$BATON_HOME" "$(dirname "$0")/install-perf-analyzer.sh" >/dev/null
log "perf_analyzer ready at $BATON_HOME/bin/perf_analyzer"
