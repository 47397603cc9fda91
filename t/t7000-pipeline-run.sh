#!/bin/sh
# mdeploy pipeline: executions with real shell actions - run_order
# parallelism, artifacts between stages, variables, approvals (approved,
# rejected, timed out), retry, superseded and queued modes, and kill -9
# of the runner followed by resume.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-pipeline.sh"

cd "$TMP" || exit 1
mkdir pipelines

lines() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }

# ---- run_order, artifacts, variables -----------------------------------
cat >pipelines/basic.yml <<EOF
name: basic
variables:
  - name: greeting
    default: hello
  - name: who
stages:
  - name: Prepare
    actions:
      - name: slow
        type: shell
        command: |
          touch $TMP/slow.start; sleep 1; touch $TMP/slow.end
      - name: fast
        type: shell
        namespace: Fast
        output_variables: [word]
        outputs: [greeting]
        command: |
          sleep 0.3
          # parallel: slow has started and not finished
          test -e $TMP/slow.start && test ! -e $TMP/slow.end || exit 9
          echo "#{variables.greeting}, #{variables.who}" > greeting/text
          echo word=from-fast >> "\$MDEPLOY_OUTPUT_VARIABLES"
      - name: after
        type: shell
        run_order: 2
        outputs: [copy]
        command: |
          # sequential: both run_order 1 actions are done
          test -e $TMP/slow.end || exit 8
          echo "same" > copy/x
  - name: Use
    actions:
      - name: read
        type: shell
        inputs: [greeting, copy]
        outputs: [again]
        command: |
          test "\$(cat greeting/text)" = "hi, world" || exit 7
          test "#{Fast.word}" = from-fast || exit 6
          echo "#{pipeline.execution_id}" > $TMP/exec-id
          echo "same" > again/x
EOF
run mdeploy pipeline validate pipelines/basic.yml
is "$rc" 0 "validate: exit 0"
like "$out" "valid (pipeline basic, 2 stages, 4 actions, 2 variables, superseded)" "validate: summary"

run mdeploy pipeline run basic --var greeting=hi
is "$rc" 1 "missing variable: exit 1"
like "$err" "pipeline 'basic' needs a value for who" "missing variable: named"
is "$(mdeploy pipeline history --json basic | jq length)" 0 "missing variable: nothing recorded"
run mdeploy pipeline run basic --var greeting=hi --var who=world --var nope=1
is "$rc" 1 "unknown --var: exit 1"
like "$err" "has no variable 'nope'" "unknown --var: named"

run mdeploy pipeline run --json basic --var greeting=hi --var who=world
is "$rc" 0 "run: exit 0"
is "$(echo "$out" | jq -r .status)" Succeeded "run: Succeeded"
id=$(echo "$out" | jq -r .id)
is "$(cat exec-id)" "$id" "#{pipeline.execution_id} substituted"
is "$(echo "$out" | jq -r '[.actions[].status] | unique | join(",")')" Succeeded "every action succeeded"
is "$(echo "$out" | jq -r '.actions[1].variables.word')" from-fast "output variable recorded"
like "$err" "Prepare/fast: started" "progress lines on stderr"
d_copy=$(echo "$out" | jq -r '.actions[2].artifacts.copy')
d_again=$(echo "$out" | jq -r '.actions[3].artifacts.again')
is "$d_copy" "$d_again" "identical artifacts have one digest"
is "$(find state/artifacts/objects -type f -name "$d_copy" | wc -l | tr -d ' ')" 1 "and are stored once"
is "$(find state/artifacts/objects -type f | wc -l | tr -d ' ')" 2 "two distinct artifacts stored"
is "$(mdeploy artifacts list --json pipeline.basic.copy | jq -r '.artifacts[0].sha256')" "$d_copy" \
	"in the artifact store under pipeline.PIPELINE.ARTIFACT"
