#!/bin/sh
# browser-deps.sh DIR - install the npm packages of the browser tests
# (t/browser/package.json, pinned by t/browser/package-lock.json) into
# DIR/node_modules with `npm ci`, once per lock file. Only the npm registry is
# used: playwright-core's own browser download is never run (--ignore-scripts);
# the tests drive Debian's /usr/bin/chromium. Needed by the tests only, never
# to build or run mdeploy. Exits non-zero, saying what is missing, on failure.
set -eu
src=$(cd "$(dirname "$0")/../t/browser" && pwd)
mkdir -p "$1"
dir=$(cd "$1" && pwd)
command -v node >/dev/null 2>&1 || { echo "browser-deps: node is missing (install Node.js)" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "browser-deps: npm is missing (install npm)" >&2; exit 1; }
if [ -f "$dir/node_modules/playwright-core/package.json" ] && cmp -s "$src/package-lock.json" "$dir/package-lock.json"; then
	exit 0
fi
cp "$src/package.json" "$src/package-lock.json" "$dir/"
chmod u+w "$dir/package.json" "$dir/package-lock.json"
cd "$dir"
# A lock per build dir: parallel tests install once.
exec 9>"$dir/.lock"
flock 9
if [ -f node_modules/playwright-core/package.json ] && [ -f .installed ] && cmp -s package-lock.json .installed; then
	exit 0
fi
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2
cp package-lock.json .installed
