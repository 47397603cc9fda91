/*
 * appspec_private.h - what the appspec reader's files share: the size cap,
 * and the syntax checks of permissions (appspec_syntax.c).
 */
#ifndef MDEPLOY_APPSPEC_PRIVATE_H
#define MDEPLOY_APPSPEC_PRIVATE_H

#include "mdeploy_private.h"
#include "mdeploy/appspec.h"

/* An appspec.yml is read up to this size, from a file or a bundle. */
#define APPSPEC_MAX_BYTES (1024 * 1024)

/* 1 when `ace` is an ACL entry setfacl(1) takes; else 0 and *why. */
int mdeploy_appspec__valid_ace(const char *ace, const char **why);
/* 1 for an SELinux MLS/MCS range ("s0", "s0-s0:c0.c1023"). */
int mdeploy_appspec__valid_range(const char *r);
/* 1 for an SELinux user, role or type name. */
int mdeploy_appspec__selinux_word(const char *s);

#endif
