#!/usr/bin/env bash
# CommLens system set-up. Idempotent: safe to run again and again.
#  - makes sure a Vulkan driver exists for dawn-node (Mesa lavapipe from
#    bookworm-backports on machines without a GPU driver; bookworm's own Mesa 22 is
#    rejected by Dawn),
#  - installs Debian's chromium (used by the webview tests; never a browser download),
#  - installs Debian's python3-pandas/plotly/networkx/pydot/psutil (to run HTA in the differential test)
#    and python3-torch (the PyTorch path: real DDP jobs with gloo, their profiler traces),
#  - installs the npm dependencies and builds, then prints the adapter it found.
# Options: --system-only (skip npm and build)
set -euo pipefail
cd "$(dirname "$0")/.."
system_only=0
[ "${1:-}" = "--system-only" ] && system_only=1

log() { printf '[setup] %s\n' "$*"; }
# shellcheck source=scripts/setup-lib.sh
. "scripts/setup-lib.sh"
# Root needs nothing; others need sudo, and without it are told to run as root.
SUDO=$(root_prefix "$(id -u)")

have_gpu_icd() {
  # A vendor Vulkan driver that is not Mesa's software rasteriser.
  local d
  for d in /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d; do
    [ -d "$d" ] || continue
    if ls "$d"/*.json 2>/dev/null | grep -qvE 'lvp_icd|intel|radeon|virtio|freedreno|broadcom|panfrost|asahi|nouveau|powervr|gfxstream'; then
      return 0
    fi
  done
  return 1
}

lavapipe_ok() {
  # lavapipe from Mesa >= 23 (Dawn rejects 22).
  [ -f /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ] || [ -f /usr/share/vulkan/icd.d/lvp_icd.json ] || return 1
  local v
  v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
  [ -n "$v" ] || return 1
  dpkg --compare-versions "$v" ge 23 || return 1
  dpkg-query -W -f='${Status}' libvulkan1 2>/dev/null | grep -q 'install ok installed'
}

apt_updated=0
apt_update() { if [ $apt_updated -eq 0 ]; then $SUDO apt-get update -qq; apt_updated=1; fi; }

add_backports() {
  # Build the backports source from the mirror this machine already uses, so no host
  # name lives in this repository.
  local codename uri
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  if grep -rqs "${codename}-backports" /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null; then return 0; fi
  uri=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    # deb822: take the URIs of the stanza whose Suites carry the plain codename.
    uri=$(awk -v c="$codename" '
      /^URIs:/ {u=$2}
      /^Suites:/ { for (i=2;i<=NF;i++) if ($i==c) found=u }
      /^$/ {u=""}
      END {print found}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ]; then
    # One-line sources, with or without an options block: deb [signed-by=…] URI suite main
    uri=$(mirror_from_lists "$codename" /etc/apt/sources.list /etc/apt/sources.list.d/*.list)
  fi
  if [ -z "$uri" ]; then
    echo "[setup] error: could not find a Debian mirror for '$codename' in /etc/apt/sources.list(.d)." >&2
    echo "[setup] Add '${codename}-backports' to your apt sources and install mesa-vulkan-drivers from it." >&2
    exit 1
  fi
  log "adding ${codename}-backports from the configured mirror"
  printf 'Types: deb\nURIs: %s\nSuites: %s-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$uri" "$codename" | $SUDO tee /etc/apt/sources.list.d/commlens-backports.sources >/dev/null
  apt_updated=0
}

if have_gpu_icd; then
  log "a GPU Vulkan driver is present; leaving the system's drivers alone"
elif lavapipe_ok; then
  log "Mesa lavapipe (>= 23) already installed"
else
  if ! command -v apt-get >/dev/null; then
    echo "[setup] error: no Vulkan driver found and this is not a Debian/Ubuntu system." >&2
    echo "[setup] Install a Vulkan driver (a GPU driver, or Mesa lavapipe >= 23) and the Vulkan loader." >&2
    exit 1
  fi
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  if [ "$codename" = "bookworm" ]; then
    add_backports
    apt_update
    log "installing Mesa lavapipe from bookworm-backports"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
  else
    apt_update
    log "installing Mesa lavapipe"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
  fi
fi

if ! command -v chromium >/dev/null 2>&1; then
  apt_update
  log "installing Debian's chromium (webview tests)"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

if ! /usr/bin/python3 -c 'import pandas, plotly, networkx, pydot, psutil' >/dev/null 2>&1; then
  apt_update
  log "installing Debian's pandas, plotly, networkx, pydot, psutil (the HTA differential test)"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-pandas python3-plotly python3-networkx python3-pydot python3-psutil >/dev/null
fi

if ! /usr/bin/python3 -c 'import torch' >/dev/null 2>&1; then
  apt_update
  log "installing Debian's python3-torch (the PyTorch path's real DDP jobs with gloo)"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-torch >/dev/null
fi

export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
if [ $system_only -eq 1 ]; then exit 0; fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi
log "building"
npm run --silent build
node dist/cli/commlens.js doctor --brief
