/*
 * main.c - global options and the command table of the mdeploy program.
 *
 * Each subcommand lives in cli/cmd_<name>.c as int cmd_<name>(argc, argv),
 * where argv[0] is the command name.
 */
#include "config.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <time.h>

const struct cli_command cli_commands[] = {
	{ "help", cmd_help, "Show help for mdeploy or one of its commands",
	  "mdeploy help [COMMAND]", "" },
	{ "version", cmd_version, "Show the versions of mdeploy and its libraries",
	  "mdeploy version [--json]", "" },
	{ "doctor", cmd_doctor, "Check that this host has what mdeploy needs",
	  "mdeploy doctor [--json] [--php PHP] [--aws] [TREE|BUNDLE]",
	  "Checks the state directory, the libraries mdeploy was built with, and the\n"
	  "programs the local provider and the default Moodle hooks use (haproxy,\n"
	  "php, git), and what Moodle needs of PHP: max_input_vars >= 5000 and, for\n"
	  "the Moodle release in TREE or BUNDLE, the PHP version, extensions and\n"
	  "settings its admin/environment.xml requires (without one, a database\n"
	  "driver). Exits 1 when something required is missing.\n"
	  "   --php PHP   the PHP to check (default: php on PATH)\n" },
	{ "appspec", cmd_appspec, "Validate an appspec.yml as AWS CodeDeploy reads it",
	  "mdeploy appspec validate [--json] FILE|DIR|BUNDLE",
	  "FILE is an appspec.yml, DIR a directory holding one, BUNDLE an archive\n"
	  "with one at its root (read, not extracted). Prints the first problem with\n"
	  "file:line:col and field, and exits 1. See mdeploy-appspec(5).\n" },
	{ "fleet", cmd_fleet, "List, show, scale, heal and delete fleets (Auto Scaling groups)",
	  "mdeploy fleet list [--json] [PREFIX]\n"
	  "mdeploy fleet show [--json] FLEET\n"
	  "mdeploy fleet scale [--json] [--min N] [--max N] FLEET DESIRED\n"
	  "mdeploy fleet delete [--json] FLEET\n"
	  "mdeploy fleet heal [--json] [FLEET]",
	  "list shows every fleet with its desired, minimum and maximum size, how\n"
	  "many instances run and its role (live, retained, deploying, orphaned);\n"
	  "show adds each instance (id, address, state, root).\n"
	  "scale sets the desired size (and --min/--max). For a deployment group's\n"
	  "live fleet, new instances boot with the live release through the agent\n"
	  "and join the load balancer; surplus ones (newest first) are drained and\n"
	  "leave it before they are terminated. delete takes a fleet out of its\n"
	  "group's load balancer and terminates it (not the live fleet, nor one of\n"
	  "an unfinished deployment). heal replaces the dead and unhealthy instances\n"
	  "of the live fleets (of FLEET's group, or of every group), as an Auto\n"
	  "Scaling group does; list, show and scale heal first, and scale-in removes\n"
	  "unhealthy instances first, then the newest.\n" },
	{ "group", cmd_group, "Stop a deployment group and start it again, keeping its state",
	  "mdeploy group stop [--json] [--wait] GROUP\n"
	  "mdeploy group start [--json] [--wait] GROUP",
	  "stop waits for the group's cron runner to end (cron run --every), drains\n"
	  "the live fleet's targets and puts them into maintenance at the load\n"
	  "balancer (it answers 503), then stops every instance of the live and\n"
	  "retained fleets; fleets, releases and the group's state are kept, and\n"
	  "deploy create, rollback, fleet scale and cron refuse the group until it\n"
	  "starts.\n"
	  "start starts the instances on the release they hold and returns once every\n"
	  "live instance passed the load balancer's health checks.\n"
	  "   --wait   queue behind a running deployment of the group\n" },
	{ "infra", cmd_infra, "Create, check and remove the servers under the deployment groups",
	  "mdeploy infra plan [--json]\n"
	  "mdeploy infra apply [--json] [--timeout SECONDS]\n"
	  "mdeploy infra status [--json]\n"
	  "mdeploy infra outputs [--json]\n"
	  "mdeploy infra destroy [--json] [--delete-data] [--timeout SECONDS]",
	  "With the local provider, apply creates and starts, under the state\n"
	  "directory: a PostgreSQL cluster with a database and role per group, a\n"
	  "Redis server for sessions and caches, a moodledata directory per group\n"
	  "and a local CA with the load balancers' certificate; it writes what the\n"
	  "groups' hooks read (MOODLE_DB*, MOODLE_REDIS_*, MOODLE_DATAROOT) to the\n"
	  "parameter store and the passwords to the secret store. A second apply\n"
	  "changes nothing. plan shows what apply would do and does nothing.\n"
	  "status checks each resource live (connects, logs in) and exits 1 when\n"
	  "one is down. outputs lists what the groups get (secrets by name only).\n"
	  "destroy stops the servers and keeps their data for the next apply.\n"
	  "With the aws provider (infrastructure.provider: aws), apply executes a\n"
	  "CloudFormation change set per stack of infra/aws/stacks.yaml in order,\n"
	  "printing the stack events as they come, and stops at a stack that fails\n"
	  "with its first failed resource's reason; destroy deletes the stacks in\n"
	  "the reverse order and keeps the data stack (and the network under it).\n"
	  "   --delete-data   destroy: also delete the data, the records and the\n"
	  "                   parameters and secrets apply wrote (aws: the data stack)\n"
	  "   --timeout S     aws: how long one stack may take (default 3600)\n" },
	{ "lb", cmd_lb, "Show a load balancer's targets, weights, states and errors",
	  "mdeploy lb show [--json] NAME",
	  "Reads the targets of load balancer NAME (usually APP-GROUP) as it reports\n"
	  "them now: instance, address, weight, state (ready, drain, maint), health,\n"
	  "current sessions, responses and 5xx responses per instance.\n" },
	{ "agent", cmd_agent, "Install a revision on this host and run its appspec hooks",
	  "mdeploy agent install --root DIR [OPTIONS] BUNDLE|DIR\n"
	  "mdeploy agent run-event --root DIR --deployment-id ID [--bundle BUNDLE] [OPTIONS] EVENT\n"
	  "mdeploy agent rollback --root DIR [OPTIONS]\n"
	  "mdeploy agent status --root DIR [--json]\n"
	  "mdeploy agent pull --root DIR --deployment-id ID --instance-id ID --sha256 HEX [--report S3URL]\n"
	  "                   [--region REGION] [--endpoint URL] [OPTIONS] s3://BUCKET/KEY",
	  "   --root DIR            the agent's directory (releases/, current, logs/, state)\n"
	  "   --deployment-id ID    deployment id (install: a new d-XXXXXXXXX by default)\n"
	  "   --application NAME    APPLICATION_NAME given to hooks\n"
	  "   --group NAME          DEPLOYMENT_GROUP_NAME\n"
	  "   --group-id ID         DEPLOYMENT_GROUP_ID\n"
	  "   --instance-id ID      MDEPLOY_INSTANCE_ID\n"
	  "   --instance-addr ADDR  MDEPLOY_INSTANCE_ADDR\n"
	  "   --shared-dir DIR      MDEPLOY_SHARED_DIR (default ROOT/shared)\n"
	  "   --env KEY=VALUE       extra hook environment (repeatable; never logged)\n"
	  "   --env-file FILE       KEY=VALUE lines for the hook environment\n"
	  "   --keep N              releases kept on disk (default 5)\n"
	  "   --traffic-hooks       install: also run the Block/AllowTraffic hooks\n"
	  "   --no-once-hooks       skip `scope: once` scripts (another instance runs them)\n"
	  "   --bundle BUNDLE       run-event DownloadBundle: what to install\n"
	  "   --trusted-key FILE    bundles must be signed by this Ed25519 key (repeatable)\n"
	  "   --ignore-stop-failures  a failing ApplicationStop script does not stop the deployment\n"
	  "   --sha256 HEX          pull: the SHA-256 the bundle must have\n"
	  "   --report S3URL        pull: write the report to S3URL<instance-id>.json after each event\n"
	  "   --region, --endpoint  pull: where S3 is (default: the AWS CLI's settings)\n"
	  "pull is the agent on EC2 (user data runs it): fetch, check and install the bundle\n"
	  "through ValidateService, reporting each lifecycle event for the orchestrator.\n" },
	{ "source", cmd_source, "Fetch, lock, validate and export Moodle core and plugins",
	  "mdeploy source lock [--json]\n"
	  "mdeploy source fetch [--locked] [--json]\n"
	  "mdeploy source status [--json]\n"
	  "mdeploy source validate [--json]\n"
	  "mdeploy source export [--json] DIR\n"
	  "mdeploy source diff [--repo REPO] [--json] A B",
	  "lock      fetch, resolve every ref of mdeploy.yml to a commit, write mdeploy.lock\n"
	  "fetch     fetch every repository into its mirror under the state directory;\n"
	  "          --locked: the repositories of mdeploy.lock, failing if a commit is gone\n"
	  "status    fetch and show refs that moved upstream since the lock\n"
	  "validate  assemble the locked release and report every problem in it\n"
	  "export    write the locked release to DIR (no .git) with .mdeploy-release.json\n"
	  "diff      compare releases A and B (lock files, release manifests or refs of\n"
	  "          the core repository, or of REPO) and classify the change as\n"
	  "          code-only or upgrade\n"
	  "Exits 1 when validate finds problems. See mdeploy-source(1), mdeploy.yml(5).\n" },
	{ "moodle", cmd_moodle, "Inspect a Moodle tree: version, plugin types, plugins, problems",
	  "mdeploy moodle inspect [--repo REPO] [--json] DIR|REF",
	  "Reads a Moodle tree from directory DIR, or REF of git repository REPO, or\n"
	  "REF of the core repository of mdeploy.yml. Lists every plugin with its\n"
	  "component, version and path, and every problem (exit 1 when there is one).\n"
	  "See mdeploy-moodle(1).\n" },
	{ "build", cmd_build, "Run a buildspec and bundle its artifacts (the CodeBuild stage)",
	  "mdeploy build [--buildspec FILE] [--src DIR] [-o DIR] [OPTIONS]",
	  "   --buildspec FILE        buildspec (default SRC/buildspec.yml); see mdeploy-buildspec(5)\n"
	  "   --src DIR               source tree (default .)\n"
	  "   -o, --output DIR        where artifact bundles go (default ./artifacts)\n"
	  "   --no-artifacts          run the phases only\n"
	  "   --format F              tar.zst (default), tgz, tar or zip\n"
	  "   --sign KEY              sign the bundles with this Ed25519 private key\n"
	  "   --store NAME            put the primary bundle in the artifact store as NAME\n"
	  "   --build-id ID           MDEPLOY_BUILD_ID (default mdeploy-build:<random>)\n"
	  "   --build-number N        MDEPLOY_BUILD_NUMBER (default 1)\n"
	  "   --source-version REV    MDEPLOY_RESOLVED_SOURCE_VERSION\n"
	  "   --timeout SECONDS       the whole build (default 3600)\n"
	  "   --env KEY=VALUE         extra variable for commands (repeatable)\n"
	  "   --log FILE              build log (default STATE/builds/ID/build.log)\n"
	  "   --allow-empty-artifacts a files glob matching nothing is not an error\n"
	  "Command output goes to stderr as [PHASE] lines, secrets masked. Exits 1\n"
	  "when the build fails or times out.\n" },
	{ "bundle", cmd_bundle, "Create, verify, inspect, compare and safely extract bundles",
	  "mdeploy bundle create [--format F] [--sign KEY] [OPTIONS] DIR BUNDLE\n"
	  "mdeploy bundle create (--git REPO [--rev REV] | --release FILE) [--overlay DIR] [OPTIONS] BUNDLE\n"
	  "mdeploy bundle verify [--trusted-key KEY]... [--json] BUNDLE\n"
	  "mdeploy bundle inspect [--files] [--json] BUNDLE\n"
	  "mdeploy bundle diff [--json] FROM TO\n"
	  "mdeploy bundle extract [--trusted-key KEY]... [OPTIONS] BUNDLE DIR",
	  "   --format F            tar.zst (default, or from BUNDLE's name), tgz, tar, zip\n"
	  "   --level N             compression level (zstd 3, gzip 6 by default)\n"
	  "   --sign KEY            sign the manifest with this Ed25519 private key\n"
	  "   --build-id ID, --builder NAME   recorded in the manifest\n"
	  "   --time SECONDS|now    build time and entry mtime (default $SOURCE_DATE_EPOCH,\n"
	  "                         else none: same tree, same bytes)\n"
	  "   --source-json FILE    JSON object recorded as the manifest's source\n"
	  "   --no-appspec-check    allow a bundle without a valid appspec.yml\n"
	  "   --git REPO --rev REV  bundle REV of a git repository straight from its objects\n"
	  "   --release FILE        bundle the release an mdeploy.lock (or release manifest)\n"
	  "                         describes, from the source stage's mirrors\n"
	  "   --overlay DIR         add DIR's files (appspec.yml, hook scripts) to the release\n"
	  "   --trusted-key KEY     public key the bundle must be signed by (repeatable)\n"
	  "   --files               inspect: list every entry\n"
	  "   --require-manifest    extract: refuse plain archives\n"
	  "   --keep-manifest       extract: also write .mdeploy/ (manifest, signature) into DIR\n"
	  "   --max-entries N, --max-size BYTES   extract: bomb limits (1000000, 8 GiB)\n"
	  "verify checks every file against the manifest and names the first that\n"
	  "does not match. extract refuses unsafe entries and leaves nothing behind on\n"
	  "failure.\n" },
	{ "key", cmd_key, "Generate an Ed25519 key pair for signing bundles",
	  "mdeploy key generate [--json] PRIVATE_KEY [PUBLIC_KEY]",
	  "Writes PRIVATE_KEY (mode 0600) and PUBLIC_KEY (default PRIVATE_KEY.pub) as\n"
	  "PEM files; neither may exist. Prints the key id bundles name when signed.\n" },
	{ "artifacts", cmd_artifacts, "List, store, fetch and garbage-collect bundles in the artifact store",
	  "mdeploy artifacts list [--json] [NAME]\n"
	  "mdeploy artifacts put [--json] NAME FILE\n"
	  "mdeploy artifacts get [-o FILE] [--json] REF\n"
	  "mdeploy artifacts gc [--keep N] [--in-use SHA256]... [--dry-run] [--json]",
	  "REF is NAME (newest revision), NAME@N, or a SHA-256 (or a unique prefix of\n"
	  "8+ hex digits). get prints the artifact; -o copies it to FILE, checking its\n"
	  "digest. gc keeps the N newest revisions of each name (default 5), what\n"
	  "deployment groups run or would roll back to (from the state store) and\n"
	  "anything --in-use names, and removes objects nothing refers to.\n" },
	{ "params", cmd_params, "Put, get, list and delete parameters (the parameter store)",
	  "mdeploy params put [--overwrite] [--type String|StringList] [--json] NAME VALUE|-\n"
	  "mdeploy params get [--json] NAME[:VERSION]\n"
	  "mdeploy params list [-r] [--json] [PATH]\n"
	  "mdeploy params delete [--json] NAME",
	  "Names are paths like /moodle/prod/dbhost. Each new value is a new version;\n"
	  "NAME:N reads version N. VALUE - reads standard input. list shows the\n"
	  "parameters directly under PATH (default /), -r everything below it.\n" },
	{ "secrets", cmd_secrets, "Put, get, list and rotate encrypted secrets (the secret store)",
	  "mdeploy secrets put [--key-file FILE] [--json] NAME < VALUE\n"
	  "mdeploy secrets get [--previous | --version-id ID] [--reveal] [--json] NAME\n"
	  "mdeploy secrets list [--json]\n"
	  "mdeploy secrets rotate [--generate] [--json] NAME [< VALUE]",
	  "Values are read from standard input and stored encrypted (AES-256-GCM)\n"
	  "under a key file of mode 0600 (default STATE/secrets/secrets.key). put and\n"
	  "rotate make a new current version; the old one stays readable as\n"
	  "--previous. rotate --generate makes a random value. get prints the value\n"
	  "only with --reveal.\n" },
	{ "pipeline", cmd_pipeline, "Define, run and follow release pipelines (stages, approvals)",
	  "mdeploy pipeline validate [--json] NAME|FILE\n"
	  "mdeploy pipeline run [--json] [--var NAME=VALUE]... [--detach] NAME|FILE\n"
	  "mdeploy pipeline status [--json] [EXECUTION]\n"
	  "mdeploy pipeline history [--json] [--limit N] [NAME]\n"
	  "mdeploy pipeline approve|reject [--json] [--comment TEXT] EXECUTION STAGE/ACTION\n"
	  "mdeploy pipeline retry [--json] [--failed-only | --all] EXECUTION STAGE\n"
	  "mdeploy pipeline stop [--json] [--abandon] EXECUTION\n"
	  "mdeploy pipeline resume [--json] [EXECUTION]\n"
	  "mdeploy pipeline watch [--json] [--tags GLOB] [--interval SECONDS] [--polls N] [--detach] NAME|FILE",
	  "NAME is pipelines/NAME.yml under the current directory (or -C DIR); FILE a path.\n"
	  "validate checks a definition and its structure rules and prints every problem\n"
	  "as file:line:col: field: problem. run starts an execution and drives it to the\n"
	  "end, printing progress on stderr; approvals wait for 'approve' or 'reject' from\n"
	  "another shell. Executions are kept in the state store: after a crash, resume\n"
	  "continues them without re-running finished actions. EXECUTION is an id or a\n"
	  "unique prefix; status without one shows the newest. watch polls the source\n"
	  "remotes and starts one execution per new revision, never twice for one, even\n"
	  "across restarts. See mdeploy-pipeline(5).\n"
	  "\n"
	  "   --var NAME=VALUE   set a pipeline variable (repeatable)\n"
	  "   --detach           record the execution and print its id; resume runs it\n"
	  "   --comment TEXT     recorded with an approval decision\n"
	  "   --failed-only      retry only the stage's failed actions (the default)\n"
	  "   --all              retry every action of the stage\n"
	  "   --abandon          stop at once, killing running actions\n"
	  "   --limit N          history: at most N executions (default 20)\n"
	  "   --poll-ms N        how often the runner polls the store (default 200)\n"
	  "   --tags GLOB        watch: start an execution per new core tag matching GLOB\n"
	  "                      (default: per new commit of the configured refs)\n"
	  "   --interval SECONDS watch: between polls (default 30)\n"
	  "   --polls N          watch: stop after N polls (default: never)\n" },
	{ "deploy", cmd_deploy, "Deploy a bundle to a group: blue/green, traffic shifting, rollback",
	  "mdeploy deploy create [--json] [--wait] [--keep-failed] [--allow-downgrade] [--trusted-key FILE] GROUP BUNDLE\n"
	  "mdeploy deploy plan [--json] [--allow-downgrade] GROUP BUNDLE\n"
	  "mdeploy deploy status [--json] [ID]\n"
	  "mdeploy deploy promote ID\n"
	  "mdeploy deploy stop [--rollback] ID\n"
	  "mdeploy deploy rollback [--json] [--wait] [--restore-database] GROUP\n"
	  "mdeploy deploy resume [--json] ID\n"
	  "mdeploy deploy history [--json] [--limit N] [GROUP]\n"
	  "mdeploy deploy cleanup [--json] [GROUP]",
	  "create deploys BUNDLE to deployment GROUP of mdeploy.yml and waits for the\n"
	  "end; it prints the deployment id. plan shows whether the bundle is an\n"
	  "install, an upgrade, a code-only swap or a downgrade, and why, changing\n"
	  "nothing (a downgrade exits 1 unless allowed). status shows a deployment\n"
	  "(the latest by default) and its journal. promote lets a deployment waiting\n"
	  "for manual promotion shift traffic. stop stops one (--rollback: traffic\n"
	  "back to the old fleet). rollback returns a group to its previous release;\n"
	  "across a database upgrade it refuses unless --restore-database.\n"
	  "cleanup terminates retained fleets whose blue_retention has passed (cron).\n"
	  "resume continues a deployment after a crash.\n"
	  "   --wait              queue behind a running deployment of the group\n"
	  "   --keep-failed       keep a failed green fleet running for inspection\n"
	  "   --allow-downgrade   deploy component versions lower than the live ones\n"
	  "                       (the database must already match the release)\n"
	  "   --trusted-key FILE  the bundle must be signed by this key (repeatable)\n"
	  "   --restore-database  rollback across an upgrade: restore the backup taken\n"
	  "                       before it (what was written since is lost)\n"
	  "   --limit N           history: at most N deployments\n" },
	{ "serve", cmd_serve, "Web console: executions, approvals, deployments, fleets, live; JSON API",
	  "mdeploy serve [--listen ADDR] [--port N] [--tls-cert FILE --tls-key FILE] [--public-url URL] [--port-file FILE] [--json]\n"
	  "mdeploy serve --trust-proxy-header HEADER --trusted-proxy ADDR... [--proxy-writer USER...] [OPTIONS]\n"
	  "mdeploy serve token create [--read-only] [--json] NAME\n"
	  "mdeploy serve token list [--json]\n"
	  "mdeploy serve token revoke [--json] NAME\n"
	  "mdeploy serve audit [--limit N] [--json]",
	  "serve runs the console until SIGINT/SIGTERM and prints its URL. It listens on\n"
	  "127.0.0.1 by default; any other address needs --tls-cert and --tls-key.\n"
	  "Every page and /api/ request needs a token: 'token create' prints a new one\n"
	  "once (only its SHA-256 is stored); a --read-only token cannot approve, stop\n"
	  "or roll back. Requests that change something also need the session's CSRF\n"
	  "token. audit lists the decisions taken through the console and by whom.\n"
	  "The JSON API is described in mdeploy-serve(1).\n"
	  "   --listen ADDR      IPv4 or IPv6 address (default 127.0.0.1)\n"
	  "   --port N           port (default 8090; 0: any free port)\n"
	  "   --tls-cert FILE    PEM certificate (with --tls-key: HTTPS)\n"
	  "   --tls-key FILE     PEM private key\n"
	  "   --public-url URL   the URL users reach the console at (links)\n"
	  "   --port-file FILE   write the port there once listening\n"
	  "   --trust-proxy-header HEADER  believe the user a reverse proxy names in\n"
	  "                      HEADER (e.g. X-Forwarded-User), from --trusted-proxy\n"
	  "                      addresses only; off by default (risks: mdeploy-serve(1))\n"
	  "   --trusted-proxy ADDR  the proxy's address or ADDR/BITS (repeatable)\n"
	  "   --proxy-writer USER   a proxy user who may approve, stop, roll back\n"
	  "                      (repeatable; * for all); others only read\n"
	  "   --read-only        token create: the token can only read\n"
	  "   --limit N          audit: at most N entries (default 50)\n" },
	{ "cron", cmd_cron, "Run Moodle's cron for a group, once or on a schedule (one runner per group)",
	  "mdeploy cron run [--json] [--every SECONDS [--count N]] [--timeout SECONDS] [--php PATH] GROUP",
	  "Runs admin/cli/cron.php --keep-alive=0 of the release that takes traffic\n"
	  "now (read from the load balancer at each run, so it follows blue/green\n"
	  "swaps), on one of its instances. One runner per group: a second one is\n"
	  "refused while the first runs. Exits 1 when a run failed (cron.php failed,\n"
	  "the site is in maintenance, nothing takes traffic).\n"
	  "   --every SECONDS    keep running: a run every SECONDS (a supervised\n"
	  "                      process); failed runs are reported and it goes on;\n"
	  "                      it ends when its group is stopped (group stop)\n"
	  "   --count N          with --every: stop after N runs\n"
	  "   --timeout SECONDS  one run's limit (default 3600)\n"
	  "   --php PATH         the PHP CLI (default php from PATH)\n" },
	{ NULL, NULL, NULL, NULL, NULL }
};

