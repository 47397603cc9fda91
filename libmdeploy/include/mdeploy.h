/*
 * mdeploy.h - everything a program linking libmdeploy needs.
 *
 * See libmdeploy(3) for the conventions: return codes, error detail,
 * ownership, options structs and threads.
 */
#ifndef MDEPLOY_H
#define MDEPLOY_H

#include "mdeploy/common.h"
#include "mdeploy/errors.h"
#include "mdeploy/version.h"
#include "mdeploy/log.h"
#include "mdeploy/context.h"
#include "mdeploy/exec.h"
#include "mdeploy/store.h"
#include "mdeploy/config.h"
#include "mdeploy/group.h"
#include "mdeploy/moodle.h"
#include "mdeploy/source.h"
#include "mdeploy/appspec.h"
#include "mdeploy/bundle.h"
#include "mdeploy/key.h"
#include "mdeploy/provider.h"
#include "mdeploy/infra.h"
#include "mdeploy/pipeline.h"
#include "mdeploy/agent.h"
#include "mdeploy/params.h"
#include "mdeploy/secrets.h"
#include "mdeploy/artifacts.h"
#include "mdeploy/build.h"
#include "mdeploy/deploy.h"
#include "mdeploy/aws.h"
#include "mdeploy/web.h"

#endif
