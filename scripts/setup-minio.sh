#!/usr/bin/env bash
# Builds the pinned MinIO server once and caches it, for the object-store
# tests, benchmarks and the soak suite (Debian packages no S3 server). The
# first run takes a few minutes (module download and build); later runs
# only check the cached binary. Prints the binary's path as its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

# Keep in step with pkg/objstore/miniotest.Version.
version=$(sed -n 's/^const Version = "\(.*\)"$/\1/p' pkg/objstore/miniotest/miniotest.go)
if [ -z "$version" ]; then
	echo "setup-minio.sh: cannot read the pinned version from pkg/objstore/miniotest/miniotest.go" >&2
	exit 1
fi
dir=${LM_TOOLS_DIR:-$HOME/.cache/lightmetrics/tools}/minio-$version
bin=$dir/minio

if [ -x "$bin" ] && "$bin" --version >/dev/null 2>&1; then
	echo "$bin"
	exit 0
fi
echo "setup-minio.sh: building github.com/minio/minio@$version into $dir (a few minutes, once)" >&2
mkdir -p "$dir"
# A private GOFLAGS keeps the project's module settings out of the build.
GOFLAGS= GOBIN="$dir" go install "github.com/minio/minio@$version"
"$bin" --version >/dev/null
echo "$bin"
