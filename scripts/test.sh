#!/usr/bin/env bash
# The whole Lightmetrics test suite, the one command README.md and .ci/run use.
# On a fresh Debian machine with Go installed it first installs what the tests
# need (through apt), then checks formatting, vets, and runs every test with
# the race detector. A test that needs a tool fails when the tool is missing;
# this script is what makes sure it is not missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use, as "command:package" pairs (a command that
# starts with / is a file the package installs).
NEEDS=(
	"gcc:gcc"              # the race detector needs cgo
	"promtool:prometheus" # promtool queries the collector like a real client
	"chromium:chromium"   # the console is tested in headless Chromium
	"/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf:fonts-liberation" # Chromium only recommends a font
)

missing=()
for pair in "${NEEDS[@]}"; do
	cmd=${pair%%:*} pkg=${pair#*:}
	case $cmd in
	/*) [ -e "$cmd" ] || missing+=("$pkg") ;;
	*) command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg") ;;
	esac
done
if ((${#missing[@]})); then
	echo "test.sh: installing ${missing[*]}"
	SUDO=
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The object-store tests run against a real MinIO; Debian has none, so the
# pinned release is built from the module proxy once and cached.
LM_MINIO_BIN=$(bash scripts/setup-minio.sh | tail -n 1)
export LM_MINIO_BIN

# Everything the tests need is installed above: a test that still finds a
# tool missing must fail, not skip.
export CI=${CI:-1}
export CGO_ENABLED=1
echo "test.sh: go $(go env GOVERSION), $(nproc) cores"

unformatted=$(find . -name '*.go' -not -path './console/node_modules/*' -not -path './.git/*' -print0 | xargs -0 gofmt -l)
if [ -n "$unformatted" ]; then
	echo "test.sh: gofmt needed on:" >&2
	echo "$unformatted" >&2
	exit 1
fi

go vet ./...
go test -race -count=1 -timeout 14m ./... "$@"