run mdeploy pipeline status
like "$out" "execution $id" "status: newest execution by default"
like "$out" "fast                 shell     Succeeded" "status: action table"

# ---- approvals ----------------------------------------------------------
cat >pipelines/appr.yml <<EOF
name: appr
stages:
  - name: Build
    actions:
      - name: make
        type: shell
        command: "true"
  - name: Gate
    actions:
      - name: Manager
        type: approval
        namespace: Gate
        comment: "ship #{pipeline.name}?"
        timeout: 60s
  - name: Ship
    actions:
      - name: ship
        type: shell
        command: |
          echo "#{Gate.decision}: #{Gate.comment}" > $TMP/shipped
EOF
# The same pipeline with a short approval timeout, for "no decision"; the
# others get 60 s, so a slow machine (ASan, load) cannot time them out.
sed 's/^name: appr$/name: apprshort/; s/timeout: 60s/timeout: 2s/' pipelines/appr.yml >pipelines/apprshort.yml
mdeploy pipeline run --poll-ms 50 appr >/dev/null 2>"$TMP/appr1.err" &
pid=$!
wait_until '[ -n "$(latest_id appr)" ] && [ "$(field "$(latest_id appr)" ".actions[1].status")" = Waiting ]'
id=$(latest_id appr)
like "$(field "$id" '.actions[1].summary')" "waiting for approval: ship appr?" "approval: waiting, with comment"
run mdeploy pipeline approve "$(echo "$id" | cut -c1-8)" Gate/Manager --comment "looks good"
is "$rc" 0 "approve (by id prefix): exit 0"
wait "$pid"
is "$?" 0 "approved: run exits 0"
is "$(field "$id" .status)" Succeeded "approved: execution Succeeded"
is "$(cat shipped)" "approved: looks good" "approval decision and comment reach later actions"
run mdeploy pipeline approve "$id" Gate/Manager
is "$rc" 1 "approve twice: refused"
like "$err" "not waiting for approval" "approve twice: says why"

mdeploy pipeline run --poll-ms 50 appr >/dev/null 2>&1 &
pid=$!
wait_until '[ "$(latest_id appr)" != "$id" ] && [ "$(field "$(latest_id appr)" ".actions[1].status")" = Waiting ]'
id2=$(latest_id appr)
run mdeploy pipeline reject "$id2" Gate/Manager --comment "not today"
is "$rc" 0 "reject: exit 0"
wait "$pid"
is "$?" 1 "rejected: run exits 1"
is "$(field "$id2" .status)" Failed "rejected: execution Failed"
is "$(field "$id2" '.actions[2].status')" Pending "rejected: later stage not run"
is "$(field "$id2" '.actions[1].comment')" "not today" "rejected: comment recorded"

run mdeploy pipeline run --poll-ms 50 apprshort
is "$rc" 1 "no decision: run exits 1"
id3=$(latest_id apprshort)
is "$(field "$id3" '.actions[1].summary')" "timed out" "no decision: approval timed out"
like "$err" "no decision within 2s" "no decision: says so"

# ---- retry --------------------------------------------------------------
cat >pipelines/flaky.yml <<EOF
name: flaky
stages:
  - name: One
    actions:
      - name: first
        type: shell
        command: echo x >> $TMP/first.count
  - name: Two
    actions:
      - name: good
        type: shell
        command: echo x >> $TMP/good.count
      - name: flaky
        type: shell
        command: |
          echo x >> $TMP/flaky.count
          test -e $TMP/fixed
  - name: Three
    actions:
      - name: last
        type: shell
        command: echo x >> $TMP/last.count
EOF
run mdeploy pipeline run flaky
is "$rc" 1 "flaky: fails"
fid=$(latest_id flaky)
like "$err" "Two/flaky: exited with status 1" "flaky: failure named"
touch fixed
run mdeploy pipeline retry "$fid" Two --failed-only
is "$rc" 0 "retry --failed-only: exit 0"
is "$(field "$fid" .status)" Succeeded "retry --failed-only: Succeeded"
is "$(lines first.count):$(lines good.count):$(lines flaky.count):$(lines last.count)" "1:1:2:1" \
	"retry --failed-only: only the failed action ran again, then the next stage"
