#!/usr/bin/env bash
# Set up neuraltunes-live in ./.venv and run it.
#
#   ./quickstart.sh serve [ARGS...]   set up what playing needs (no TensorFlow), then start the live daemon
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

  # Reinstall only when pyproject.toml or the extras asked for change; the
  # test set holds the runtime, so `serve` after `test` installs nothing.
  stamp=".venv/.installed-$( (cat pyproject.toml; echo "$extras") | cksum | cut -d' ' -f1)"
  local dev_stamp=".venv/.installed-$( (cat pyproject.toml; echo dev) | cksum | cut -d' ' -f1)"
  local spec=".[$extras]"
  [ "$extras" = runtime ] && spec="."
  if [ ! -e "$stamp" ] && ! { [ "$extras" = runtime ] && [ -e "$dev_stamp" ]; }; then
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
    say "installing neuraltunes-live ($extras) into .venv (first run takes a minute or two)"
    .venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
    # pip's own chatter (build warnings) goes to a log, shown only if it fails.
    if ! .venv/bin/python -m pip install --quiet --editable "$spec" >.venv/pip.log 2>&1; then
      cat .venv/pip.log >&2
      die "pip could not install the Python packages (see above); check the network and try again"
    fi
    rm -f .venv/.installed-*
    touch "$stamp"
  fi
}

need_jack() {  # need_jack WHY: jackd and jack_wait on the PATH, installed if we can
  command -v jackd >/dev/null 2>&1 && command -v jack_wait >/dev/null 2>&1 && return 0
  case "$(uname -s)" in
    Linux) apt_install jackd2 || die "$1: install JACK (sudo apt-get install jackd2)" ;;
    Darwin)
      if command -v brew >/dev/null 2>&1; then say "installing JACK: brew install jack"; brew install jack >/dev/null ||
        die "$1: install JACK (brew install jack)"
      else die "$1: install JACK (brew install jack)"
      fi ;;
    *) die "$1: install JACK (jackd and jack_wait)" ;;
  esac
}

has_synth() {  # FluidSynth and a General MIDI SoundFont it loads, found where the synth itself looks
  .venv/bin/python -c 'from neuraltunes_live.live.synth import SoundFontSynth; SoundFontSynth().close()' >/dev/null 2>&1
}

need_synth() {  # need_synth MODE: FluidSynth and a General MIDI SoundFont; MODE "must" stops without them
  has_synth && return 0
  local what="the built-in synth needs FluidSynth and a General MIDI SoundFont"
  case "$(uname -s)" in
    Linux)
      apt_install libfluidsynth3 timgm6mb-soundfont && return 0
      [ "$1" = must ] && die "$what: install them (sudo apt-get install libfluidsynth3 timgm6mb-soundfont)"
      say "$what (sudo apt-get install libfluidsynth3 timgm6mb-soundfont); without them it plays MIDI only" ;;
    Darwin)
      if command -v brew >/dev/null 2>&1; then say "installing FluidSynth: brew install fluid-synth"
        brew install fluid-synth >/dev/null && has_synth && return 0
      fi
      [ "$1" = must ] && die "$what: brew install fluid-synth, and pass a SoundFont with --soundfont FILE.sf2"
      say "$what: brew install fluid-synth, and pass a SoundFont with --soundfont FILE.sf2" ;;
    *) [ "$1" = must ] && die "$what" || say "$what" ;;
  esac
}

jack_running() { [ "$(jack_wait -c 2>/dev/null)" = running ]; }

serve_with_jack() {  # start a JACK server with the dummy driver, run the daemon, stop the server
  need_jack "this machine has no ALSA sequencer (/dev/snd/seq), so the MIDI ports need JACK"
  say "no ALSA sequencer here: starting a JACK server (dummy driver) for the MIDI ports; it stops with the daemon"
  jackd -d dummy -r 48000 -p 512 >.venv/jackd.log 2>&1 &
  local jack=$! daemon status=0
  if ! jack_wait -w -t 10 >/dev/null 2>&1; then
    kill -TERM "$jack" 2>/dev/null || true
    die "the JACK server did not start (see .venv/jackd.log)"
  fi
  .venv/bin/neuraltunes-live serve --backend jack "$@" &
  daemon=$!
  # A script's background jobs ignore Ctrl-C: pass it (and SIGTERM) on as SIGTERM, SIGHUP as is.
  trap 'kill -TERM "$daemon" 2>/dev/null || true' INT TERM
  trap 'kill -HUP "$daemon" 2>/dev/null || true' HUP
  while kill -0 "$daemon" 2>/dev/null; do
    wait "$daemon" && status=0 || status=$?
  done
  trap - INT TERM HUP
  kill -TERM "$jack" 2>/dev/null || true  # SIGTERM, never -9: a killed server leaves shared memory behind
  wait "$jack" 2>/dev/null || true
  exit "$status"
}

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
  test)
    need_jack "the real-MIDI-port tests run over a JACK server with the dummy driver"
    setup dev
    need_synth must
    export PYTHONDONTWRITEBYTECODE=1
    # The linter, the formatter's check and the type checker first (settings in
    # pyproject.toml): a finding stops the run.
    .venv/bin/ruff check --no-cache neuraltunes_live tests benchmarks ||
      die "ruff found the problems above; fix them (or run .venv/bin/ruff check --fix) and run the tests again"
    .venv/bin/ruff format --check --no-cache neuraltunes_live tests benchmarks ||
      die "these files are not formatted: run .venv/bin/ruff format, then the tests again"
    .venv/bin/mypy --no-incremental ||
      die "mypy found the type errors above; fix them and run the tests again"
    exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
    ;;
  serve)
    # What playing needs, no more: no TensorFlow, no music21 (those come with `test`).
    setup runtime
    need_synth may
    if [ "$(uname -s)" = Linux ] && [ ! -e /dev/snd/seq ] && ! { command -v jack_wait >/dev/null 2>&1 && jack_running; }; then
      serve_with_jack "$@"
    fi
    exec .venv/bin/neuraltunes-live serve "$@"
    ;;
  *)
    echo "usage: ./quickstart.sh serve [ARGS...] | ./quickstart.sh test [PYTEST ARGS...]" >&2
    exit 2
    ;;
esac
