#!/bin/sh
# bench/runners-scale.sh: how the drain rate of echo tasks scales from one
# to three taskq-runner processes on one database, SQLite and, with
# TASKQ_BENCH_DB=postgresql://... (emptied before each run: give it a
# database of its own), PostgreSQL.  Not part of `make check`.
#
#   bench/runners-scale.sh [BUILDDIR]     (default: $TASKQ_BUILDDIR or ./build)
#
# Environment: TASKS (5000) tasks per run, RUNNERS ("1 3") runner counts,
# SLOTS (2) slots per runner, RUNS (3) runs per figure, the median reported.
set -eu

B=${1:-${TASKQ_BUILDDIR:-./build}}
B=$(cd "$B" && pwd)
RUNNER=$B/taskq-runner
CTL=$B/tests/integration/taskq-testctl
TASKS=${TASKS:-5000}
RUNNERS=${RUNNERS:-1 3}
SLOTS=${SLOTS:-2}
RUNS=${RUNS:-3}

(cd "$B" && make -s taskq-runner tests/integration/taskq-testctl >/dev/null)

TMP=$(mktemp -d /tmp/taskq-bench-scale.XXXXXX)
PIDS=
stop_runners() {
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null || true; done
	for p in $PIDS; do wait "$p" 2>/dev/null || true; done
	PIDS=
}
trap 'stop_runners; rm -rf "$TMP"' EXIT INT TERM

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
fresh() {
	case $1 in
	sqlite) rm -f "$TMP"/t.db*; echo "$TMP/t.db" ;;
	*)	psql -X -q -v ON_ERROR_STOP=1 "$TASKQ_BENCH_DB" -c 'SET client_min_messages = warning' \
		    -c 'DROP SCHEMA public CASCADE' -c 'CREATE SCHEMA public' >&2 || exit 1
		echo "$TASKQ_BENCH_DB" ;;
	esac
}

echo "host: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); $TASKS echo tasks, $SLOTS slots per runner"
backends=sqlite
[ -n "${TASKQ_BENCH_DB:-}" ] && backends="sqlite postgresql"
for be in $backends; do
	for r in $RUNNERS; do
		: >"$TMP/rates"
		i=0
		while [ $i -lt "$RUNS" ]; do
			i=$((i + 1))
			db=$(fresh "$be")
			"$CTL" "$db" submit-echo "$TASKS" 0 bench >/dev/null
			t0=$(now)
			k=0
			while [ $k -lt "$r" ]; do
				k=$((k + 1))
				"$RUNNER" -d "$db" -s "$TMP" -o "slots=$SLOTS" -o log_level=warn \
				    >>"$TMP/runner.log" 2>&1 &
				PIDS="$PIDS $!"
			done
			"$CTL" "$db" wait-all 600
			t1=$(now)
			stop_runners
			echo "$TASKS / ($t1 - $t0)" | bc -l >>"$TMP/rates"
		done
		printf '%-10s %d runner(s): %6.0f tasks/s (runs: %s)\n' "$be" "$r" \
		    "$(median <"$TMP/rates")" "$(awk '{printf "%s%.0f", (NR > 1 ? ", " : ""), $1}' "$TMP/rates")"
	done
done
