#!/usr/bin/env bash
# Vendors the console's one third-party asset, the uPlot chart library, from
# npm into console/static/vendor/uplot-<version>/ (the minified IIFE build,
# its stylesheet and its licence) and points index.html at that folder.
#
# The result is committed, so `go build` embeds it without Node. Run this
# only to change the uPlot version (UPLOT_VERSION=x.y.z), or with --check to
# verify that the committed files are byte-for-byte the npm package's.
# The console's own code is plain ES modules: nothing to bundle or compile.
set -euo pipefail
cd "$(dirname "$0")/.."

UPLOT_VERSION=${UPLOT_VERSION:-1.6.32}
check=false
case "${1:-}" in
--check) check=true ;;
"") ;;
*)
	echo "usage: $0 [--check]" >&2
	exit 2
	;;
esac

command -v npm >/dev/null || {
	echo "build-console.sh: npm is required (apt-get install npm)" >&2
	exit 1
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(
	cd "$tmp"
	npm init -y >/dev/null
	# --ignore-scripts: nothing from the package runs on this machine.
	npm install --silent --no-audit --no-fund --ignore-scripts --save-exact "uplot@$UPLOT_VERSION" >/dev/null
)
src=$tmp/node_modules/uplot
got=$(node -p 'require(process.argv[1]).version' "$src/package.json")
if [ "$got" != "$UPLOT_VERSION" ]; then
	echo "build-console.sh: npm gave uplot $got, wanted $UPLOT_VERSION" >&2
	exit 1
fi
integrity=$(node -p 'require(process.argv[1]).packages["node_modules/uplot"].integrity' "$tmp/package-lock.json")

static=console/static
dest=$static/vendor/uplot-$UPLOT_VERSION
stage=$tmp/stage
mkdir -p "$stage"
cp "$src/dist/uPlot.iife.min.js" "$src/dist/uPlot.min.css" "$stage/"
cp "$src/LICENSE" "$stage/LICENSE"
cat >"$stage/SOURCE" <<SRC
uplot $UPLOT_VERSION from the npm registry ($integrity)
files: dist/uPlot.iife.min.js, dist/uPlot.min.css, LICENSE
refreshed by scripts/build-console.sh
SRC

if $check; then
	# SOURCE is ours, the rest must match the package exactly.
	for f in uPlot.iife.min.js uPlot.min.css LICENSE; do
		cmp -s "$stage/$f" "$dest/$f" || {
			echo "build-console.sh: $dest/$f differs from uplot@$UPLOT_VERSION on npm" >&2
			exit 1
		}
	done
	grep -q "vendor/uplot-$UPLOT_VERSION/" "$static/index.html" || {
		echo "build-console.sh: index.html does not load vendor/uplot-$UPLOT_VERSION/" >&2
		exit 1
	}
	echo "build-console.sh: vendored uplot $UPLOT_VERSION matches npm"
	exit 0
fi

# The folder name carries the version, which is what lets the handler mark
# vendor files immutable: a new version is a new URL.
rm -rf "$static"/vendor/uplot-*
mkdir -p "$dest"
cp "$stage"/* "$dest/"
sed -i -E "s#vendor/uplot-[0-9A-Za-z.+-]+/#vendor/uplot-$UPLOT_VERSION/#g" "$static/index.html"
echo "build-console.sh: vendored uplot $UPLOT_VERSION into $dest"
