#!/bin/sh
# bench/workers-image.sh: the image_processing engine (lib/image.c, through
# bench/imagebench) against libvips' own `vipsthumbnail` (Debian package
# libvips-tools, a bench-only dependency) on the same generated 4000x3000
# JPEG in the same run: resize to 800 px wide, jpeg out at libvips' default
# quality.  Each tool runs IMAGE_BENCH_RUNS times (default 5), interleaved,
# as a child of `imagebench -m`, which reports wall time, CPU time and peak
# RSS (wait4's ru_maxrss); the medians and ratios are printed.  The target is
# a wall-time ratio of at most 1.25.
#
# Both write to IMAGE_BENCH_OUTDIR (default /dev/shm, a tmpfs), so the
# comparison is of the work and not of the disk: the engine fsyncs its
# output and vipsthumbnail does not.  The engine is also run with its output
# on the disk of TMPDIR, to show what the fsync costs there.
set -eu

BUILDDIR=${TASKQ_BUILDDIR:-$(pwd)}
RUNS=${IMAGE_BENCH_RUNS:-5}
OUTDIR=${IMAGE_BENCH_OUTDIR:-/dev/shm}
bin=$BUILDDIR/bench/imagebench

if [ -f "$BUILDDIR/Makefile" ]; then
	make -s -C "$BUILDDIR" bench-programs >/dev/null
fi
if [ ! -x "$bin" ]; then
	echo "workers-image: $bin missing: run from the build directory" >&2
	exit 1
fi
if ! command -v vipsthumbnail >/dev/null 2>&1; then
	echo "workers-image: vipsthumbnail missing: apt-get install libvips-tools" >&2
	exit 1
fi
[ -d "$OUTDIR" ] && [ -w "$OUTDIR" ] || OUTDIR=

tmp=$(mktemp -d "${TMPDIR:-/tmp}/taskq-bench-image.XXXXXX")
out=$tmp
if [ -n "$OUTDIR" ]; then
	out=$(mktemp -d "$OUTDIR/taskq-bench-image.XXXXXX")
fi
trap 'rm -rf "$tmp" "$out"' EXIT INT TERM
in=$tmp/in.jpg

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
col() { awk -v c="$1" '{ print $c }' "$2" | median; }

"$bin" -g 4000 3000 "$in"
cat "$in" >/dev/null
bytes=$(wc -c <"$in")

: >"$tmp/engine.t"
: >"$tmp/vt.t"
: >"$tmp/disk.t"
i=0
while [ "$i" -lt "$RUNS" ]; do
	"$bin" -m "$bin" "$in" "$out/engine.jpg" 800 | tail -n 1 \
	    >>"$tmp/engine.t"
	"$bin" -m vipsthumbnail "$in" --size 800x -o "$out/vt.jpg" \
	    >>"$tmp/vt.t"
	"$bin" -m "$bin" "$in" "$tmp/disk.jpg" 800 | tail -n 1 \
	    >>"$tmp/disk.t"
	i=$((i + 1))
done
ewall=$(col 1 "$tmp/engine.t")
ecpu=$(col 2 "$tmp/engine.t")
erss=$(col 3 "$tmp/engine.t")
vwall=$(col 1 "$tmp/vt.t")
vcpu=$(col 2 "$tmp/vt.t")
vrss=$(col 3 "$tmp/vt.t")
dwall=$(col 1 "$tmp/disk.t")
ratio=$(echo "$ewall $vwall" | awk '{ printf "%.2f", $1 / $2 }')
cpu_ratio=$(echo "$ecpu $vcpu" | awk '{ printf "%.2f", $1 / $2 }')
esize=$(wc -c <"$out/engine.jpg")
vsize=$(wc -c <"$out/vt.jpg")
load=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)

echo "== Workers: image (image_processing) =="
echo "input:         4000x3000 JPEG, $bytes bytes (bench/imagebench -g); resize to 800 px wide, jpeg out"
echo "runs:          $RUNS each, interleaved, page cache warm; medians; $(nproc) CPUs; load $load"
echo "output dir:    ${OUTDIR:-${TMPDIR:-/tmp}}"
echo "vipsthumbnail: wall ${vwall}s  cpu ${vcpu}s  peak RSS ${vrss} KiB  ($vsize bytes out)"
echo "engine:        wall ${ewall}s  cpu ${ecpu}s  peak RSS ${erss} KiB  ($esize bytes out)"
echo "engine, output fsync'ed on the disk of ${TMPDIR:-/tmp}: wall ${dwall}s"
echo "ratio:         ${ratio}x vipsthumbnail in wall time, ${cpu_ratio}x in CPU time (target <= 1.25)"
echo "all runs (wall cpu rss_kib): engine: $(tr '\n' ';' <"$tmp/engine.t")"
echo "                      vipsthumbnail: $(tr '\n' ';' <"$tmp/vt.t")"