run mdeploy pipeline retry "$fid" Two
is "$rc" 1 "retry of a succeeded execution: refused"
rm fixed
run mdeploy pipeline run flaky
fid2=$(latest_id flaky)
touch fixed
run mdeploy pipeline retry "$fid2" Two --all
is "$rc" 0 "retry --all: exit 0"
is "$(lines first.count):$(lines good.count):$(lines flaky.count):$(lines last.count)" "2:3:4:2" \
	"retry --all: every action of the stage ran again, earlier stages did not"
is "$(field "$fid2" '.actions[2].attempt')" 2 "retry: attempt counted"

# ---- superseded and queued ----------------------------------------------
for mode in superseded queued; do
	rm -f gate order
	cat >pipelines/$mode.yml <<EOF
name: $mode
execution_mode: $mode
stages:
  - name: Build
    actions:
      - name: make
        type: shell
        command: "true"
  - name: Deploy
    actions:
      - name: wait-for-gate
        type: shell
        command: |
          echo "#{pipeline.execution_id}" >> $TMP/order
          while [ ! -e $TMP/gate ]; do sleep 0.05; done
EOF
	mdeploy pipeline run --poll-ms 50 $mode >/dev/null 2>&1 &
	pa=$!
	wait_until '[ "$(lines order)" = 1 ]'
	a=$(latest_id $mode)
	mdeploy pipeline run --poll-ms 50 $mode >/dev/null 2>&1 &
	pb=$!
	wait_until '[ "$(latest_id $mode)" != "$a" ] && [ "$(field "$(latest_id $mode)" .current_stage)" = "waiting for Deploy" ]'
	b=$(latest_id $mode)
	mdeploy pipeline run --poll-ms 50 $mode >/dev/null 2>&1 &
	pc=$!
	wait_until '[ "$(latest_id $mode)" != "$b" ] && [ "$(field "$(latest_id $mode)" .current_stage)" = "waiting for Deploy" ]'
	c=$(latest_id $mode)
	if [ $mode = superseded ]; then
		wait_until '[ "$(field "$b" .status)" = Superseded ]'
		is "$(field "$b" .status)" Superseded "superseded: the older waiting execution is replaced"
	else
		sleep 0.3
		is "$(field "$b" .status)" InProgress "queued: the older waiting execution keeps its place"
	fi
	touch gate
	wait "$pa"; ra=$?
	wait "$pb"; rb=$?
	wait "$pc"; rc_=$?
	is "$ra:$(field "$a" .status)" "0:Succeeded" "$mode: first execution Succeeded"
	is "$(field "$c" .status)" Succeeded "$mode: newest execution Succeeded"
	if [ $mode = superseded ]; then
		is "$rb:$rc_" "1:0" "superseded: exit codes"
		is "$(tr '\n' ' ' <order)" "$a $c " "superseded: Deploy ran for the first and newest only"
	else
		is "$rb:$rc_:$(field "$b" .status)" "0:0:Succeeded" "queued: all three Succeeded"
		is "$(tr '\n' ' ' <order)" "$a $b $c " "queued: Deploy ran in order"
	fi
done

# ---- kill -9 of the runner, then resume ---------------------------------
cat >pipelines/crash.yml <<EOF
name: crash
stages:
  - name: One
    actions:
      - name: done-before
        type: shell
        command: echo x >> $TMP/c1.count
  - name: Two
    actions:
      - name: long
        type: shell
        command: |
          echo x >> $TMP/c2.count
          sleep 1.5
          echo x >> $TMP/c2.done
      - name: after
        type: shell
        run_order: 2
        command: echo x >> $TMP/c3.count
  - name: Three
    actions:
      - name: approve-me
        type: approval
        timeout: 2s
