# lib-moto.sh - a private moto_server (AWS services in Python) on a free
# loopback port, with signature checking on. Source after lib.sh:
#   . "$top_srcdir/t/lib-moto.sh"; moto_start
#
# moto_start: starts moto_server with INITIAL_NO_AUTH_ACTION_COUNT=3, makes
# the IAM user "mdeploy" (policy: everything) and its access key with those
# three unauthenticated calls; from then on every call must carry a valid
# SigV4 signature by a known key, or moto refuses it (SignatureDoesNotMatch,
# InvalidClientTokenId). Exports, for the code under test:
#   AWS_ENDPOINT_URL (moto), AWS_REGION=us-east-1, AWS_ACCESS_KEY_ID and
#   AWS_SECRET_ACCESS_KEY (the user's key), and points AWS_CONFIG_FILE /
#   AWS_SHARED_CREDENTIALS_FILE at empty files under $TMP and turns EC2
#   instance metadata off, so nothing of this machine's AWS setup leaks in.
#   MOTO_URL, MOTO_PORT, MOTO_KEY_ID, MOTO_SECRET keep the values.
# The server is stopped when the test exits (its own process group).
#
# moto_server is part of the test toolchain (CI installs it with pip:
# `pip install 'moto[server]'`): a test that needs it FAILS when it is
# missing, it is not skipped.

# moto_server from PATH, else pyenv's shims (where these machines have it,
# and a non-login shell's PATH may not), else python3's moto package.
moto_find() {
	MOTO_CMD=
	if command -v moto_server >/dev/null 2>&1; then
		MOTO_CMD=moto_server
	elif [ -x "${PYENV_ROOT:-${HOME:-/root}/.pyenv}/shims/moto_server" ]; then
		MOTO_CMD="${PYENV_ROOT:-${HOME:-/root}/.pyenv}/shims/moto_server"
	elif python3 -c 'import moto.server' >/dev/null 2>&1; then
		MOTO_CMD="python3 -m moto.server"
	fi
	[ -n "$MOTO_CMD" ]
}

moto_stop() {
	if [ -n "${MOTO_PID:-}" ]; then
		kill -TERM -- "-$MOTO_PID" 2>/dev/null || kill -TERM "$MOTO_PID" 2>/dev/null
		wait "$MOTO_PID" 2>/dev/null
		MOTO_PID=
	fi
}

# An unauthenticated Query call (one of the INITIAL_NO_AUTH_ACTION_COUNT).
# moto routes a request by the service named in the Authorization header's
# credential scope, so the header is there, with a signature nobody checks.
_moto_bootstrap() {
	curl -sS --max-time 20 \
		-H "Authorization: AWS4-HMAC-SHA256 Credential=AKIDBOOTSTRAP/20250101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0" \
		"$@" "$MOTO_URL/"
}

moto_start() {
	if ! moto_find; then
		echo "Bail out! moto_server is missing: the AWS tests need it (pip install 'moto[server]'; CI installs it)"
		exit 1
	fi
	MOTO_PORT=$(free_port) || { echo "Bail out! no free port"; exit 1; }
	MOTO_URL="http://127.0.0.1:$MOTO_PORT"
	# setsid: its own process group, so stopping it stops its children too.
	INITIAL_NO_AUTH_ACTION_COUNT=3 setsid $MOTO_CMD -H 127.0.0.1 -p "$MOTO_PORT" \
		>"$TMP/moto.log" 2>&1 </dev/null &
	MOTO_PID=$!
	trap 'moto_stop; _tap_cleanup' EXIT
	_i=0
	until curl -s -o /dev/null "$MOTO_URL/moto-api/" 2>/dev/null; do
		_i=$((_i + 1))
		if [ $_i -gt 150 ] || ! kill -0 "$MOTO_PID" 2>/dev/null; then
			echo "Bail out! moto_server did not start on $MOTO_URL"; sed 's/^/# /' "$TMP/moto.log"; exit 1
		fi
		sleep 0.1
	done
	_moto_bootstrap -d 'Action=CreateUser&UserName=mdeploy&Version=2010-05-08' >/dev/null &&
	_moto_bootstrap --data-urlencode Action=PutUserPolicy --data-urlencode UserName=mdeploy \
		--data-urlencode PolicyName=all --data-urlencode Version=2010-05-08 \
		--data-urlencode 'PolicyDocument={"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}' \
		>/dev/null &&
	_moto_bootstrap -d 'Action=CreateAccessKey&UserName=mdeploy&Version=2010-05-08' >"$TMP/moto-key.xml" ||
		{ echo "Bail out! moto: creating the IAM user and key failed"; exit 1; }
	MOTO_KEY_ID=$(sed -n 's:.*<AccessKeyId>\([^<]*\)</AccessKeyId>.*:\1:p' "$TMP/moto-key.xml")
	MOTO_SECRET=$(sed -n 's:.*<SecretAccessKey>\([^<]*\)</SecretAccessKey>.*:\1:p' "$TMP/moto-key.xml")
	rm -f "$TMP/moto-key.xml"
	[ -n "$MOTO_KEY_ID" ] && [ -n "$MOTO_SECRET" ] || { echo "Bail out! moto: no access key"; exit 1; }
	: >"$TMP/aws-config"
	: >"$TMP/aws-credentials"
	AWS_CONFIG_FILE="$TMP/aws-config"
	AWS_SHARED_CREDENTIALS_FILE="$TMP/aws-credentials"
	AWS_EC2_METADATA_DISABLED=true
	AWS_ENDPOINT_URL=$MOTO_URL
	AWS_REGION=us-east-1
	AWS_ACCESS_KEY_ID=$MOTO_KEY_ID
	AWS_SECRET_ACCESS_KEY=$MOTO_SECRET
	export AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE AWS_EC2_METADATA_DISABLED AWS_ENDPOINT_URL AWS_REGION \
		AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
	unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_REGION AWS_WEB_IDENTITY_TOKEN_FILE \
		AWS_ROLE_ARN AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI \
		AWS_CONTAINER_AUTHORIZATION_TOKEN AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE 2>/dev/null
	for _v in $(env | sed -n 's/^\(AWS_ENDPOINT_URL_[A-Z_]*\)=.*/\1/p'); do unset "$_v"; done
}

# moto_curl SERVICE ARGS... : curl(1) signed with SigV4 (curl's own signer) as
# the moto user, for a test to look at or change what mdeploy stored; the key
# goes to curl through a 0600 config file, never on its command line.
moto_curl() {
	_svc=$1; shift
	( umask 077; printf 'user = "%s:%s"\n' "$MOTO_KEY_ID" "$MOTO_SECRET" >"$TMP/.moto-curl" )
	curl -sS --max-time 60 -K "$TMP/.moto-curl" --aws-sigv4 "aws:amz:us-east-1:$_svc" "$@"
	_rc=$?
	rm -f "$TMP/.moto-curl"
	return $_rc
}

# moto_create_bucket NAME
moto_create_bucket() {
	moto_curl s3 -f -o /dev/null -X PUT -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$MOTO_URL/$1"
}

# moto_json SERVICE TARGET JSON : a JSON 1.1 call (SSM, Secrets Manager), its answer on stdout.
moto_json() {
	moto_curl "$1" -X POST -H "Content-Type: application/x-amz-json-1.1" -H "X-Amz-Target: $2" \
		--data-binary "$3" "$MOTO_URL/"
}
