/* infra.h - the aws provider's infrastructure (CloudFormation stacks of infra/aws/). */
#ifndef MDEPLOY_PROVIDER_AWS_INFRA_H
#define MDEPLOY_PROVIDER_AWS_INFRA_H

#include "mdeploy/infra.h"

/* Each layer's stack (APP-ENV-LAYER) and its status; MDEPLOY_ENOTFOUND when none exists. */
int mdeploy_awsp__infra_status(mdeploy_ctx *ctx, const mdeploy_config *cfg, mdeploy_infra_resource_cb cb,
                               void *payload);
/* Every stack's outputs, named LAYER.OutputKey; MDEPLOY_ENOTFOUND when no stack exists. */
int mdeploy_awsp__infra_outputs(mdeploy_ctx *ctx, const mdeploy_config *cfg, mdeploy_infra_output_cb cb,
                                void *payload);

/* infra_plan.c: a change set per layer whose inputs are known, reported and deleted. */
int mdeploy_awsp__infra_plan(mdeploy_ctx *ctx, const mdeploy_config *cfg, mdeploy_infra_change_cb cb, void *payload,
                             size_t *n);

#endif
