#!/bin/sh
# config_check - `agentbusd --check-config`: loads the configuration, its
# topology, schemas and filter stages as a start would, prints every
# problem as FILE:LINE:COL: message, exits 0 or 1, and binds or creates
# nothing (operations.md, "The admin command line").

set -u
srcdir=$(cd "${AB_SRCDIR:-.}" && pwd)
bin=$(cd "${AB_BUILDDIR:-.}" && pwd)/agentbusd
fixtures=$srcdir/tests/fixtures/broker
fail=0
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT

check () {  # check WHAT EXPECTED-STATUS ACTUAL-STATUS
    if [ "$2" != "$3" ]; then
        echo "FAIL: $1: exit $3, expected $2"; sed 's/^/  /' "$tmp/err"
        fail=1
    else
        echo "ok: $1"
    fi
}
expect () {  # expect WHAT FILE EXTENDED-REGEX: FILE must have a line matching
    if grep -Eq "$3" "$2"; then echo "ok: $1"; else
        echo "FAIL: $1: no line matches '$3' in:"; sed 's/^/  /' "$2"; fail=1
    fi
}

# the shipped configuration
"$bin" --check-config --config "$srcdir/conf/agentbusd.yaml" >"$tmp/out" 2>"$tmp/err"
check "conf/agentbusd.yaml" 0 $?
expect "summary on stdout" "$tmp/out" \
    'agentbusd.yaml: configuration OK; topology rag-demo@[0-9a-f]{12}: 12 agents'
[ -s "$tmp/err" ] && { echo "FAIL: stderr not empty"; fail=1; }

# every bad value at its line and column, and the topology still checked
"$bin" --check-config --config "$fixtures/bad-values.yaml" >"$tmp/out" 2>"$tmp/err"
check "bad values" 1 $?
for at in '2:12: log_level' '3:15: heartbeat_ms' '4:10: durable' '5:7: sync' \
          '6:11: map_size'; do
    expect "bad values: $at" "$tmp/err" "^$fixtures/bad-values.yaml:$at"
done
[ "$(wc -l <"$tmp/err")" -eq 5 ] || { echo "FAIL: not 5 lines"; cat "$tmp/err"; fail=1; }
[ -s "$tmp/out" ] && { echo "FAIL: stdout not empty on errors"; fail=1; }

# an unknown key, a bad filter and a broken topology, all in one run
cp -r "$fixtures/schemas" "$tmp/schemas"
cat >"$tmp/topology.yaml" <<'YAML'
topology: broken
schemas: schemas
agents:
  producer: {}
edges:
  - {from: producer, to: nobody, type: test.note}
YAML
cat >"$tmp/agentbusd.yaml" <<'YAML'
topology: topology.yaml
heartbeat: 100
filters:
  - name: no_such_filter
YAML
"$bin" --check-config --config "$tmp/agentbusd.yaml" >"$tmp/out" 2>"$tmp/err"
check "unknown key, bad topology" 1 $?
expect "unknown key at 2:1" "$tmp/err" "^$tmp/agentbusd.yaml:2:1: unknown key 'heartbeat'"
expect "topology error at its line" "$tmp/err" "^$tmp/topology.yaml:6:[0-9]+: .*nobody"

cat >"$tmp/topology.yaml" <<'YAML'
topology: fine
schemas: schemas
agents:
  producer: {}
  consumer: {}
edges:
  - {from: producer, to: consumer, type: test.note}
YAML
"$bin" --check-config --config "$tmp/agentbusd.yaml" >"$tmp/out" 2>"$tmp/err"
check "unknown filter" 1 $?
expect "unknown filter at its line" "$tmp/err" "^$tmp/agentbusd.yaml:4:[0-9]+: .*no_such_filter"

# durable edges need a data_dir; the data_dir is not created, nothing binds
"$bin" --check-config --topology "$fixtures/durable-topology.yaml" >"$tmp/out" 2>"$tmp/err"
check "durable edge without data_dir" 1 $?
expect "durable edge at its line" "$tmp/err" \
    "^$fixtures/durable-topology.yaml:7:[0-9]+: durable edge producer -> consumer needs a data_dir"
"$bin" --check-config --topology "$fixtures/durable-topology.yaml" \
    --data-dir "$tmp/state/data" --endpoint "ipc://$tmp/agents.sock" \
    >"$tmp/out" 2>"$tmp/err"
check "durable edge with data_dir" 0 $?
[ -e "$tmp/state" ] && { echo "FAIL: --check-config created the data_dir"; fail=1; }
[ -e "$tmp/agents.sock" ] && { echo "FAIL: --check-config bound the endpoint"; fail=1; }

# a missing file; and no topology at all
"$bin" --check-config --config "$tmp/absent.yaml" >"$tmp/out" 2>"$tmp/err"
check "missing configuration" 1 $?
expect "missing file named" "$tmp/err" "^$tmp/absent.yaml: cannot open"
printf 'heartbeat_ms: 100\n' >"$tmp/notopo.yaml"
"$bin" --check-config --config "$tmp/notopo.yaml" >"$tmp/out" 2>"$tmp/err"
check "no topology" 1 $?
expect "no topology named" "$tmp/err" "^$tmp/notopo.yaml: no topology"

exit $fail
