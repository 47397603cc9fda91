/*
 * interrupt.c - a process-wide request to stop, set from a signal handler
 * and polled by the long file operations (bundle scan, writer, extraction),
 * which then fail and clean up through their ordinary error paths.
 */
#include "mdeploy_private.h"

#include <signal.h>

static volatile sig_atomic_t interrupted;

void mdeploy_interrupt(void)
{
	interrupted = 1;
}

int mdeploy_interrupted(void)
{
	return interrupted != 0;
}

void mdeploy_interrupt_clear(void)
{
	interrupted = 0;
}

int mdeploy__interrupt_check(const char *what)
{
	if (!interrupted)
		return 0;
	return mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "%s: interrupted", what);
}
