#!/bin/sh
# plot.sh - draws docs/benchmarks-*.png from agentbus-bench --json output
#
# usage: bench/plot.sh BENCH.json [OUTDIR]   (python3; gnuplot for the plots)
#
# throughput: messages/s of the message scenarios and MB/s of the tensor
# ones, agentbusd beside the zmq_proxy baseline; latency: round-trip
# p50/p99/p99.9 at the two fixed rates, both sides; peers: agentbusd
# beside NATS JetStream, RabbitMQ and Redis Streams (msg/s and
# publish-to-consume p99). Each plot is drawn only when the JSON has its
# rows, so a run of some scenarios leaves the other plots alone. Prints
# the Markdown tables of docs/benchmarks.md on stdout; without gnuplot it
# prints them and says that it drew nothing.
set -eu
json=$1
outdir=${2:-docs}
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-plot-XXXXXX")
trap 'rm -rf "$work"' EXIT
python3 - "$json" "$work" <<'PY'
import json, sys
rows = {r["scenario"]: r for r in json.load(open(sys.argv[1]))}
work = sys.argv[2]
def val(v):
    return "NaN" if v is None else "%g" % v
with open(work + "/msgs.dat", "w") as f:
    for s in ["small", "route", "fanout", "compete", "reqrep"]:
        if s in rows:
            r = rows[s]
            f.write("%s %s %s\n" % (s, val(r["msgs_per_s"]),
                                    val(r["baseline_msgs_per_s"])))
with open(work + "/mb.dat", "w") as f:
    for s in ["tensor-1m", "tensor-16m", "tensor-64m"]:
        if s in rows:
            r = rows[s]
            f.write("%s %s %s\n" % (s, val(r["mb_per_s"]),
                                    val(r["baseline_mb_per_s"])))
with open(work + "/lat.dat", "w") as f:
    for s in ["latency-10", "latency-25"]:
        if s in rows:
            r = rows[s]
            for q in ["p50", "p99", "p999"]:
                label = "%s @%s%%" % (q.replace("p999", "p99.9"),
                                      s.split("-")[1])
                f.write("\"%s\" %s %s\n" % (label, val(r[q + "_us"]),
                                            val(r["baseline_" + q + "_us"])))
peers = ["nats", "rabbitmq", "rabbitmq-durable", "redis", "redis-aof"]
with open(work + "/peers.dat", "w") as f:
    for s in peers:
        if s in rows and not rows[s]["skipped"]:
            r = rows[s]
            f.write("%s %s %s %s %s\n" % (
                s, val(r["msgs_per_s"]), val(r["baseline_msgs_per_s"]),
                val(r["p99_us"] and r["p99_us"] / 1e3),
                val(r["baseline_p99_us"] and r["baseline_p99_us"] / 1e3)))
# the Markdown table docs/benchmarks.md carries
def cell(v, fmt):
    return "–" if v is None else fmt % v
print("| scenario | msg/s | MB/s | p50 µs | p99 µs | p99.9 µs | peak RSS MB "
      "| CPU s/M msg | baseline msg/s | baseline MB/s | baseline p50/p99 µs "
      "| ratio |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for name, r in rows.items():
    rss = r["peak_rss_kb"] / 1024 if r["peak_rss_kb"] else None
    bl = "–" if r["baseline_p50_us"] is None else "%.0f / %.0f" % (
        r["baseline_p50_us"], r["baseline_p99_us"])
    print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        name + (" (skipped)" if r["skipped"] else ""),
        cell(r["msgs_per_s"], "%.0f"), cell(r["mb_per_s"], "%.1f"),
        cell(r["p50_us"], "%.0f"), cell(r["p99_us"], "%.0f"),
        cell(r["p999_us"], "%.0f"), cell(rss, "%.1f"),
        cell(r["cpu_s_per_m"], "%.1f"), cell(r["baseline_msgs_per_s"], "%.0f"),
        cell(r["baseline_mb_per_s"], "%.1f"), bl, cell(r["ratio"], "%.2f")))
