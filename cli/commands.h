/* commands.h - one entry per subcommand, cli/cmd_<name>.c. */
#ifndef MDEPLOY_CLI_COMMANDS_H
#define MDEPLOY_CLI_COMMANDS_H

int cmd_help(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_appspec(int argc, char **argv);
int cmd_fleet(int argc, char **argv);
int cmd_group(int argc, char **argv);
int cmd_lb(int argc, char **argv);
int cmd_infra(int argc, char **argv);
int cmd_deploy(int argc, char **argv);
int cmd_cron(int argc, char **argv);
int cmd_agent(int argc, char **argv);

int cmd_source(int argc, char **argv);
int cmd_moodle(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_bundle(int argc, char **argv);
int cmd_key(int argc, char **argv);
int cmd_artifacts(int argc, char **argv);
int cmd_params(int argc, char **argv);
int cmd_secrets(int argc, char **argv);
int cmd_pipeline(int argc, char **argv);
int cmd_serve(int argc, char **argv);

#endif
