#!/usr/bin/env bash
# Builds the pinned MinIO server once and caches it, for the object-store
# tests, benchmarks and the soak suite (Debian packages no S3 server). The
# first run takes a few minutes (module download and build); later runs
# only check the cached binary. Prints the binary's path as its last line
# on stdout; everything else goes to stderr.
#
#   LM_MINIO_BIN=$(bash scripts/setup-minio.sh | tail -n 1)
set -euo pipefail
cd "$(dirname "$0")/.."

# One pin for the harness and this script: pkg/objstore/miniotest.Version.
version=$(sed -n 's/^const Version = "\(.*\)"$/\1/p' pkg/objstore/miniotest/miniotest.go)
if [ -z "$version" ]; then
	echo "setup-minio.sh: cannot read the pinned version (const Version) from pkg/objstore/miniotest/miniotest.go" >&2
	exit 1
fi
dir=${LM_TOOLS_DIR:-$HOME/.cache/lightmetrics/tools}/minio-$version
bin=$dir/minio

if [ -x "$bin" ] && "$bin" --version >/dev/null 2>&1; then
	echo "setup-minio.sh: using cached $bin" >&2
	echo "$bin"
	exit 0
fi
if ! command -v go >/dev/null 2>&1; then
	echo "setup-minio.sh: go is not on PATH; it is needed once to build MinIO $version" >&2
	exit 1
fi

echo "setup-minio.sh: building github.com/minio/minio@$version into $dir (a few minutes, once)" >&2
mkdir -p "$dir"
# Build into a scratch directory beside the cache and move the binary in,
# so an interrupted build never leaves a half-written minio behind.
tmp=$(mktemp -d "$dir.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# An empty GOFLAGS keeps the caller's module settings out of the build.
GOFLAGS= GOBIN="$tmp" go install "github.com/minio/minio@$version"
if ! "$tmp/minio" --version >/dev/null; then
	echo "setup-minio.sh: the freshly built $tmp/minio does not run" >&2
	exit 1
fi
mv -f "$tmp/minio" "$bin"
echo "setup-minio.sh: installed $bin" >&2
echo "$bin"