EOF
# Not through the mdeploy() function: $! must be the runner itself.
"$MDEPLOY" pipeline run --poll-ms 50 crash >/dev/null 2>&1 &
pid=$!
wait_until '[ -f c2.count ]'
kill -9 "$pid"
wait "$pid" 2>/dev/null
cid=$(latest_id crash)
is "$(field "$cid" .status)" InProgress "after kill -9: still InProgress in the store"
run mdeploy pipeline resume --poll-ms 50 "$cid"
is "$rc" 1 "resume: runs to the approval and it times out"
is "$(lines c1.count):$(lines c2.count):$(lines c2.done):$(lines c3.count)" "1:1:1:1" \
	"resume: finished actions not re-run, the live worker waited for, the rest run once"
is "$(field "$cid" '.actions[1].attempt')" 1 "resume: interrupted action kept its attempt"
is "$(field "$cid" '.actions[3].summary')" "timed out" "resume: approval deadline enforced"

# An approval's deadline survives the runner.
cat >pipelines/deadline.yml <<EOF
name: deadline
stages:
  - name: One
    actions:
      - name: a
        type: shell
        command: "true"
  - name: Two
    actions:
      - name: wait
        type: approval
        timeout: 10s
EOF
"$MDEPLOY" pipeline run --poll-ms 50 deadline >/dev/null 2>&1 &
pid=$!
wait_until '[ -n "$(latest_id deadline)" ] && [ "$(field "$(latest_id deadline)" ".actions[1].status")" = Waiting ]'
kill -9 "$pid"
wait "$pid" 2>/dev/null
did=$(latest_id deadline)
# Resume once the recorded deadline has passed (polled, not slept).
deadline=$(field "$did" '.actions[1].deadline')
wait_until '[ "$(date +%s%3N)" -gt "$deadline" ]'
start=$(date +%s%3N)
run mdeploy pipeline resume "$did"
is "$rc:$(field "$did" '.actions[1].summary')" "1:timed out" "deadline kept across kill -9: times out on resume"
took=$(($(date +%s%3N) - start))
# A new timeout would take 10 s (long enough that resuming on a loaded
# machine, a second or several, cannot be mistaken for it).
ok "$([ "$took" -lt 9800 ]; echo $?)" "without waiting a new timeout (${took} ms)"

# ---- stop ---------------------------------------------------------------
rm -f gate
mdeploy pipeline run --poll-ms 50 queued >/dev/null 2>&1 &
pid=$!
wait_until '[ "$(field "$(latest_id queued)" .current_stage)" = Deploy ]'
sid=$(latest_id queued)
run mdeploy pipeline stop --abandon "$sid"
is "$rc" 0 "stop --abandon: exit 0"
wait "$pid"
is "$?" 1 "stopped: run exits 1"
is "$(field "$sid" .status):$(field "$sid" '.actions[1].status')" "Stopped:Abandoned" \
	"stop --abandon: execution Stopped, running action Abandoned"

# stop without --abandon: the running action finishes, nothing new starts.
rm -f gate
mdeploy pipeline run --poll-ms 50 queued >/dev/null 2>&1 &
pid=$!
wait_until '[ "$(field "$(latest_id queued)" .current_stage)" = Deploy ]'
sid=$(latest_id queued)
run mdeploy pipeline stop "$sid"
is "$rc:$(field "$sid" .status)" "0:Stopping" "stop: Stopping while the action runs"
touch gate
wait "$pid"
is "$?" 1 "stopped: run exits 1"
is "$(field "$sid" .status):$(field "$sid" '.actions[1].status')" "Stopped:Succeeded" \
	"stop: the running action finished, then the execution stopped"
run mdeploy pipeline stop "$sid"
is "$rc" 1 "stop of a stopped execution: refused"

done_testing
