#!/bin/sh
# Providers plug in through the tables of provider/registry.c: the
# orchestrator, the CLI, the configuration, the pipelines and the public
# store and provider handles never name a provider's internals
# (ARCHITECTURE.md principle 8), and provider/local/ and provider/aws/ hold
# files of the same names for the same parts.
. "${top_srcdir:-.}/t/lib.sh"

src="$top_srcdir/libmdeploy"
plan 4

hits=$(cd "$src" && grep -nE 'mdeploy_(local|awsp?)__|provider__(local|aws)_|#include "(provider/)?(local|aws)/' \
	deploy/*.c deploy/*.h config/*.c config/*.h pipeline/*.c provider/store.c provider/provider.c \
	provider/infra.c ../cli/*.c 2>/dev/null)
is "$hits" "" "deploy/, config/, pipeline/, cli/, provider/store.c, provider.c and infra.c name no provider's internals"

hits=$(cd "$src" && { grep -n '"local"' deploy/*.c config/config.c config/config_stores.c provider/store.c \
	provider/provider.c ../cli/*.c; grep -nE '"(local|aws)"' config/config_infrastructure.c provider/infra.c; } 2>/dev/null)
is "$hits" "" "... nor the name \"local\" (nor \"aws\" in the infrastructure's config and dispatch)"

# Every part file of the local provider has its name among the parts provider.h documents.
parts="ops.c fleet.c instance.c lb.c params.c secrets.c artifacts.c stores.c infra.c"
for f in $parts; do
	[ -f "$src/provider/local/$f" ] || missing="$missing $f"
done
is "${missing:-}" "" "provider/local/ has every part file ($parts)"
documented=$(for f in $parts; do grep -q " $f " "$src/provider/provider.h" || echo "$f"; done | tr '\n' ' ')
is "$documented" "" "provider/provider.h documents each part"
