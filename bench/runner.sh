#!/bin/sh
# bench/runner.sh: taskq-runner's throughput, dispatch latency, idle CPU and
# write-lock waits, against a temporary database.  Not part of `make check`.
#
#   bench/runner.sh [BUILDDIR]          (default: $TASKQ_BUILDDIR or ./build)
#
# Environment: RUNS (3) throughput runs, the median is reported; TASKS
# (20000) tasks drained per run; SLOTS (16; 0 = one per CPU, the runner's
# default config: a delay-0 echo task waits on the store's commits, not on a
# CPU, and with one slot per CPU at most that many tasks share a commit, see
# docs/PERFORMANCE.md "Runner");
# RAW (2000) task lives for the raw store cost; LATENCY_N (200) one-at-a-time
# tasks; IDLE_S (60) seconds of idle CPU measurement; LOAD_S (10) seconds of
# the submit loop that measures lock waits; TASKQ_BENCH_DB=postgresql://...
# runs everything on that PostgreSQL database (emptied before each part:
# give it one of its own).
set -eu

B=${1:-${TASKQ_BUILDDIR:-./build}}
B=$(cd "$B" && pwd)
RUNNER=$B/taskq-runner
CTL=$B/tests/integration/taskq-testctl
RUNS=${RUNS:-3}
TASKS=${TASKS:-20000}
SLOTS=${SLOTS:-16}
RAW=${RAW:-2000}
LATENCY_N=${LATENCY_N:-200}
IDLE_S=${IDLE_S:-60}
LOAD_S=${LOAD_S:-10}

(cd "$B" && make -s taskq-runner taskq-spawner tests/integration/taskq-testctl >/dev/null)

TMP=$(mktemp -d /tmp/taskq-bench-runner.XXXXXX)
RPID=
cleanup() {
	if [ -n "$RPID" ]; then kill -TERM "$RPID" 2>/dev/null || true; wait "$RPID" 2>/dev/null || true; fi
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

now() { date +%s.%N; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# start_runner DB [options...]: starts one runner, waits for its row.
start_runner() {
	db=$1; shift
	"$RUNNER" -d "$db" -s "$TMP" "$@" >>"$TMP/runner.log" 2>&1 &
	RPID=$!
	while [ "$("$CTL" "$db" runners 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>/dev/null)" != 1 ]; do
		kill -0 "$RPID" || { cat "$TMP/runner.log"; exit 1; }
		sleep 0.05
	done
}
stop_runner() {
	kill -TERM "$RPID"; wait "$RPID" || true; RPID=
}
fresh() {
	if [ -n "${TASKQ_BENCH_DB:-}" ]; then
		psql -X -q -v ON_ERROR_STOP=1 "$TASKQ_BENCH_DB" -c 'SET client_min_messages = warning' \
		    -c 'DROP SCHEMA public CASCADE' -c 'CREATE SCHEMA public' >&2 || exit 1
		echo "$TASKQ_BENCH_DB"
		return
	fi
	rm -f "$TMP"/t.db*; echo "$TMP/t.db"
}

echo "host: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r)"
echo "database: $TMP (the file system of /tmp), slots=$SLOTS"

# 1. Throughput: TASKS pending tasks drained by one runner, versus the raw
#    store cost of a task's life (submit, claim, finish with n = 1 each).
: >"$TMP/tput"; : >"$TMP/raw"; : >"$TMP/ratio"
i=0
while [ $i -lt "$RUNS" ]; do
	i=$((i + 1))
	db=$(fresh)
	"$CTL" "$db" submit-echo "$TASKS" 0 bench >/dev/null
	t0=$(now)
	start_runner "$db" -j "$SLOTS"
	"$CTL" "$db" wait-all 600
	t1=$(now)
	# CPU of the runner, its spawner and their reaped children (the task
	# children), per task (load-independent).
	SPID=$(pgrep -P "$RPID" -x taskq-spawner || true)
	cpu=$(cat "/proc/$RPID/stat" ${SPID:+"/proc/$SPID/stat"} | awk -v hz="$(getconf CLK_TCK)" -v n="$TASKS" \
	    '{t += $14 + $15 + $16 + $17} END {printf "%.3f", t * 1000 / hz / n}')
	stop_runner
	tput=$(echo "$TASKS / ($t1 - $t0)" | bc -l)
	db=$(fresh)
	raw=$("$CTL" "$db" raw "$RAW" | field per_s)
	ratio=$(echo "$tput / $raw" | bc -l)
	printf 'run %d: runner %.0f tasks/s (%s ms CPU per task: runner, spawner, children), raw store %.0f task lives/s, ratio %.2f\n' \
	    "$i" "$tput" "$cpu" "$raw" "$ratio"
	echo "$tput" >>"$TMP/tput"; echo "$raw" >>"$TMP/raw"; echo "$ratio" >>"$TMP/ratio"
done
printf 'median: runner %.0f tasks/s, raw %.0f/s, ratio %.2f (target >= 2)\n' \
    "$(median <"$TMP/tput")" "$(median <"$TMP/raw")" "$(median <"$TMP/ratio")"

# 2. Dispatch latency on an idle runner, one task at a time.
db=$(fresh)
start_runner "$db" -j "$SLOTS"
"$CTL" "$db" latency "$LATENCY_N" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("dispatch latency (started_at - created_at) over %d tasks: p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms (target p50 <= 10, p99 <= 50)" % (
    d["tasks"], d["dispatch_ms_p50"], d["dispatch_ms_p90"], d["dispatch_ms_p99"], d["dispatch_ms_max"]))'

# 3. Idle CPU of that runner.
ticks() { awk '{print $14 + $15}' "/proc/$RPID/stat"; }
hz=$(getconf CLK_TCK)
a=$(ticks); sleep "$IDLE_S"; b=$(ticks)
printf 'idle CPU over %d s: %.3f%% of one CPU (%d ticks; target < 1%%)\n' \
    "$IDLE_S" "$(echo "($b - $a) * 100 / ($hz * $IDLE_S)" | bc -l)" $((b - a))
stop_runner

# 4. Lock waits: one submitter in a loop (as taskq-api would) while the
#    runner drains a backlog; the runner logs its slowest store write.
db=$(fresh)
"$CTL" "$db" submit-echo "$TASKS" 0 bench >/dev/null
: >"$TMP/runner.log"
start_runner "$db" -j "$SLOTS"
"$CTL" "$db" submit-loop "$LOAD_S" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("submitter under load: %d submits (%.0f/s), each p50 %.1f ms, p99 %.1f ms, max %.1f ms" % (
    d["submits"], d["per_s"], d["submit_ms_p50"], d["submit_ms_p99"], d["submit_ms_max"]))
print("submitter: worst wait for the write lock %.1f ms" % d["lock_wait_worst_ms"])'
stop_runner
grep -o 'store writes, worst .*' "$TMP/runner.log" | sed 's/^/runner: /'
