#!/bin/sh
# The fuzz harnesses in the check: first each replays its committed corpus
# (tests/fuzz/corpus/<name>/) as built by this build (gcc, under ASan and
# UBSan with --enable-sanitizers), then, when clang with libFuzzer is
# available, tests/fuzz/run.sh builds them with clang and fuzzes each for
# a few seconds (FUZZ_SMOKE_SECONDS, default 3).  Exit 77 (skipped) when
# clang or libFuzzer is missing; under --enable-sanitizers the libFuzzer
# part is left to the plain build, which quickstart also runs.
set -u
src=${srcdir:-$(dirname "$0")/../..}
src=$(cd "$src" && pwd)
build=${TASKQ_BUILDDIR:-$(pwd)}
fail=0
pass=0
for h in auth config csv email multipart proto query rfc3339 submit; do
	bin=$build/tests/fuzz/fuzz_$h
	if [ ! -x "$bin" ]; then
		echo "FAIL replay $h: $bin not built"
		fail=$((fail + 1))
		continue
	fi
	if "$bin" "$src/tests/fuzz/corpus/$h"; then
		echo "ok   replay $h"
		pass=$((pass + 1))
	else
		echo "FAIL replay $h (exit $?)"
		fail=$((fail + 1))
	fi
done
if [ $fail -ne 0 ]; then
	echo "test_fuzz_smoke: $pass passed, $fail failed"
	exit 1
fi
if [ "${TASKQ_SANITIZERS:-0}" = 1 ]; then
	echo "libFuzzer runs skipped under --enable-sanitizers: the plain build runs them"
	echo "test_fuzz_smoke: $pass passed, 0 failed"
	exit 0
fi
FUZZ_SECONDS=${FUZZ_SMOKE_SECONDS:-3} sh "$src/tests/fuzz/run.sh"
rc=$?
if [ $rc -eq 77 ]; then
	echo "libFuzzer runs skipped: clang with libFuzzer is not available"
	exit 77
fi
if [ $rc -ne 0 ]; then
	echo "test_fuzz_smoke: $pass passed, 1 failed (libFuzzer run)"
	exit 1
fi
echo "test_fuzz_smoke: $((pass + 1)) passed, 0 failed"