const struct cli_command *cli_find_command(const char *name)
{
	const struct cli_command *c;
	for (c = cli_commands; name && c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

static void usage(FILE *f)
{
	const struct cli_command *c;
	fprintf(f,
	        "usage: mdeploy [--version] [--help] [--json] [-q | -v] [--state-dir DIR]\n"
	        "               [-C DIR] [--config FILE] COMMAND [ARGS]\n"
	        "\n"
	        "Take Moodle from git to a fleet of app servers behind a load balancer.\n"
	        "\n"
	        "Commands:\n");
	for (c = cli_commands; c->name; c++)
		fprintf(f, "   %-10s %s\n", c->name, c->summary);
	fprintf(f,
	        "\n"
	        "Global options:\n"
	        "   --json             print one JSON document on stdout\n"
	        "   -q, --quiet        only errors and warnings on stderr, no progress\n"
	        "   -v, --verbose      more detail (twice for trace)\n"
	        "   --state-dir DIR    state, caches and stores (default $MDEPLOY_STATE_DIR,\n"
	        "                      else ~/.local/state/mdeploy)\n"
	        "   -C DIR             run as if started in DIR\n"
	        "   --config FILE      application configuration (default ./mdeploy.yml)\n"
	        "\n"
	        "Exit status: 0 success, 1 failure, 2 usage error.\n"
	        "'mdeploy help COMMAND' or 'mdeploy COMMAND --help' shows a command's help.\n");
}

int cmd_help(int argc, char **argv)
{
	const struct cli_command *c;
	int rc = cli_parse(argc, argv, "help", "", NULL, NULL, NULL);
	if (rc >= 0)
		return rc;
	if (optind >= argc) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	if (optind + 1 < argc)
		return cli_usage_error("help", "too many arguments");
	if (!(c = cli_find_command(argv[optind])))
		return cli_usage_error(NULL, "'%s' is not an mdeploy command", argv[optind]);
	cli_print_help(c, stdout);
	return CLI_EXIT_OK;
}

enum { G_JSON = 0x1000, G_STATE_DIR, G_CONFIG, G_VERSION };

/*
 * When this process started (Unix ms, to 1/CLK_TCK), loading included: its
 * age is the time since boot less /proc/self/stat's start time after boot.
 * `now` when /proc says nothing usable.
 */
static int64_t process_start_ms(int64_t now)
{
	char buf[1024], *p;
	unsigned long long start = 0;
	long tck = sysconf(_SC_CLK_TCK);
	struct timespec boot;
	int64_t age;
	FILE *f;
	int i;

	if (tck <= 0 || clock_gettime(CLOCK_BOOTTIME, &boot) != 0 || !(f = fopen("/proc/self/stat", "r")))
		return now;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	/* Field 22 is the start time; fields after the command name start at 3. */
	for (i = 3; p && i <= 22; i++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p, " %llu", &start) != 1)
		return now;
	age = (int64_t)boot.tv_sec * 1000 + boot.tv_nsec / 1000000 - (int64_t)(start * 1000 / (unsigned long long)tck);
	return age >= 0 && age < 60000 ? now - age : now;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, G_VERSION },
		{ "json", no_argument, NULL, G_JSON },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "state-dir", required_argument, NULL, G_STATE_DIR },
		{ "config", required_argument, NULL, G_CONFIG },
		{ NULL, 0, NULL, 0 }
	};
	const struct cli_command *cmd;
	int c, show_version = 0;
	const char *env;
	struct timespec now;

	/* Timings the user sees start when the process did, not inside the library. */
	clock_gettime(CLOCK_REALTIME, &now);
	cli.started_ms = process_start_ms((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
	env = getenv("MDEPLOY_PROGRESS");
	cli.progress = env ? strcmp(env, "0") != 0 : isatty(2);

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:hqvC:", opts, NULL)) != -1) {
		switch (c) {
		case 'h': usage(stdout); return CLI_EXIT_OK;
		case G_VERSION: show_version = 1; break;
		case G_JSON: cli.json = 1; break;
		case 'q': cli.quiet = 1; break;
		case 'v': cli.verbose++; break;
		case G_STATE_DIR: cli.state_dir = optarg; break;
		case G_CONFIG: cli.config = optarg; break;
		case 'C':
			if (chdir(optarg) < 0)
				return cli_error("cannot change to directory '%s': %s", optarg, strerror(errno));
			break;
		case ':':
			cli_error("option '%s' needs a value", argv[optind - 1]);
			usage(stderr);
			return CLI_EXIT_USAGE;
		default:
			if (optopt && optopt < 0x1000)
				cli_error("unknown option '-%c'", optopt);
			else
				cli_error("unknown option '%s'", argv[optind - 1]);
			usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (cli.quiet)
		cli.progress = 0;
	if (show_version) {
		char *vargv[] = { (char *)"version", NULL };
		return cmd_version(1, vargv);
	}
	if (optind >= argc) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (!(cmd = cli_find_command(argv[optind]))) {
		cli_error("'%s' is not an mdeploy command", argv[optind]);
		cli_hint("run 'mdeploy help' for the list of commands");
		return CLI_EXIT_USAGE;
	}
	argv += optind;
	argc -= optind;
	c = cmd->fn(argc, argv);
	cli_progress_end();
	if (fflush(stdout) != 0 || ferror(stdout))
		return cli_error("cannot write to standard output");
	return c;
}
