/*
 * Exponential backoff with full jitter for temporary failures: spreading
 * retries uniformly over [0, cap] keeps many tasks that failed together (an
 * SMTP server down) from coming back together.
 */
#include <config.h>

#include <sys/random.h>

#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "runner.h"

/*
 * The delay before the retry that follows attempt (1 for the first run):
 * uniform in [0, min(max_ms, base_ms << (attempt-1))].  The doubling stops
 * as soon as it reaches the cap, so no attempt number overflows; a
 * non-positive base or cap yields 0.
 */
int64_t
backoff_delay_ms(int64_t base_ms, int64_t max_ms, int attempt, uint64_t r)
{
	int64_t	 ceil_ms;
	int	 i;

	if (base_ms <= 0 || max_ms <= 0)
		return 0;
	ceil_ms = base_ms < max_ms ? base_ms : max_ms;
	for (i = 1; i < attempt && ceil_ms < max_ms; i++)
		ceil_ms = ceil_ms > max_ms / 2 ? max_ms : ceil_ms * 2;
	return (int64_t)(r % ((uint64_t)ceil_ms + 1));
}

/*
 * A random 64-bit draw: getrandom(2), which does not block once the pool is
 * initialised; a clock-and-pid mix if it fails, since jitter needs no
 * cryptographic quality.
 */
uint64_t
backoff_random(void)
{
	uint64_t	 r;
	struct timespec	 ts;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r))
		return r;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	r = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid() << 32 ^
	    (uint64_t)ts.tv_sec;
	r ^= r >> 31;
	return r * 0xbf58476d1ce4e5b9ULL;
}
