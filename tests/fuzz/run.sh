#!/bin/sh
# Builds the fuzz harnesses with clang and libFuzzer (plus ASan and UBSan)
# in a build directory of their own and fuzzes each for FUZZ_SECONDS.
#
#   run.sh [HARNESS...]      (default: all; names as in tests/fuzz/corpus/)
#
# Environment: FUZZ_SECONDS (60) per harness; TASKQ_BUILDDIR (the current
# directory), under which fuzz-build/ is configured once and kept; srcdir
# (this script's ../..); FUZZ_CORPUS_DIR (fuzz-build/corpus): where each
# harness's growing corpus lives, seeded from the committed
# tests/fuzz/corpus/<name>/, which is only read; FUZZ_JOBS (1): harnesses
# fuzzed at once; FUZZ_NICE (10).
#
# Prints one line per harness: executions, corpus size and crashes; a crash
# leaves its input in fuzz-build/artifacts/<name>/ and makes the exit
# status 1.  Exit 77 when clang or libFuzzer is not available.
set -u
src=${srcdir:-$(dirname "$0")/../..}
src=$(cd "$src" && pwd)
build=${TASKQ_BUILDDIR:-$(pwd)}
build=$(cd "$build" && pwd)
fb=$build/fuzz-build
secs=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-1}
corpus=${FUZZ_CORPUS_DIR:-$fb/corpus}
all="auth config csv email multipart proto query rfc3339 submit"
names=${*:-$all}

say() { printf 'fuzz: %s\n' "$*"; }

if ! command -v clang >/dev/null 2>&1; then
	say "clang not found: install the Debian package clang"
	exit 77
fi
mkdir -p "$fb" || exit 1
probe=$fb/probe.c
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
    > "$probe"
if ! clang -fsanitize=fuzzer,address,undefined "$probe" -o "$fb/probe" 2>"$fb/probe.log"; then
	say "clang cannot link libFuzzer (see $fb/probe.log)"
	exit 77
fi

# Configure once (again when configure changed), with coverage
# instrumentation everywhere and libFuzzer's main only in the harnesses.
if [ ! -f "$fb/Makefile" ] || [ "$src/configure" -nt "$fb/config.status" ]; then
	say "configuring $fb with clang"
	(cd "$fb" && CC=clang "$src/configure" -q --enable-sanitizers \
	    CPPFLAGS=-DTASKQ_LIBFUZZER \
	    CFLAGS="-g -O1 -fsanitize=fuzzer-no-link -Wno-unused-command-line-argument") \
	    >"$fb/configure.log" 2>&1 || { say "configure failed (see $fb/configure.log)"; exit 1; }
fi
targets=
for n in $names; do targets="$targets tests/fuzz/fuzz_$n"; done
say "building$targets"
make -C "$fb" -s -j"$(nproc 2>/dev/null || echo 2)" FUZZER_FLAGS=-fsanitize=fuzzer \
    $targets >"$fb/build.log" 2>&1 || { say "build failed (see $fb/build.log)"; tail -20 "$fb/build.log"; exit 1; }

ASAN_OPTIONS=${FUZZ_ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
export ASAN_OPTIONS UBSAN_OPTIONS

# Fuzzes one harness; writes its summary line to $fb/<name>.summary.
fuzz_one() {
	n=$1
	bin=$fb/tests/fuzz/fuzz_$n
	mkdir -p "$corpus/$n" "$fb/artifacts/$n"
	log=$fb/fuzz_$n.log
	nice -n "${FUZZ_NICE:-10}" "$bin" -max_total_time="$secs" -timeout=10 \
	    -rss_limit_mb=2560 -max_len=65536 -print_final_stats=1 \
	    -artifact_prefix="$fb/artifacts/$n/" \
	    "$corpus/$n" "$src/tests/fuzz/corpus/$n" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	size=$(ls "$corpus/$n" | wc -l)
	crashes=$(ls "$fb/artifacts/$n" | wc -l)
	line="$n: ${execs:-?} execs in ${secs} s, corpus $size inputs, $crashes crash inputs, exit $rc"
	echo "$line" >"$fb/$n.summary"
	say "$line"
	if [ $rc -ne 0 ]; then
		say "$n FAILED: last lines of $log:"
		grep -E 'ERROR|SUMMARY|fuzz_|#[0-9]+ ' "$log" | tail -25
	fi
	return $rc
}

fail=0
running=0
pids=
for n in $names; do
	if [ ! -d "$src/tests/fuzz/corpus/$n" ]; then
		say "unknown harness '$n' (one of: $all)"
		fail=1
		continue
	fi
	fuzz_one "$n" &
	pids="$pids $!"
	running=$((running + 1))
	if [ $running -ge "$jobs" ]; then
		for p in $pids; do wait "$p" || fail=1; done
		pids=
		running=0
	fi
done
for p in $pids; do wait "$p" || fail=1; done
exit $fail
