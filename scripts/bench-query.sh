#!/usr/bin/env bash
# Side-by-side query benchmark: 1,000 CPU-seconds counters x{cpu, host}
# (125 hosts × 8 CPUs) over the last 24 h at 10 s (8.64 M samples), loaded
# as the same remote-write requests into
#   1. Lightmetrics (the demo's config set, retention raised to 48 h, TLS
#      ingest with the demo agent's token: the series get agent="demo-agent"),
#   2. Debian's prometheus with --web.enable-remote-write-receiver,
#   3. Debian's victoria-metrics,
# all on 127.0.0.1 in a temporary directory, one at a time; then, once each
# holds every sample and has gone idle, sum by (cpu) (rate(x[5m])) is timed
# over the last 1 h and 24 h at a 60 s step on each, and a table of medians,
# p90s and ratios against Lightmetrics is printed with the load times, RSS
# and checks that every system answers from the same data. Not part of the
# test suite; takes about two to four minutes.
#
# Usage: scripts/bench-query.sh [--runs N] [--keep] [--bin FILE] [-- extra benchquery run flags]
# The same settings can come from the environment: RUNS, KEEP=1,
# LIGHTMETRICS_BIN (a lightmetrics binary to use instead of building one).
# A peer that is not installed is skipped (apt-get install prometheus
# victoria-metrics).
# Temporary files go under $TMPDIR (default /tmp).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-10}
KEEP=${KEEP:-0}
LIGHTMETRICS_BIN=${LIGHTMETRICS_BIN:-}
EXTRA=()

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while (($#)); do
	case $1 in
	--runs) RUNS=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	--bin) LIGHTMETRICS_BIN=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	--) shift; EXTRA=("$@"); break ;;
	*) echo "bench-query: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done

log() { echo "bench-query: $*" >&2; }
die() { log "$*"; exit 1; }

command -v go >/dev/null || die "go is required"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lm-bench-query.XXXXXX")
PIDS=()
cleanup() {
	local pid
	for pid in ${PIDS[@]+"${PIDS[@]}"}; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in ${PIDS[@]+"${PIDS[@]}"}; do
		for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [ "$KEEP" = 1 ]; then
		log "kept $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CMD...: run CMD in the background with its output in
# $tmp/NAME.log; sets SERVER_PID.
start() {
	local name=$1
	shift
	"$@" >"$tmp/$name.log" 2>&1 &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
}

log "building into $tmp"
if [ -n "$LIGHTMETRICS_BIN" ]; then
	cp "$LIGHTMETRICS_BIN" "$tmp/lightmetrics"
else
	go build -o "$tmp/lightmetrics" .
fi
go build -o "$tmp/benchquery" ./scripts/benchquery
BQ=$tmp/benchquery
read -r p_ingest p_query p_prom p_vm < <("$BQ" freeport 4)
ARGS=(--runs "$RUNS")

# Lightmetrics: the demo's config set. Its 24 h retention would drop the
# oldest samples while the benchmark runs, so it gets 48 h. The load needs
# about 40 MB of spool, well inside the demo's 1 GiB cap, and fits the
# ingest limits as they are (50 series of 40 samples per request).
dir=$tmp/lm
"$tmp/lightmetrics" demo --prepare-only --dir "$dir" --ingest-addr "127.0.0.1:$p_ingest" --query-addr "127.0.0.1:$p_query" >/dev/null
grep -q '^retention_hours = ' "$dir/server.toml" || die "no retention_hours in $dir/server.toml"
sed -i 's/^retention_hours = .*/retention_hours = 48/' "$dir/server.toml"
"$tmp/lightmetrics" collector check-config "$dir/server.toml" >/dev/null
start lightmetrics "$tmp/lightmetrics" collector run "$dir/server.toml"
LM_PID=$SERVER_PID
"$BQ" wait --url "https://127.0.0.1:$p_ingest/healthz" --ca-file "$dir/ca.pem" ||
	die "collector did not start: $(tail -n 5 "$tmp/lightmetrics.log")"
"$BQ" wait --url "http://127.0.0.1:$p_query/healthz" ||
	die "collector's private listener did not start: $(tail -n 5 "$tmp/lightmetrics.log")"
ARGS+=(--lm-write-url "https://127.0.0.1:$p_ingest/api/v1/write" --lm-ca-file "$dir/ca.pem" --lm-token-file "$dir/token"
	--lm-query-url "http://127.0.0.1:$p_query" --lm-query-token-file "$dir/query-token" --lm-pid "$LM_PID")

# Prometheus: no scrape jobs, only the remote-write receiver. It accepts
# samples in time order per series as far back as its head allows, which
# the in-order load respects (an out-of-order window is not needed).
if command -v prometheus >/dev/null; then
	mkdir -p "$tmp/prometheus"
	printf 'global:\n  scrape_interval: 1m\nscrape_configs: []\n' >"$tmp/prometheus.yml"
	start prometheus prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/prometheus" \
		--storage.tsdb.retention.time=30d --web.listen-address="127.0.0.1:$p_prom" --web.enable-remote-write-receiver
	"$BQ" wait --url "http://127.0.0.1:$p_prom/-/ready" || die "prometheus did not start: $(tail -n 5 "$tmp/prometheus.log")"
	ARGS+=(--prom-url "http://127.0.0.1:$p_prom" --prom-pid "$SERVER_PID"
		--prom-name "prometheus $(prometheus --version 2>&1 | awk 'NR==1{print $3}' | cut -d+ -f1)")
else
	log "prometheus is not installed (apt-get install prometheus): skipping it"
fi

if command -v victoria-metrics >/dev/null; then
	start victoria-metrics victoria-metrics -storageDataPath="$tmp/victoria-metrics" -retentionPeriod=1y \
		-httpListenAddr="127.0.0.1:$p_vm"
	"$BQ" wait --url "http://127.0.0.1:$p_vm/health" || die "victoria-metrics did not start: $(tail -n 5 "$tmp/victoria-metrics.log")"
	# Debian's build prints no -version; ask the package manager.
	ARGS+=(--vm-url "http://127.0.0.1:$p_vm" --vm-pid "$SERVER_PID"
		--vm-name "victoria-metrics $(dpkg-query -W -f '${Version}' victoria-metrics 2>/dev/null | cut -d+ -f1)")
else
	log "victoria-metrics is not installed (apt-get install victoria-metrics): skipping it"
fi

# In the background and waited for, so that a signal to this script runs
# the cleanup (which stops benchquery too) at once rather than after it.
"$BQ" run "${ARGS[@]}" ${EXTRA[@]+"${EXTRA[@]}"} &
bq_pid=$!
PIDS+=("$bq_pid")
rc=0
wait "$bq_pid" || rc=$?
# Waited for: its number may be reused, so cleanup must not signal it.
keep=()
for pid in "${PIDS[@]}"; do [ "$pid" = "$bq_pid" ] || keep+=("$pid"); done
PIDS=("${keep[@]}")
exit "$rc"
