/*
 * The systemd notification protocol (Type=notify): READY=1 once the runner
 * claims, STOPPING=1 when it drains, WATCHDOG=1 every half watchdog period.
 * Compiled to no-ops without libsystemd, and harmless outside systemd (no
 * NOTIFY_SOCKET).
 */
#include <config.h>

#include <stdint.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "runner.h"

#ifdef HAVE_LIBSYSTEMD

void
notify_ready(void)
{
	(void)sd_notify(0, "READY=1");
}

void
notify_stopping(void)
{
	(void)sd_notify(0, "STOPPING=1");
}

void
notify_reloading(void)
{
	(void)sd_notify(0, "RELOADING=1");
}

void
notify_watchdog(void)
{
	(void)sd_notify(0, "WATCHDOG=1");
}

void
notify_status(const char *s)
{
	(void)sd_notifyf(0, "STATUS=%s", s);
}

int64_t
notify_watchdog_interval_ms(void)
{
	uint64_t	 usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return 0;
	return (int64_t)(usec / 2000);
}

#else /* !HAVE_LIBSYSTEMD */

void notify_ready(void) {}
void notify_stopping(void) {}
void notify_reloading(void) {}
void notify_watchdog(void) {}
void notify_status(const char *s) { (void)s; }
int64_t notify_watchdog_interval_ms(void) { return 0; }

#endif
