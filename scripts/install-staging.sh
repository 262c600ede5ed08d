#!/usr/bin/env bash
# Stage the Lightmetrics install layout (docs/install.md) under $STAGE and
# verify it. Nothing outside $STAGE is written and nothing needs root:
#
#   STAGE/usr/local/bin/lightmetrics        the binary (0755)
#   STAGE/usr/local/bin/lm-collector        symlink -> lightmetrics
#   STAGE/usr/local/bin/lm-agent            symlink -> lightmetrics
#   STAGE/etc/lightmetrics/                 server.toml, agent.toml,
#                                           ingest-tokens.toml (0640),
#                                           tls/, dashboards.d/*.toml (0640)
#   STAGE/var/lib/lightmetrics/{spool,cache,queue}/
#
# Directories are 0755. The sample configs keep their production paths
# (/etc/lightmetrics, /var/lib/lightmetrics), so the staged tree shows
# placement only: the check at the end expects the collector's config check
# to fail for exactly the secret files an operator has to provide.
#
# Usage: STAGE=/tmp/lightmetrics-install bash scripts/install-staging.sh
# GOFLAGS and the rest of the Go environment are passed to `go build` as is;
# GO names the go command (default: go).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
STAGE=${STAGE-/tmp/lightmetrics-install}
GO=${GO:-go}

die() {
	echo "install-staging: $*" >&2
	exit 1
}

