/*
 * The certificate infra apply made for load balancers, asked of a provider
 * handle (mdeploy_provider_infra_lb_certificate): the local provider's
 * STATE/infra/tls/lb.pem once it exists; none for aws (an ALB's comes from
 * ACM by its listener), even when a local lb.pem is in the same state
 * directory (it used to be handed to any provider: the local layout assumed).
 */
#include "mdeploy_private.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
	mdeploy_ctx_options co = MDEPLOY_CTX_OPTIONS_INIT;
	mdeploy_provider_options po = MDEPLOY_PROVIDER_OPTIONS_INIT;
	mdeploy_ctx *ctx = NULL;
	mdeploy_store *store = NULL;
	mdeploy_provider *local = NULL, *aws = NULL;
	char state[4096], pem[4200], *c;
	const char *aws_settings[] = { "region", "us-east-1", NULL };

	plan_lazy();
	snprintf(state, sizeof(state), "%s/state", test_tmpdir());
	co.state_dir = state;
	if (mdeploy_ctx_new(&ctx, &co) || mdeploy_store_open(&store, ctx, NULL)) {
		diag("%s", mdeploy_error_last()->message);
		return 1;
	}
	is_int(0, mdeploy_provider_open(&local, ctx, store, &po), "open the local provider");
	po.name = "aws";
	po.settings = aws_settings;
	is_int(0, mdeploy_provider_open(&aws, ctx, store, &po), "open the aws provider (no call made)");
	if (!local || !aws) {
		diag("%s", mdeploy_error_last()->message);
		return done();
	}

	c = mdeploy_provider_infra_lb_certificate(local);
	ok(c == NULL, "local, before infra apply: none");
	free(c);

	snprintf(pem, sizeof(pem), "%s/infra/tls/lb.pem", state);
	{
		char dir[4200];
		FILE *f;
		snprintf(dir, sizeof(dir), "%s/infra/tls", state);
		is_int(0, mdeploy__mkdir_p(dir, 0700), "setup: %s", dir);
		f = fopen(pem, "w");
		ok(f != NULL, "setup: %s", pem);
		if (f) {
			fputs("-----BEGIN CERTIFICATE-----\n", f);
			fclose(f);
		}
	}
	c = mdeploy_provider_infra_lb_certificate(local);
	is_str(pem, c, "local, once apply made it: STATE/infra/tls/lb.pem");
	free(c);
	c = mdeploy_infra_lb_certificate(ctx);
	is_str(pem, c, "mdeploy_infra_lb_certificate (the default provider's): the same");
	free(c);
	c = mdeploy_provider_infra_lb_certificate(aws);
	ok(c == NULL, "aws: none, whatever lies in the state directory");
	free(c);
	ok(mdeploy_provider_infra_lb_certificate(NULL) == NULL, "no provider: none");

	mdeploy_provider_free(local);
	mdeploy_provider_free(aws);
	mdeploy_store_free(store);
	mdeploy_ctx_free(ctx);
	return done();
}
