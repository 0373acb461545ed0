#!/bin/sh
# Installs everything agentbus needs to build, test and run its demos,
# from Debian 12's packages only. Safe to run again. Needs root.
set -e
packages="build-essential autoconf automake libtool pkg-config
  libzmq3-dev libczmq-dev libjansson-dev libyaml-dev liblmdb-dev libpcre2-dev
  check python3 python3-zmq python3-yaml python3-numpy
  json-schema-test-suite libvalijson-dev libgoogle-perftools-dev libnats-dev
  clang libclang-rt-14-dev graphviz git
  groff-base man-db systemd libsystemd-dev strace debhelper lintian
  librabbitmq-dev libhiredis-dev rabbitmq-server redis-server nats-server"
# rabbitmq-server, redis-server and nats-server are for agentbus-bench's
# peer scenarios: the bench starts its own servers on free ports with
# their own dirs (and RabbitMQ's own epmd port), so the system services
# Debian's postinst may start (ports 5672, 4369, 6379) neither serve nor
# disturb the tests.
# the Python client's offline venv install and its type check (tests/clients)
packages="$packages python3-venv python3-pip python3-setuptools mypy"
# Node.js for the JavaScript client, from Debian when the machine has none
command -v npm >/dev/null 2>&1 || packages="$packages nodejs npm"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086 # word splitting of the list is intended
apt-get install -y -q --no-install-recommends $packages
# The JavaScript client's dependencies (zeromq, typescript), from
# clients/js/package-lock.json, for its test in `make check`.  Needs node
# and npm (Node 18 or later); without them that test is skipped.
if command -v npm >/dev/null 2>&1; then
    (cd "$(dirname "$0")/../clients/js" && npm ci --no-audit --no-fund)
else
    echo "install-deps: no npm: the JavaScript client's test will be skipped" >&2
fi
