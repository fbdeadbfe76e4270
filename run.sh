#!/usr/bin/env bash
# FrameForge on a fresh machine, in one command. Safe to run again: each step is skipped when already done.
#
#   ./run.sh app  [--share]        set up, then serve the app on http://127.0.0.1:7860
#   ./run.sh test [pytest args]    set up, then run the tests (what .ci/run calls)
#   ./run.sh setup                 only set up
#
# Set-up: the system packages ffmpeg, libgl1 (OpenCV) and chromium (the browser test) through apt-get where this
# machine has it and allows it (root, or sudo); the virtual environment .venv; the pinned requirements.txt
# (installed again only when the file changed). FRAMEFORGE_FRESH_VENV=1 rebuilds .venv from scratch;
# FRAMEFORGE_STRICT_SETUP=1 makes a missing system package an error instead of a warning (CI).
set -euo pipefail
cd "$(dirname "$0")"
export PIP_DISABLE_PIP_VERSION_CHECK=1

APT_PACKAGES=(ffmpeg libgl1 chromium)
PYTHON=${PYTHON:-python3}

say() { printf '== %s\n' "$*" >&2; }

system_packages() {
    local missing=()
    if command -v dpkg-query >/dev/null; then
        for p in "${APT_PACKAGES[@]}"; do
            dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
        done
        "$PYTHON" -c "import ensurepip" 2>/dev/null || missing+=(python3-venv)
    else
        for p in ffmpeg chromium; do command -v "$p" >/dev/null || missing+=("$p"); done
    fi
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null && { sudo -n true 2>/dev/null || [ -t 0 ]; }; then sudo="sudo"; else sudo="none"; fi
    fi
    if command -v apt-get >/dev/null && [ "$sudo" != "none" ]; then
        say "system packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        $sudo apt-get update -qq
        $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        local msg="missing system packages: ${missing[*]} (install them, e.g. apt-get install ${missing[*]})"
        [ "${FRAMEFORGE_STRICT_SETUP:-0}" = 1 ] && { say "error: $msg"; exit 1; }
        say "warning: $msg; continuing: the browser test skips without chromium"
    fi
}

python_env() {
    if [ "${FRAMEFORGE_FRESH_VENV:-0}" = 1 ] && [ -d .venv ]; then
        say "fresh venv"
        rm -rf .venv
    fi
    if [ ! -x .venv/bin/python ]; then
        say "venv (.venv)"
        "$PYTHON" -m venv .venv
    fi
    local stamp=.venv/.frameforge-requirements
    local want
    want=$(sha256sum requirements.txt | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        say "requirements (pip install -r requirements.txt)"
        .venv/bin/python -m pip install -q -r requirements.txt
        echo "$want" > "$stamp"
    fi
}

setup() {
    system_packages
    python_env
}

cmd=${1:-app}
[ $# -gt 0 ] && shift
case "$cmd" in
    setup)
        setup ;;
    app)
        setup
        say "app: http://${GRADIO_SERVER_NAME:-127.0.0.1}:${GRADIO_SERVER_PORT:-7860} (Ctrl+C stops it)"
        exec .venv/bin/python app.py "$@" ;;
    test)
        setup
        say "tests (about 5 min on 2 idle CPU cores; those needing ../shared/data skip without it)"
        set +e
        .venv/bin/python -m pytest -q "$@"
        status=$?
        set -e
        [ $status -eq 5 ] && { say "pytest collected no tests"; exit 1; }
        exit $status ;;
    *)
        echo "usage: ./run.sh app [--share] | test [pytest args] | setup" >&2
        exit 2 ;;
esac
