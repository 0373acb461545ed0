#!/bin/sh
# plot.sh - draws docs/benchmarks-*.png from agentbus-bench --json output
#
# usage: bench/plot.sh BENCH.json [OUTDIR]   (needs gnuplot and python3)
#
# throughput: messages/s of the message scenarios and MB/s of the tensor
# ones, agentbusd beside the zmq_proxy baseline; latency: round-trip
# p50/p99/p99.9 at the two fixed rates, both sides. Prints the Markdown
# table of docs/benchmarks.md on stdout.
set -eu
json=$1
outdir=${2:-docs}
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot not installed" >&2; exit 1; }
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
PY
cat > "$work/plot.gp" <<GP
set terminal pngcairo size 960,440 font "sans,10" background rgb "white"
set style data histograms
set termoption noenhanced
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set key top left noenhanced
set grid ytics
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
echo "wrote $outdir/benchmarks-throughput.png $outdir/benchmarks-latency.png" >&2
