/*
 * result.c - a build's result as the public API shows it: status, id, log,
 * phases, exported variables and artifacts.
 */
#include "runner_private.h"

#include <stdlib.h>

void mdeploy_build_result_free(mdeploy_build_result *r)
{
	size_t i;
	if (!r)
		return;
	for (i = 0; i < r->nexported; i++) {
		free(r->exported_names[i]);
		free(r->exported_values[i]);
	}
	free(r->exported_names);
	free(r->exported_values);
	for (i = 0; i < r->nartifacts; i++) {
		free((char *)r->artifacts[i].identifier);
		free((char *)r->artifacts[i].path);
		free((char *)r->artifacts[i].sha256);
	}
	free(r->artifacts);
	free(r->id);
	free(r->log_path);
	free(r->reason);
	free(r);
}

const char *mdeploy_build_status_name(mdeploy_build_status status)
{
	switch (status) {
	case MDEPLOY_BUILD_SUCCEEDED: return "SUCCEEDED";
	case MDEPLOY_BUILD_FAILED: return "FAILED";
	case MDEPLOY_BUILD_TIMED_OUT: return "TIMED_OUT";
	default: return "UNKNOWN";
	}
}

mdeploy_build_status mdeploy_build_result_status(const mdeploy_build_result *r) { return r ? r->status : MDEPLOY_BUILD_FAILED; }
const char *mdeploy_build_result_id(const mdeploy_build_result *r) { return r ? r->id : NULL; }
const char *mdeploy_build_result_log_path(const mdeploy_build_result *r) { return r ? r->log_path : NULL; }
uint64_t mdeploy_build_result_duration_ms(const mdeploy_build_result *r) { return r ? r->duration_ms : 0; }
const char *mdeploy_build_result_reason(const mdeploy_build_result *r) { return r ? r->reason : NULL; }
size_t mdeploy_build_result_phase_count(const mdeploy_build_result *r) { return r ? BS_NPHASES : 0; }
size_t mdeploy_build_result_exported_count(const mdeploy_build_result *r) { return r ? r->nexported : 0; }
size_t mdeploy_build_result_artifact_count(const mdeploy_build_result *r) { return r ? r->nartifacts : 0; }

const mdeploy_build_phase *mdeploy_build_result_phase(const mdeploy_build_result *r, size_t i)
{
	return r && i < BS_NPHASES ? &r->phases[i] : NULL;
}

const char *mdeploy_build_result_exported(const mdeploy_build_result *r, size_t i, const char **value)
{
	if (!r || i >= r->nexported)
		return NULL;
	if (value)
		*value = r->exported_values[i];
	return r->exported_names[i];
}

const mdeploy_build_artifact *mdeploy_build_result_artifact(const mdeploy_build_result *r, size_t i)
{
	return r && i < r->nartifacts ? &r->artifacts[i] : NULL;
}