# agentbusd against its peers, one line each
if any(s in rows for s in peers):
    print()
    print("| row | agentbusd side | peer | publishers | agentbusd msg/s "
          "| peer msg/s | ratio | agentbusd p50 / p99 ms | peer p50 / p99 ms "
          "| agentbusd CPU s/M | peer CPU s/M | agentbusd RSS MB "
          "| peer RSS MB |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    def ms(a, b):
        if a is None or b is None:
            return "–"
        return "%.1f / %.1f" % (a / 1e3, b / 1e3)
    def mb(v):
        return "–" if v is None else "%.0f" % (v / 1024)
    for s in peers:
        if s not in rows:
            continue
        r = rows[s]
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s "
              "| %s |" % (
            s + (" (skipped: %s)" % r["skipped"] if r["skipped"] else ""),
            r["broker"].replace("agentbusd-", ""), r["baseline"],
            r.get("publishers", "–"), cell(r["msgs_per_s"], "%.0f"),
            cell(r["baseline_msgs_per_s"], "%.0f"), cell(r["ratio"], "%.2f"),
            ms(r["p50_us"], r["p99_us"]),
            ms(r["baseline_p50_us"], r["baseline_p99_us"]),
            cell(r["cpu_s_per_m"], "%.1f"),
            cell(r["baseline_cpu_s_per_m"], "%.1f"), mb(r["peak_rss_kb"]),
            mb(r["baseline_peak_rss_kb"])))
PY
if ! command -v gnuplot >/dev/null; then
    echo "plot.sh: gnuplot not installed: tables printed, no plots drawn" >&2
    exit 0
fi
# a plot whose data file is empty is not drawn (its PNG is left alone)
has() { [ -s "$work/$1" ]; }
cat > "$work/common.gp" <<GP
set terminal pngcairo size 960,440 font "sans,10" background rgb "white"
set style data histograms
set termoption noenhanced
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set key top left noenhanced
set grid ytics
GP
wrote=
if has msgs.dat && has mb.dat; then
cat "$work/common.gp" - > "$work/plot.gp" <<GP
set output "$outdir/benchmarks-throughput.png"
set multiplot layout 1,2 title "agentbusd against a raw zmq_proxy baseline (higher is better)"
set logscale y
set ylabel "messages/s (log)"
set title "256-byte JSON; fanout counts copies, reqrep round trips"
plot "$work/msgs.dat" using 2:xtic(1) title "agentbusd" lc rgb "#3465a4", \
     "" using 3 title "zmq_proxy" lc rgb "#aaaaaa"
unset logscale y
set yrange [0:*]
set key top right
set ylabel "MB/s"
set title "float32 tensor attachments"
plot "$work/mb.dat" using 2:xtic(1) title "agentbusd" lc rgb "#3465a4", \
     "" using 3 title "zmq_proxy" lc rgb "#aaaaaa"
unset multiplot
GP
gnuplot "$work/plot.gp"
wrote="$wrote $outdir/benchmarks-throughput.png"
fi
if has lat.dat; then
cat "$work/common.gp" - > "$work/plot.gp" <<GP
set output "$outdir/benchmarks-latency.png"
set autoscale y
set key top left
set title "round trip from the scheduled send time, at 10 % and 25 % of the small maximum (lower is better)"
set logscale y
set ylabel "microseconds (log)"
set xtics font ",9"
plot "$work/lat.dat" using 2:xtic(1) title "agentbusd REQ/REPLY" lc rgb "#3465a4", \
     "" using 3 title "zmq_proxy message+ack" lc rgb "#aaaaaa"
GP
gnuplot "$work/plot.gp"
wrote="$wrote $outdir/benchmarks-latency.png"
fi
if has peers.dat; then
cat "$work/common.gp" - > "$work/plot.gp" <<GP
set terminal pngcairo size 1040,480 font "sans,10" background rgb "white"
set output "$outdir/benchmarks-peers.png"
set multiplot layout 1,2 title "agentbusd against its peers, same workload and publisher count, one run"
set key outside bottom center horizontal
set yrange [0:*]
set ylabel "messages/s"
set title "throughput (higher is better)"
set xtics font ",9" rotate by -20
plot "$work/peers.dat" using 2:xtic(1) title "agentbusd (small / durable-always)" lc rgb "#3465a4", \
     "" using 3 title "peer" lc rgb "#cc7a00"
set logscale y
set autoscale y
set ylabel "ms (log)"
set title "publish-to-consume p99 (lower is better)"
plot "$work/peers.dat" using 4:xtic(1) title "agentbusd" lc rgb "#3465a4", \
     "" using 5 title "peer" lc rgb "#cc7a00"
unset multiplot
GP
gnuplot "$work/plot.gp"
wrote="$wrote $outdir/benchmarks-peers.png"
fi
echo "wrote${wrote:- nothing (no rows to plot)}" >&2
