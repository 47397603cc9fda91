#!/bin/sh
# No terminal escape sequences in log files (issue 10 item 17): Moodle's
# admin/cli/checks.php colours its output whether or not it goes to a
# terminal; a hook's output goes to the instance's log file and into the
# error message of a failed hook, a build's to build.log and a pipeline
# shell action's to its output.log, none of them a terminal.
. "${top_srcdir:-.}/t/lib.sh"

cd "$TMP" || exit 1
esc=$(printf '\033')
mkdir -p rev/hooks
cat >rev/appspec.yml <<'EOF'
version: 0.0
os: linux
hooks:
  ValidateService:
    - location: hooks/validate.sh
EOF
# What checks.php prints (core_renderer_cli), an OSC title and a split-free CSI.
printf '#!/bin/sh\nprintf "      \\033[0;32m OK \\033[0;0m  cron ran\\n"\nprintf "\\033]0;title\\007\\033[41m CRITICAL \\033[0;0m upgrade pending\\n"\nexit 2\n' \
	>rev/hooks/validate.sh
chmod +x rev/hooks/validate.sh
run mdeploy agent install --root root --deployment-id d-colour rev
is "$rc" 1 "the hook fails"
like "$err" "CRITICAL  upgrade pending" "its output is in the error message"
case "$err" in *"$esc"*) r=1 ;; *) r=0 ;; esac
is "$r" 0 "without escape sequences"
log=root/logs/d-colour.log
like "$(cat "$log")" " OK   cron ran" "the log file has the hook's output"
like "$(cat "$log")" " CRITICAL  upgrade pending" "all of it"
grep -q "$esc" "$log"
is "$?" 1 "and no escape sequence"

mkdir -p src
cat >src/buildspec.yml <<'EOF'
version: 0.2
phases:
  build:
    commands:
      - |
        printf '\033[1;33mwarning\033[0m: coloured\n'
artifacts:
  files: ['**/*']
EOF
printf 'version: 0.0\nos: linux\n' >src/appspec.yml
run mdeploy --json build --src src --output b.tar.zst
is "$rc" 0 "a build whose command prints colours"
blog=$(printf '%s' "$out" | jq -r .log)
like "$(cat "$blog" 2>/dev/null)" "warning: coloured" "build.log has its output"
grep -q "$esc" "$blog"
is "$?" 1 "without escape sequences"

mkdir pipelines
cat >pipelines/colours.yml <<'EOF'
name: colours
stages:
  - name: Only
    actions:
      - name: sh
        type: shell
        command: |
          printf '\033[0;32m OK \033[0;0m shell\n'
          printf '\033[41m FAILED \033[0m to stderr\n' >&2
  - name: Then
    actions:
      - name: done
        type: shell
        command: "true"
EOF
run mdeploy pipeline run --json colours
is "$rc" 0 "a pipeline whose shell action prints colours"
[ "$rc" = 0 ] || diag "$err"
alog=$(mdeploy pipeline status --json "$(printf '%s' "$out" | jq -r .id)" | jq -r '.actions[0].log')
like "$(cat "$alog" 2>/dev/null)" " OK  shell" "output.log has its stdout"
like "$(cat "$alog" 2>/dev/null)" " FAILED  to stderr" "and its stderr"
grep -q "$esc" "$alog"
is "$?" 1 "without escape sequences"
done_testing
