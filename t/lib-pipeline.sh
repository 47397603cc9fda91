# lib-pipeline.sh - shared pieces of the pipeline and console tests (t70NN,
# t71NN). Source after lib.sh (and lib-deploy.sh for pipelines that deploy):
#   . "$top_srcdir/t/lib.sh"; . "$top_srcdir/t/lib-pipeline.sh"
#
# field EXECUTION JQ: one value from `pipeline status --json EXECUTION`.
# latest_id PIPELINE: the id of PIPELINE's latest execution (empty if none).
#
# A pipeline that ships a site to PHP instances behind HAProxy (needs
# deploy_test_init's $port and $lbport):
# pipeline_ship_setup APP [GROUP LINES]: in the current directory (the
# test's $TMP), pipelines/, keys/release.pem (+ .pub) and an mdeploy.yml of
# application APP with one group, prod (2 instances on $port, its load
# balancer on 127.0.0.1:$lbport, health checked every 100 ms), followed by
# GROUP LINES (YAML at the group's indentation, 4 spaces); and validate.sh,
# the site's ValidateService hook, which fetches the instance (a test may
# write its own after this).
# pipeline_ship_yml MAKE-LINES GATE-TIMEOUT [DEPLOY-LINES]: pipelines/ship.yml:
# variable text; stage Source, whose shell action Make-site runs MAKE-LINES
# (shell at the command's indentation, 10 spaces; may be empty) and then
# makes the site (index.php prints #{variables.text}, appspec.yml with
# validate.sh as ValidateService hook); stage Gate, an approval (comment
# "ship TEXT?", timeout GATE-TIMEOUT) unless GATE-TIMEOUT is empty; stage
# Build, the site bundled and signed with keys/release.pem; stage
# Production, its action Deploy of the bundle to prod, checked with
# keys/release.pem.pub, followed by DEPLOY-LINES (YAML at the action's
# indentation, 8 spaces). Production is the last stage: a test can append
# actions to it.

field() { "$MDEPLOY" pipeline status --json "$1" 2>/dev/null | jq -r "$2"; }

latest_id() { "$MDEPLOY" pipeline history --json "$1" 2>/dev/null | jq -r '.[0].id // empty'; }

pipeline_ship_setup() {
	mkdir -p pipelines keys || return 1
	cat >mdeploy.yml <<EOF
application:
  name: $1
groups:
  - name: prod
    fleet: { size: 2, min: 1, max: 4, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 16 }
    health_check: { interval: 100ms, timeout: 1s, healthy_threshold: 1, unhealthy_threshold: 1 }
    alarms: { window: 200ms }
    drain_timeout: 1s
EOF
	[ -z "${2:-}" ] || printf '%s\n' "$2" >>mdeploy.yml
	"$MDEPLOY" key generate keys/release.pem >/dev/null 2>&1 || return 1
	cat >validate.sh <<'EOF'
#!/bin/sh
curl -sf "http://$MDEPLOY_INSTANCE_ADDR:$MDEPLOY_HTTP_PORT/" >/dev/null
EOF
	chmod 755 validate.sh
}

pipeline_ship_yml() {
	{
		cat <<EOF
name: ship
variables:
  - name: text
stages:
  - name: Source
    actions:
      - name: Make-site
        type: shell
        outputs: [site]
        command: |
EOF
		[ -z "$1" ] || printf '%s\n' "$1"
		cat <<EOF
          mkdir -p site/hooks
          printf '<?php echo "%s\\\\n";\\n' "#{variables.text}" > site/index.php
          printf 'version: 0.0\\nos: linux\\nhooks:\\n  ValidateService:\\n    - location: hooks/validate.sh\\n      timeout: 30\\n' > site/appspec.yml
          cp $TMP/validate.sh site/hooks/validate.sh
EOF
		[ -z "$2" ] || cat <<EOF
  - name: Gate
    actions:
      - name: Release-manager
        type: approval
        comment: "ship #{variables.text}?"
        timeout: $2
EOF
		cat <<EOF
  - name: Build
    actions:
      - name: Bundle
        type: build
        inputs: [site]
        outputs: [bundle]
        key: keys/release.pem
  - name: Production
    actions:
      - name: Deploy
        type: deploy
EOF
		[ -z "${3:-}" ] || printf '%s\n' "$3"
		cat <<EOF
        group: prod
        key: keys/release.pem.pub
        inputs: [bundle]
EOF
	} >pipelines/ship.yml
}
