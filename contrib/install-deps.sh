#!/bin/sh
# Installs everything agentbus needs to build, test and run its demos,
# from Debian 12's packages only. Safe to run again. Needs root.
set -e
packages="build-essential autoconf automake libtool pkg-config
  libzmq3-dev libczmq-dev libjansson-dev libyaml-dev liblmdb-dev libpcre2-dev
  check python3 python3-zmq python3-yaml python3-numpy
  json-schema-test-suite libvalijson-dev libgoogle-perftools-dev libnats-dev
  clang libclang-rt-14-dev graphviz git
  groff-base man-db systemd libsystemd-dev strace debhelper lintian"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086 # word splitting of the list is intended
apt-get install -y -q --no-install-recommends $packages
