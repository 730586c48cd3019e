# Helpers of scripts/setup.sh, kept apart so that tests can source them (no side effects).

# Prints the command prefix that runs a command as root for user id $1: nothing for root,
# "sudo" where it exists, else "need_root" (a function that says to run as root and fails).
root_prefix() {
  if [ "$1" -eq 0 ]; then
    echo ""
  elif command -v sudo >/dev/null 2>&1; then
    echo "sudo"
  else
    echo "need_root"
  fi
}

need_root() {
  echo "[setup] error: this step ($*) needs root, and sudo is not installed: run scripts/setup.sh as root" >&2
  return 1
}

# Prints the first mirror URI that one-line apt sources (sources.list, *.list) give for the
# suite $1, from the files named after it. Takes both `deb URI suite comp…` and
# `deb [option=… …] URI suite comp…` (an options block may hold spaces).
mirror_from_lists() {
  local codename=$1
  shift
  awk -v c="$codename" '
    $1 == "deb" {
      i = 2
      if (substr($i, 1, 1) == "[") { while (i <= NF && substr($i, length($i), 1) != "]") i++; i++ }
      if ($(i + 1) == c) { print $i; exit }
    }' "$@" 2>/dev/null || true
}
