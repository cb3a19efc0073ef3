#!/usr/bin/env bash
# install.sh: installs what the wsecho interop tests (cmd/wsecho/interop_test.go) need:
#   - Node.js >= 20 (Debian's nodejs if none is installed),
#   - the npm packages pinned in package-lock.json (ws, playwright-core) via `npm ci`,
#   - Chromium from Debian's packages (playwright-core never downloads a browser here).
# Idempotent: each step is skipped when what it installs is already there.
# Usage: bash testdata/interop/install.sh
set -euo pipefail
cd "$(dirname "$0")"

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
apt_updated=0
apt_install() {
	if [ "$apt_updated" = 0 ]; then
		$SUDO apt-get update -qq
		apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@"
}

# Chromium.
chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ -x "$chromium" ]; then
	echo "interop: chromium present: $chromium"
else
	echo "interop: installing chromium (apt-get)"
	apt_install chromium
	[ -x "$chromium" ] || { echo "interop: chromium still missing at $chromium" >&2; exit 1; }
fi

# Node.js and npm.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "interop: installing nodejs and npm (apt-get)"
	apt_install nodejs npm
fi
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
	echo "interop: node $(node --version) is too old: playwright-core needs Node.js >= 20" >&2
	exit 1
fi

# npm packages, exactly as locked. Skipped when node_modules already holds the pinned versions.
if node -e '
	const pkg = require("./package.json");
	for (const [name, want] of Object.entries(pkg.dependencies)) {
		const got = require(`./node_modules/${name}/package.json`).version;
		if (got !== want) process.exit(1);
	}' >/dev/null 2>&1; then
	echo "interop: node_modules up to date"
else
	echo "interop: npm ci"
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
fi
echo "interop: ready (node $(node --version), $("$chromium" --version 2>/dev/null | head -n1))"