[ -n "$STAGE" ] || die "STAGE is empty; refusing to stage into the root of the file system"
case "$STAGE" in
/*) ;;
*) STAGE=$PWD/$STAGE ;;
esac
# Normalise without requiring the path to exist, so "//", "/." and "/x/.."
# are recognised as the root too.
norm=$(realpath -m -- "$STAGE")
[ "$norm" != / ] || die "STAGE=$STAGE is the root directory; refusing"
STAGE=$norm

bin=$STAGE/usr/local/bin
etc=$STAGE/etc/lightmetrics
state=$STAGE/var/lib/lightmetrics

# --- build -----------------------------------------------------------------
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "install-staging: building lightmetrics (go build -trimpath)"
(cd "$repo" && "$GO" build -trimpath -o "$work/lightmetrics" .)

# --- install ---------------------------------------------------------------
# Every directory level is created explicitly so its mode does not depend on
# the umask.
for d in \
	"$STAGE/usr" "$STAGE/usr/local" "$bin" \
	"$STAGE/etc" "$etc" "$etc/tls" "$etc/dashboards.d" \
	"$STAGE/var" "$STAGE/var/lib" "$state" "$state/spool" "$state/cache" "$state/queue"; do
	install -d -m 0755 "$d"
done
install -m 0755 "$work/lightmetrics" "$bin/lightmetrics"
ln -sfn lightmetrics "$bin/lm-collector"
ln -sfn lightmetrics "$bin/lm-agent"
install -m 0640 "$repo/configs/server.toml" "$etc/server.toml"
install -m 0640 "$repo/configs/agent.toml" "$etc/agent.toml"
install -m 0640 "$repo/configs/ingest-tokens.toml" "$etc/ingest-tokens.toml"
dashboards=()
for f in "$repo"/configs/dashboards.d/*.toml; do
	[ -e "$f" ] || continue
	install -m 0640 "$f" "$etc/dashboards.d/$(basename "$f")"
	dashboards+=("etc/lightmetrics/dashboards.d/$(basename "$f")")
done

# --- verify ----------------------------------------------------------------
fails=0
fail() {
	echo "install-staging: FAIL: $*" >&2
	fails=$((fails + 1))
}

# expect REL TYPE MODE: REL exists under STAGE as a directory (d) or regular
# file (f) with exactly MODE.
expect() {
	local p=$STAGE/$1 mode
	case $2 in
	d) [ -d "$p" ] && [ ! -L "$p" ] || { fail "$1: not a directory"; return; } ;;
	f) [ -f "$p" ] && [ ! -L "$p" ] || { fail "$1: not a regular file"; return; } ;;
	esac
	mode=$(stat -c %a "$p")
	[ "$mode" = "$3" ] || fail "$1: mode $mode, want $3"
}

for d in usr/local/bin etc/lightmetrics etc/lightmetrics/tls etc/lightmetrics/dashboards.d \
	var/lib/lightmetrics var/lib/lightmetrics/spool var/lib/lightmetrics/cache var/lib/lightmetrics/queue; do
	expect "$d" d 755
done
expect usr/local/bin/lightmetrics f 755
for f in server.toml agent.toml ingest-tokens.toml; do
	expect "etc/lightmetrics/$f" f 640
done
for f in "${dashboards[@]}"; do
	expect "$f" f 640
done
for l in lm-collector lm-agent; do
	if [ ! -L "$bin/$l" ]; then
		fail "usr/local/bin/$l: not a symlink"
	elif [ "$(readlink "$bin/$l")" != lightmetrics ]; then
		fail "usr/local/bin/$l: points at $(readlink "$bin/$l"), want lightmetrics"
	elif [ "$(realpath "$bin/$l")" != "$bin/lightmetrics" ]; then
		fail "usr/local/bin/$l: does not resolve to the staged binary"
	fi
done

# run NAME CMD...: CMD must exit 0; its output is kept in $work/NAME.
run() {
	local name=$1
	shift
	if ! "$@" >"$work/$name" 2>&1; then
		fail "$* exited non-zero:"
		sed 's/^/    /' "$work/$name" >&2
		return 1
	fi
}

if run version "$bin/lightmetrics" version; then
	grep -q '^lightmetrics ' "$work/version" || fail "lightmetrics version printed: $(cat "$work/version")"
fi
run help "$bin/lightmetrics" --help || true
# The symlink names must reach the install guide's spellings, not the
# subcommand tree: their help names them and their flags.
if run collector-help "$bin/lm-collector" --help; then
	grep -q 'lm-collector' "$work/collector-help" && grep -q -- '--check-config' "$work/collector-help" ||
		fail "lm-collector --help does not describe lm-collector --check-config"
fi
if run agent-help "$bin/lm-agent" --help; then
	grep -q 'lm-agent' "$work/agent-help" && grep -q -- '--daemon' "$work/agent-help" ||
		fail "lm-agent --help does not describe lm-agent --daemon"
fi

# only_missing_production_files NAME RC: a config check run on the staged
# sample must either pass (rc 0: this host has a real install under
# /etc/lightmetrics) or fail with exit 2 and nothing but "cannot read
# /etc/lightmetrics/..." lines.
only_missing_production_files() {
	local name=$1 rc=$2 out=$work/$1 bad
	if [ "$rc" -eq 0 ]; then
		if [ -e /etc/lightmetrics ]; then
			echo "install-staging: note: $name passed against this host's own /etc/lightmetrics"
			return
		fi
		fail "$name passed although /etc/lightmetrics does not exist on this host"
		return
	fi
	[ "$rc" -eq 2 ] || fail "$name exited $rc, want 2 (configuration error)"
	if ! grep -q 'cannot read /etc/lightmetrics/' "$out"; then
		fail "$name did not name a missing /etc/lightmetrics file:"
		sed 's/^/    /' "$out" >&2
		return
	fi
	bad=$(grep -v -e 'cannot read /etc/lightmetrics/' -e '^[[:space:]]*$' "$out" || true)
	if [ -n "$bad" ]; then
		fail "$name reported more than missing production files:"
		echo "$bad" | sed 's/^/    /' >&2
	fi
}

rc=0
"$bin/lm-collector" --check-config "$etc/server.toml" >"$work/collector-check" 2>&1 || rc=$?
only_missing_production_files collector-check "$rc"
collector_rc=$rc
# The agent's dry run parses agent.toml, collects once and encodes a batch;
# with --collector-config it also holds the agent's limits against the
# staged server.toml.
rc=0
"$bin/lm-agent" --collector-config "$etc/server.toml" "$etc/agent.toml" >"$work/agent-check" 2>&1 || rc=$?
if [ "$rc" -ne 0 ]; then
	only_missing_production_files agent-check "$rc"
fi
agent_rc=$rc

# --- summary ---------------------------------------------------------------
echo
echo "Staged Lightmetrics install in $STAGE"
(
	cd "$STAGE"
	find usr/local/bin etc/lightmetrics var/lib/lightmetrics -printf '%m\t%y\t%p\t%l\n' | sort -k3 |
		while IFS=$'\t' read -r mode type path target; do
			case $type in
			l) printf '  %-4s %-45s -> %s\n' link "/$path" "$target" ;;
			d) printf '  %-4s %s/\n' "$mode" "/$path" ;;
			*) printf '  %-4s %s\n' "$mode" "/$path" ;;
			esac
		done
)
echo
echo "  $(cat "$work/version" 2>/dev/null)"
echo "  lm-collector --check-config: exit $collector_rc (expected 2: the sample names production files)"
sed 's/^/    /' "$work/collector-check"
echo "  lm-agent (dry run, --collector-config): exit $agent_rc"
sed 's/^/    /' "$work/agent-check"
echo
if [ "$fails" -ne 0 ]; then
	echo "install-staging: $fails check(s) failed" >&2
	exit 1
fi
echo "install-staging: OK. The sample configs still name /etc/lightmetrics and /var/lib/lightmetrics;"
echo "edit them (and add the token and TLS files, docs/install.md) before running from this tree."
