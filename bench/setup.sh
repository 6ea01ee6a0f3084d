#!/usr/bin/env bash
# Idempotent set-up for `make bench` on Debian 12: everything scripts/bootstrap.sh installs
# (servers, clients, .venv) plus the peer tools the benchmark compares ferryman with.
#
# The peer tools are needed by the benchmark only, never by `make test`. apt-get update runs
# only when a package is missing; package scripts are kept from starting system services.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'bench-setup: %s\n' "$*"; }

./scripts/bootstrap.sh

# mariadb-dump/mariadb come with mariadb-client and pg_dump/psql with postgresql-client-15
# (both installed by bootstrap.sh); listed again so the benchmark's needs are in one place.
# percona-toolkit: pt-table-sync, the MariaDB ↔ MariaDB peer of `ferryman diff`.
PACKAGES=(mydumper pgloader mariadb-client postgresql-client-15 percona-toolkit)

missing=()
# python-mysql-replication: the peer of bench/binlog_decode.py (bench only, not a dependency)
if ! .venv/bin/python -c "import pymysqlreplication" 2>/dev/null; then
    say "installing mysql-replication==1.0.17 into .venv"
    .venv/bin/pip install -q "mysql-replication==1.0.17"
fi

# py-spy: BENCH_PROFILE=DIR records where `ferryman move start` spends its time (bench only)
if [[ ! -x .venv/bin/py-spy ]]; then
    say "installing py-spy into .venv"
    .venv/bin/pip install -q py-spy
fi

# reladiff 0.6: the peer of `ferryman diff` (MariaDB ↔ MariaDB and ↔ PostgreSQL), with its
# MySQL (mysql-connector-python) and PostgreSQL (psycopg2-binary) drivers, in a virtualenv of
# its own so that none of its dependencies reach .venv (.bench/ is ignored by git)
RELADIFF_VENV=.bench/reladiff
if ! "$RELADIFF_VENV/bin/reladiff" --version 2>/dev/null | grep -qx 'v0\.6\.0'; then
    say "installing reladiff 0.6.0 into $RELADIFF_VENV"
    rm -rf "$RELADIFF_VENV"
    .venv/bin/python -m venv "$RELADIFF_VENV"
    "$RELADIFF_VENV/bin/pip" install -q "reladiff[mysql,postgresql]==0.6.0"
fi

# etcd clients compared by bench/etcd_clients.py (the choice of ferryman sync's client), each in
# a virtualenv of its own under .bench/ so that grpcio and protobuf never reach .venv:
# etcd3gw (what ferryman uses), etcd3 (python-etcd3, last release 2020; needs protobuf<4),
# etcd-sdk-python (module pyetcd, a maintained fork of python-etcd3; it does not declare its
# protobuf dependency) and aetcd (asyncio)
etcd_client_venv() {  # NAME IMPORT REQUIREMENT...
    local venv=.bench/$1 module=$2
    shift 2
    if ! "$venv/bin/python" -c "import $module" 2>/dev/null; then
        say "installing $* into $venv"
        rm -rf "$venv"
        .venv/bin/python -m venv "$venv"
        "$venv/bin/pip" install -q "$@"
    fi
}
etcd_client_venv etcd-etcd3gw etcd3gw "etcd3gw==2.7.0"
etcd_client_venv etcd-etcd3 etcd3 "etcd3==0.12.0" "protobuf<4"
etcd_client_venv etcd-etcd-sdk-python pyetcd "etcd-sdk-python==0.0.7" protobuf
etcd_client_venv etcd-aetcd aetcd "aetcd==1.0.0"

# ferryman's bytecode, as an installed package has it: pip compiles what it installs (the peers'
# virtualenvs have theirs), but this editable install compiles each module on every start when
# PYTHONDONTWRITEBYTECODE is set (0.2-0.3 s of each run's CPU); a stale file is ignored
.venv/bin/python -m compileall -q ferryman >/dev/null

for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == installed ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
    say "peer tools present (${PACKAGES[*]})"
    exit 0
fi

say "installing ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then
    SUDO=()
elif command -v sudo >/dev/null; then
    SUDO=(sudo -n)
else
    say "not root and no sudo: install these packages first: ${missing[*]}" >&2
    exit 1
fi
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
    "${SUDO[@]}" sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
    trap '"${SUDO[@]}" rm -f "$policy"' EXIT
fi
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}" </dev/null
say "ready"
