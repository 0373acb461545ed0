#!/bin/sh
# bench_smoke - agentbus-bench runs end to end (tiny counts) and writes
# valid JSON. Speed is never asserted here.
set -u
build=${AB_BUILDDIR:-.}
if [ ! -x "$build/agentbusd" ] || [ ! -x "$build/bench/agentbus-bench" ]; then
    echo "agentbusd or agentbus-bench not built: skipped"
    exit 77
fi
out=$(mktemp -d "${TMPDIR:-/tmp}/bench-smoke-XXXXXX")
trap 'rm -rf "$out"' EXIT
"$build/bench/agentbus-bench" --smoke --scenarios small,route,durable,peers \
    --agentbusd "$build/agentbusd" --json "$out/bench.json" || exit 1
python3 - "$out/bench.json" <<'PY' || exit 1
import json, math, sys
rows = json.load(open(sys.argv[1]))
names = [r["scenario"] for r in rows]
assert names == ["small", "route", "durable-always", "durable-batch",
                 "nats", "rabbitmq", "rabbitmq-durable", "redis",
                 "redis-aof"], names
keys = ["scenario", "msgs_per_s", "mb_per_s", "p50_us", "p99_us", "p999_us",
        "baseline_msgs_per_s", "baseline_mb_per_s", "ratio"]
for r in rows:
    for k in keys:
        assert k in r, (r["scenario"], k)
for r in rows[:2]:
    for k in ["msgs_per_s", "baseline_msgs_per_s", "ratio"]:
        assert isinstance(r[k], float) and r[k] > 0, (r["scenario"], k, r[k])
    assert r["errors"] == 0 and r["baseline_errors"] == 0, r
    assert r["peak_rss_kb"] > 0 and r["cpu_s_per_m"] >= 0, r
for r in rows[2:4]:
    # measured, or skipped with a reason and nulls
    assert r["baseline_msgs_per_s"] > 0, r
    if r["skipped"]:
        assert r["msgs_per_s"] is None and r["ratio"] is None, r
nats = rows[4]
assert nats["broker"] == "agentbusd-small", nats
assert nats["baseline"] == "nats-jetstream", nats
if nats["skipped"]:
    # no nats-server, no libnats, or a server that would not start
    assert nats["baseline_msgs_per_s"] is None and nats["ratio"] is None, nats
else:
    # agentbusd's side is small's of this run
    assert nats["msgs_per_s"] == rows[0]["msgs_per_s"], nats
    assert nats["baseline_msgs_per_s"] > 0 and nats["ratio"] > 0, nats
    assert nats["baseline_errors"] == 0, nats
    open(sys.argv[1] + ".nats", "w").close()
# the peers: measured against small's or durable-always's broker side of
# this run, with the same publisher count, or skipped with a reason
counterpart = {"rabbitmq": (rows[0], "agentbusd-small", "rabbitmq-classic", 1),
               "rabbitmq-durable": (rows[2], "agentbusd-durable-always",
                                    "rabbitmq-classic-durable", 16),
               "redis": (rows[0], "agentbusd-small", "redis-streams", 1),
               "redis-aof": (rows[2], "agentbusd-durable-always",
                             "redis-streams-aof", 16)}
skipped = []
for r in rows[5:]:
    left, broker, baseline, publishers = counterpart[r["scenario"]]
    assert r["broker"] == broker and r["baseline"] == baseline, r
    assert r["publishers"] == publishers == left["publishers"], r
    if r["skipped"]:
        assert isinstance(r["skipped"], str) and r["skipped"], r
        assert r["ratio"] is None, r
        skipped.append("%s: %s" % (r["scenario"], r["skipped"]))
        continue
    assert r["msgs_per_s"] == left["msgs_per_s"], r
    assert r["baseline_msgs_per_s"] > 0 and r["ratio"] > 0, r
    assert abs(r["ratio"] - r["msgs_per_s"] / r["baseline_msgs_per_s"]) < 1e-6, r
    assert r["baseline_errors"] == 0, r
    assert r["baseline_p50_us"] > 0 and r["baseline_p99_us"] >= r["baseline_p50_us"], r
    assert r["baseline_peak_rss_kb"] > 0 and r["baseline_cpu_s_per_m"] >= 0, r
print("bench JSON ok:", ", ".join(names),
      "(nats skipped: %s)" % nats["skipped"] if nats["skipped"] else "")
for line in skipped:
    print("skipped:", line)
PY
# bench/memory.py end to end on a few thousand messages (the bytes per
# message of so few say little, and are not checked)
src=${AB_SRCDIR:-.}
/usr/bin/python3 "$src/bench/memory.py" --count 3000 --agentbusd \
    "$build/agentbusd" --json "$out/memory.json" >"$out/memory.out" 2>&1 || {
    cat "$out/memory.out"
    exit 1
}
python3 - "$out/memory.json" <<'PY' || exit 1
import json, sys
rows = json.load(open(sys.argv[1]))
assert [r["mode"] for r in rows] == ["memory", "durable"], rows
for r in rows:
    assert r["queued"] == 3000 and r["refused"] == 0 and r["alive"], r
    assert r["rss_after"] > 0 and r["anon_after"] > 0, r
    for k in ["rss_per_msg", "anon_per_msg"]:
        assert isinstance(r[k], float), (k, r)
# the durable broker maps data.mdb; the other has none
assert rows[1]["mdb_after"] > 0 and rows[0]["mdb_after"] == 0, rows
print("memory.py ok")
PY
# where NATS ran: `--scenarios nats` alone runs small's broker side itself
[ -e "$out/bench.json.nats" ] || exit 0
"$build/bench/agentbus-bench" --scenarios nats --seconds 0.5 \
    --agentbusd "$build/agentbusd" --json "$out/nats.json" || exit 1
python3 - "$out/nats.json" <<'PY' || exit 1
import json, sys
rows = json.load(open(sys.argv[1]))
assert [r["scenario"] for r in rows] == ["nats"], rows
r = rows[0]
assert not r["skipped"], r
for k in ["msgs_per_s", "baseline_msgs_per_s", "ratio"]:
    assert isinstance(r[k], float) and r[k] > 0, (k, r[k])
assert r["errors"] == 0 and r["baseline_errors"] == 0, r
assert r["baseline_peak_rss_kb"] > 0 and r["baseline_cpu_s_per_m"] >= 0, r
print("nats alone ok: %.0f msg/s against %.0f" % (r["msgs_per_s"],
                                                  r["baseline_msgs_per_s"]))
PY
