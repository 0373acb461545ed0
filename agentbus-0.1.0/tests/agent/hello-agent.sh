#!/bin/sh
# Runs contrib/examples/hello-agent (both roles) against the real agentbusd
# with the example's topology. Skips (77) when agentbusd is not built.
set -u
broker="$AB_BUILDDIR/agentbusd"
example="$AB_BUILDDIR/contrib/examples/hello-agent"
[ -x "$broker" ] || { echo "SKIP: no $broker"; exit 77; }
[ -x "$example" ] || { echo "FAIL: no $example"; exit 1; }
tmp=$(mktemp -d) || exit 1
endpoint="ipc://$tmp/agentbus.sock"
"$broker" --topology "$AB_SRCDIR/contrib/examples/hello/topology.yaml" \
    --endpoint "$endpoint" >"$tmp/broker.log" 2>&1 &
broker_pid=$!
cleanup () {
    kill "$broker_pid" 2>/dev/null
    wait "$broker_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
# The listener says HELLO and retries by itself until the broker is up.
timeout 20 "$example" listen "$endpoint" 3 >"$tmp/listen.out" 2>&1 &
listener_pid=$!
status=0
timeout 20 "$example" greet "$endpoint" 3 >"$tmp/greet.out" 2>&1 || status=1
wait "$listener_pid" || status=1
cat "$tmp/greet.out" "$tmp/listen.out"
grep -q 'greeting 3 routed to 1 queue' "$tmp/greet.out" || status=1
[ "$(grep -c '"hello, listener" from greeter' "$tmp/listen.out")" = 3 ] \
    || status=1
[ $status = 0 ] || cat "$tmp/broker.log"
exit $status
