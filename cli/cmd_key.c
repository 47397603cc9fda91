/* cmd_key.c - mdeploy key generate: an Ed25519 key pair for signing bundles. */
#include "config.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_key(int argc, char **argv)
{
	char id[17], *pub;
	int rc = cli_parse(argc, argv, "key", "", NULL, NULL, NULL);

	if (rc >= 0)
		return rc;
	if (optind >= argc)
		return cli_usage_error("key", "missing subcommand");
	if (strcmp(argv[optind], "generate"))
		return cli_usage_error("key", "unknown subcommand '%s'", argv[optind]);
	if (argc - optind < 2)
		return cli_usage_error("key", "generate needs PRIVATE_KEY");
	if (argc - optind > 3)
		return cli_usage_error("key", "too many arguments");
	pub = argc - optind == 3 ? strdup(argv[optind + 2]) : NULL;
	if (!pub) {
		size_t n = strlen(argv[optind + 1]) + 5;
		if (!(pub = malloc(n)))
			return cli_error("out of memory");
		snprintf(pub, n, "%s.pub", argv[optind + 1]);
	}
	if (mdeploy_key_generate(argv[optind + 1], pub, id) != 0) {
		free(pub);
		return cli_lib_error(NULL);
	}
	if (cli.json)
		rc = cli_json_print(json_pack("{s:s, s:s, s:s}", "private_key", argv[optind + 1], "public_key", pub, "key_id", id));
	else {
		printf("key %s: private %s (mode 0600), public %s\n", id, argv[optind + 1], pub);
		rc = CLI_EXIT_OK;
	}
	free(pub);
	return rc;
}
