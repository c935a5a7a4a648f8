#!/bin/sh
# bench/workers-csv.sh: the data_processing engine (lib/csvstats.c, through
# bench/csvbench) against `wc -l` on the same generated CSV file in the same
# run.  Generates the file once in a temporary directory (CSV_BENCH_MB, default
# 200 MB: integer, decimal, float, boolean, plain and quoted string columns),
# reads it once so both tools find it in the page cache, then runs each tool
# CSV_BENCH_RUNS times (default 3), interleaved, and prints the medians of the
# wall times, the ratio and the peak memory of both.  The target is a ratio of
# at most 3.  The analyzer runs as the runner's child would (two threads when
# the process may use two CPUs) and, for comparison, with one thread (-t 1).
# Run from the build directory (or set TASKQ_BUILDDIR).
set -eu

BUILDDIR=${TASKQ_BUILDDIR:-$(pwd)}
MB=${CSV_BENCH_MB:-200}
RUNS=${CSV_BENCH_RUNS:-3}
bin=$BUILDDIR/bench/csvbench

if [ -f "$BUILDDIR/Makefile" ]; then
	make -s -C "$BUILDDIR" bench-programs >/dev/null
fi
if [ ! -x "$bin" ]; then
	echo "workers-csv: $bin missing: run from the build directory" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/taskq-bench-csv.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
csv=$tmp/data.csv

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# measure OUT CMD...: runs CMD with its output appended to OUT, prints "wall
# cpu" of that child from wait4(2), in seconds (microsecond CPU times).
measure() {
	python3 -c '
import os, sys, time
out = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
t0 = time.monotonic()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ,
    file_actions=[(os.POSIX_SPAWN_DUP2, out, 1)])
_, status, ru = os.wait4(pid, 0)
wall = time.monotonic() - t0
if os.waitstatus_to_exitcode(status) != 0:
    sys.exit("measure: %s failed" % sys.argv[2])
print("%.4f %.4f" % (wall, ru.ru_utime + ru.ru_stime))
' "$@"
}

"$bin" -g $((MB * 1000000)) "$csv"
cat "$csv" >/dev/null
bytes=$(wc -c <"$csv")
lines=$(wc -l <"$csv")

: >"$tmp/wc.t"
: >"$tmp/csv.t"
: >"$tmp/csv1.t"
i=0
while [ "$i" -lt "$RUNS" ]; do
	measure /dev/null wc -l "$csv" >>"$tmp/wc.t"
	measure "$tmp/csv.out" "$bin" "$csv" >>"$tmp/csv.t"
	measure "$tmp/csv1.out" "$bin" -t 1 "$csv" >>"$tmp/csv1.t"
	i=$((i + 1))
done

# Peak RSS: csvbench reports its own (VmHWM); wc -l's needs GNU time.  (The
# rusage of a child spawned from python would count python's pages.)
if [ -x /usr/bin/time ]; then
	wc_rss=$(/usr/bin/time -f %M wc -l "$csv" 2>&1 >/dev/null | tail -n 1)
else
	wc_rss="n/a (no /usr/bin/time)"
fi
wc_med=$(awk '{ print $1 }' "$tmp/wc.t" | median)
wc_cpu=$(awk '{ print $2 }' "$tmp/wc.t" | median)
csv_med=$(awk '{ print $1 }' "$tmp/csv.t" | median)
csv_cpu=$(awk '{ print $2 }' "$tmp/csv.t" | median)
csv1_med=$(awk '{ print $1 }' "$tmp/csv1.t" | median)
csv1_cpu=$(awk '{ print $2 }' "$tmp/csv1.t" | median)
rss() {
	awk '{ for (i = 1; i < NF; i++) if ($i == "maxrss_kb") print $(i + 1) }' \
	    "$1" | sort -n | tail -n 1
}
csv_rss=$(rss "$tmp/csv.out")
csv1_rss=$(rss "$tmp/csv1.out")
ratio=$(echo "$csv_med $wc_med" | awk '{ printf "%.2f", $1 / $2 }')
cpu_ratio=$(echo "$csv_cpu $wc_cpu" | awk '{ printf "%.2f", $1 / $2 }')
ratio1=$(echo "$csv1_med $wc_med" | awk '{ printf "%.2f", $1 / $2 }')
cpu_ratio1=$(echo "$csv1_cpu $wc_cpu" | awk '{ printf "%.2f", $1 / $2 }')
load=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)

echo "== Workers: CSV (data_processing) =="
echo "file:      $bytes bytes, $lines lines ($MB MB from bench/csvbench -g)"
echo "runs:      $RUNS each, interleaved, page cache warm; medians; load $load"
echo "wc -l:     wall ${wc_med}s  cpu ${wc_cpu}s  peak RSS ${wc_rss} KiB"
echo "analyzer:  wall ${csv_med}s  cpu ${csv_cpu}s  peak RSS ${csv_rss} KiB" \
    "($(echo "$bytes $csv_med" | awk '{ printf "%.0f", $1 / 1e6 / $2 }') MB/s)"
echo "1 thread:  wall ${csv1_med}s  cpu ${csv1_cpu}s  peak RSS ${csv1_rss} KiB" \
    "($(echo "$bytes $csv1_med" | awk '{ printf "%.0f", $1 / 1e6 / $2 }') MB/s)"
echo "ratio:     ${ratio}x wc -l in wall time, ${cpu_ratio}x in CPU time (target <= 3)"
echo "1 thread:  ${ratio1}x wc -l in wall time, ${cpu_ratio1}x in CPU time"
echo "all runs (wall cpu): wc -l: $(tr '\n' ';' <"$tmp/wc.t")"
echo "                  analyzer: $(tr '\n' ';' <"$tmp/csv.t")"
echo "                  1 thread: $(tr '\n' ';' <"$tmp/csv1.t")"
