#!/usr/bin/env bash
# Set up neuraltunes-live in ./.venv and run it.
#
#   ./quickstart.sh serve [ARGS...]   set up, then start the live daemon
#   ./quickstart.sh test  [ARGS...]   set up with the test extras, then run the whole test suite
#
# It installs what it needs: the Python packages into .venv, and on
# Debian/Ubuntu the system packages below when it runs as root or with
# password-less sudo. Otherwise it stops with one line naming what to install.
set -euo pipefail
cd "$(dirname "$0")"

say() { printf 'quickstart: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

run_as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo -n "$@"
  else return 1
  fi
}

apt_install() {  # apt_install PACKAGE... ; returns 1 when it cannot
  command -v apt-get >/dev/null 2>&1 || return 1
  say "installing system packages: $*"
  run_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
    run_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

find_python() {
  # 3.12 and 3.11 first: python-rtmidi ships ready-built wheels for them.
  local candidate
  for candidate in python3.12 python3.11 python3 python3.13 python3.14; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

setup() {  # setup EXTRAS
  local extras=$1 python stamp
  python=$(find_python) || {
    apt_install python3 python3-venv && python=$(find_python)
  } || die "needs Python 3.11 or newer: install it (Debian/Ubuntu: sudo apt-get install python3 python3-venv; macOS: brew install python@3.12)"

  if [ ! -x .venv/bin/python ]; then
    if ! "$python" -m venv .venv >/dev/null 2>&1; then
      rm -rf .venv
      local version
      version=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
      apt_install "python${version}-venv" || apt_install python3-venv ||
        die "cannot create a virtual environment: install python3-venv (sudo apt-get install python3-venv)"
      "$python" -m venv .venv || die "cannot create .venv with $python"
    fi
  fi

  # Reinstall only when pyproject.toml or the extras asked for change.
  stamp=".venv/.installed-$( (cat pyproject.toml; echo "$extras") | cksum | cut -d' ' -f1)"
  if [ ! -e "$stamp" ]; then
    # python-rtmidi has no ready-built wheel for newer Pythons: pip compiles it,
    # which needs a C++ compiler and the ALSA and JACK headers.
    if [ "$(uname -s)" = Linux ] &&
      ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info >= (3, 13))'; then
      if ! command -v c++ >/dev/null 2>&1 || ! command -v pkg-config >/dev/null 2>&1 ||
        ! pkg-config --exists alsa jack 2>/dev/null; then
        apt_install build-essential pkg-config libasound2-dev libjack-jackd2-dev ||
          die "python-rtmidi must be compiled for this Python: install build-essential pkg-config libasound2-dev libjack-jackd2-dev (sudo apt-get install ...), or install Python 3.12"
      fi
    fi
    say "installing neuraltunes-live[$extras] into .venv (first run takes a minute or two)"
    .venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
    .venv/bin/python -m pip install --quiet --editable ".[$extras]" ||
      die "pip could not install the Python packages (see above); check the network and try again"
    rm -f .venv/.installed-*
    touch "$stamp"
  fi
}

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
  test)
    setup dev
    export PYTHONDONTWRITEBYTECODE=1
    exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
    ;;
  serve)
    setup dev
    if ! .venv/bin/neuraltunes-live serve --help >/dev/null 2>&1; then
      die "the live daemon (neuraltunes-live serve) is not in this version yet; what works now: .venv/bin/neuraltunes-live prepare SOURCE... --out DATA_DIR"
    fi
    exec .venv/bin/neuraltunes-live serve "$@"
    ;;
  *)
    echo "usage: ./quickstart.sh serve [ARGS...] | ./quickstart.sh test [PYTEST ARGS...]" >&2
    exit 2
    ;;
esac
