# demo-lib.sh - sourced by run-demo.sh and tests/demo_*.sh: finds a Python
# with pyzmq, yaml and numpy, and starts and stops agentbusd on
# conf/topology.yaml on a free port.  Callers set builddir and srcdir.
# shellcheck disable=SC2154 # builddir and srcdir come from the caller

export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the source tree
common="$srcdir/contrib/examples/demo_common.py"  # free-port, wait, counters

# Sets $python to the first interpreter that has what the demos import.
ab_find_python () {
    for candidate in ${PYTHON3:-} /usr/bin/python3 python3; do
        if "$candidate" -c 'import zmq, yaml, numpy' >/dev/null 2>&1; then
            python=$candidate
            return 0
        fi
    done
    echo "no python3 with pyzmq, yaml and numpy (set PYTHON3)" >&2
    return 1
}

# ab_cleanup: the EXIT trap of the scripts that source this file: kills a
# broker still running (the script was interrupted) and removes $tmp.
ab_cleanup () {
    if [ -n "${broker_pid:-}" ] && kill -0 "$broker_pid" 2>/dev/null; then
        kill -KILL "$broker_pid" 2>/dev/null
    fi
    [ -n "${tmp:-}" ] && rm -rf "$tmp"
}
trap ab_cleanup EXIT
trap 'exit 130' INT TERM

# ab_start_broker LOGFILE: starts agentbusd on the example topology on a
# free port and waits until it answers PING; sets $broker_pid and
# $endpoint.  A port taken between the probe and the bind is retried.
ab_start_broker () {
    for _ in 1 2 3; do
        port=$("$python" "$common" free-port) || return 1
        endpoint="tcp://127.0.0.1:$port"
        "$builddir/agentbusd" --topology "$srcdir/conf/topology.yaml" \
            --endpoint "$endpoint" >"$1" 2>&1 &
        broker_pid=$!
        if "$python" "$common" wait "$endpoint" 60; then
            return 0
        fi
        kill -KILL "$broker_pid" 2>/dev/null
        wait "$broker_pid" 2>/dev/null
    done
    echo "agentbusd did not answer PING; its log:" >&2
    tail -n 20 "$1" >&2
    return 1
}

# ab_stop_broker: SIGTERM, then waits (SIGKILL after 10 s); sets
# $broker_status to the exit status.
ab_stop_broker () {
    kill -TERM "$broker_pid" 2>/dev/null
    waited=0
    while kill -0 "$broker_pid" 2>/dev/null && [ "$waited" -lt 100 ]; do
        sleep 0.1
        waited=$((waited + 1))
    done
    if kill -0 "$broker_pid" 2>/dev/null; then
        echo "agentbusd did not stop within 10 s of SIGTERM" >&2
        kill -KILL "$broker_pid" 2>/dev/null
    fi
    wait "$broker_pid"
    broker_status=$?
    broker_pid=
}

# ab_run_demo SCRIPT [ARGS...]: runs one demo against $endpoint, bounded
# by 120 s; returns its exit status.
ab_run_demo () {
    demo_script="$srcdir/contrib/examples/$1"
    shift
    set -- "$demo_script" --endpoint "$endpoint" \
        --topology "$srcdir/conf/topology.yaml" "$@"
    if command -v timeout >/dev/null 2>&1; then
        timeout 120 "$python" "$@"
    else
        "$python" "$@"
    fi
}

# ab_demo_test DEMO PATTERN...: the body of tests/demo_*.sh.  Runs DEMO
# ($AB_DEMO_RUNS times, default 1) against a fresh broker and checks that
# it exits 0, that every extended regular expression PATTERN matches a
# line of each run's output, and that the broker exits 0 on SIGTERM.
# Exits 77 (skip) only when agentbusd is not built.
ab_demo_test () {
    if [ ! -x "$builddir/agentbusd" ]; then
        echo "SKIP: $builddir/agentbusd is not built"
        exit 77
    fi
    ab_find_python || exit 99
    demo=$1
    shift
    tmp=$(mktemp -d) || exit 99
    ab_start_broker "$tmp/agentbusd.log" || exit 1
    fail=0
    run=1
    while [ "$run" -le "${AB_DEMO_RUNS:-1}" ]; do
        ab_run_demo "$demo" >"$tmp/out" 2>&1
        status=$?
        cat "$tmp/out"
        if [ "$status" -ne 0 ]; then
            echo "FAIL: $demo (run $run) exited $status"
            fail=1
        fi
        for pattern in "$@"; do
            if ! grep -Eq -- "$pattern" "$tmp/out"; then
                echo "FAIL: $demo (run $run): no line matches /$pattern/"
                fail=1
            fi
        done
        run=$((run + 1))
    done
    ab_stop_broker
    if [ "$broker_status" -ne 0 ]; then
        echo "FAIL: agentbusd exited $broker_status on SIGTERM; its log:"
        tail -n 20 "$tmp/agentbusd.log"
        fail=1
    fi
    [ "$fail" -eq 0 ] && echo "ok: $demo"
    exit "$fail"
}
