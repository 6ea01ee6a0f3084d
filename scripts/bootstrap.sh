#!/usr/bin/env bash
# Idempotent developer/CI set-up on Debian 12: system packages, .venv, editable install.
#
# Safe to run again and again (make runs it before every test): it installs only what is
# missing and re-runs pip only when pyproject.toml changed. It never starts or stops system
# services; the test suite runs its own throwaway servers (ferryman/testing/servers.py).
#
# Environment: PYTHON=/path/to/python3.x picks the interpreter for a new .venv.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'bootstrap: %s\n' "$*"; }

PACKAGES=(
    mariadb-server mariadb-client
    postgresql-15 postgresql-client-15
    etcd-server etcd-client
    libmariadb-dev pkg-config gcc python3-dev python3-venv
    # the browser test of `ferryman serve` (tests/test_serve_browser.py): Selenium drives
    # Debian's Chromium through /usr/bin/chromedriver; nothing is downloaded at run time
    chromium chromium-driver
)

# --- Debian packages ---------------------------------------------------------------------
missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == installed ]] || missing+=("$pkg")
done

if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    if [[ $(id -u) -eq 0 ]]; then
        SUDO=()
    elif command -v sudo >/dev/null; then
        SUDO=(sudo -n)
    else
        say "not root and no sudo: install these packages first: ${missing[*]}" >&2
        exit 1
    fi
    # Keep package scripts from starting the system MariaDB/PostgreSQL/etcd services; a
    # policy-rc.d that already exists (containers usually have one) is left as it is.
    policy=/usr/sbin/policy-rc.d
    if [[ ! -e $policy ]]; then
        "${SUDO[@]}" sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
        trap '"${SUDO[@]}" rm -f "$policy"' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing[@]}" </dev/null
else
    say "system packages present"
fi

# --- Python ------------------------------------------------------------------------------
python_ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }

if [[ -x .venv/bin/python ]] && python_ok .venv/bin/python; then
    say ".venv present ($(.venv/bin/python -V 2>&1))"
else
    python=""
    for candidate in ${PYTHON:-} python3 python3.13 python3.12 python3.11; do
        if command -v "$candidate" >/dev/null && python_ok "$candidate"; then
            python=$(command -v "$candidate")
            break
        fi
    done
    if [[ -z $python ]]; then
        say "no Python >= 3.11 found (set PYTHON=/path/to/python3.11 or newer)" >&2
        exit 1
    fi
    say "creating .venv with $python ($("$python" -V 2>&1))"
    rm -rf .venv
    "$python" -m venv .venv
    rm -f .venv/.stamp
fi

stamp=.venv/.stamp
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [[ -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
    say "python packages up to date"
else
    say "installing ferryman and dev tools into .venv"
    .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]' </dev/null
    printf '%s\n' "$want" >"$stamp"
fi
say "ready"
