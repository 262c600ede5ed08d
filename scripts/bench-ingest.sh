#!/usr/bin/env bash
# Side-by-side ingest benchmark: the same simulated-agent load (benchingest)
# against
#   1. Lightmetrics, agent protocol (POST /v1/batches, acks after fsync),
#   2. Debian's prometheus with --web.enable-remote-write-receiver,
#   3. Debian's victoria-metrics,
#   4. Lightmetrics' own remote-write endpoint (/api/v1/write, also fsynced),
# each freshly started in a temporary directory on 127.0.0.1 and stopped
# after its run, then a table of samples/s, batches/s, ack latency and the
# ratios against Lightmetrics. Not part of the test suite.
#
# Usage: scripts/bench-ingest.sh [--agents N] [--duration 20s] [--warmup 1s]
#          [--series-per-batch 200] [--samples-per-series 10] [--rate BATCHES_PER_S]
#          [--systems lightmetrics,prometheus,victoria-metrics,lightmetrics-rw]
#          [--repeat N] [--perf] [--keep] [--out FILE] [--bin FILE] [-- extra benchingest flags]
# The same settings can come from the environment: AGENTS, DURATION, WARMUP,
# SERIES_PER_BATCH, SAMPLES_PER_SERIES, RATE, SYSTEMS, REPEAT, PERF=1, KEEP=1, OUT,
# LIGHTMETRICS_BIN (a lightmetrics binary to use instead of building one).
# By default every agent sends its next batch as soon as the previous one is
# acknowledged (closed loop: the samples/s column is each system's ceiling
# and latency is agents/throughput); --rate paces all agents together to
# that many batches per second, to compare latency at the same load.
# --repeat runs the whole round N times (systems interleaved, so a burst of
# other work on the machine hits all of them alike) and adds the medians.
# The "other cores" column is the CPU the rest of the machine used during a
# run: trust a row only when it is small.
# Temporary files go under $TMPDIR (default /tmp); it should be a real disk,
# or fsync costs nothing and the durable numbers flatter Lightmetrics.
set -euo pipefail
cd "$(dirname "$0")/.."

AGENTS=${AGENTS:-100}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-1s}
SERIES_PER_BATCH=${SERIES_PER_BATCH:-200}
SAMPLES_PER_SERIES=${SAMPLES_PER_SERIES:-10}
RATE=${RATE:-0}
REPEAT=${REPEAT:-1}
SYSTEMS=${SYSTEMS:-lightmetrics,prometheus,victoria-metrics,lightmetrics-rw}
PERF=${PERF:-0}
KEEP=${KEEP:-0}
OUT=${OUT:-}
LIGHTMETRICS_BIN=${LIGHTMETRICS_BIN:-}
EXTRA=()

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while (($#)); do
	case $1 in
	--agents) AGENTS=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--warmup) WARMUP=$2; shift 2 ;;
	--series-per-batch) SERIES_PER_BATCH=$2; shift 2 ;;
	--samples-per-series) SAMPLES_PER_SERIES=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--repeat) REPEAT=$2; shift 2 ;;
	--systems) SYSTEMS=$2; shift 2 ;;
	--perf) PERF=1; shift ;;
	--keep) KEEP=1; shift ;;
	--out) OUT=$2; shift 2 ;;
	--bin) LIGHTMETRICS_BIN=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	--) shift; EXTRA=("$@"); break ;;
	*) echo "bench-ingest: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done

log() { echo "bench-ingest: $*" >&2; }
die() { log "$*"; exit 1; }
want() { [[ ",$SYSTEMS," == *",$1,"* ]]; }

command -v go >/dev/null || die "go is required"

# The peers come from Debian; install them when missing and allowed to.
missing=()
want prometheus && ! command -v prometheus >/dev/null && missing+=(prometheus)
want victoria-metrics && ! command -v victoria-metrics >/dev/null && missing+=(victoria-metrics)
if ((${#missing[@]})); then
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
		log "installing ${missing[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
	fi
	for tool in "${missing[@]}"; do
		command -v "$tool" >/dev/null || log "$tool is not installed (apt-get install $tool as root): skipping it"
	done
fi
if [ "$PERF" = 1 ] && ! command -v perf >/dev/null; then
	log "perf is not installed (apt-get install linux-perf): no profiles"
	PERF=0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lm-bench-ingest.XXXXXX")
if [ "$(stat -f -c %T "$tmp")" = tmpfs ]; then
	log "warning: $tmp is on tmpfs, where fsync is free; set TMPDIR to a directory on disk"
fi
PIDS=()
cleanup() {
	local pid
	for pid in ${PIDS[@]+"${PIDS[@]}"}; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in ${PIDS[@]+"${PIDS[@]}"}; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	done
	if [ "$KEEP" = 1 ]; then
		log "kept $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building into $tmp"
if [ -n "$LIGHTMETRICS_BIN" ]; then
	cp "$LIGHTMETRICS_BIN" "$tmp/lightmetrics"
else
	go build -o "$tmp/lightmetrics" .
fi
go build -o "$tmp/benchingest" ./scripts/benchingest
BI=$tmp/benchingest
RESULTS=$tmp/results.jsonl
: >"$RESULTS"

# forget PID: it has been waited for, so cleanup must not signal it (the
# number may be reused).
forget() {
	local keep=() p
	for p in ${PIDS[@]+"${PIDS[@]}"}; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	PIDS=(${keep[@]+"${keep[@]}"})
}

# start NAME CMD...: run CMD in the background with its output in
# $tmp/NAME.log; sets SERVER_PID.
start() {
	local name=$1
	shift
	"$@" >"$tmp/$name.log" 2>&1 &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
}

# stop PID: SIGTERM, then SIGKILL after 15 s.
stop() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	forget "$pid"
	# Leave the next system a disk without the last one's dirty pages.
	sync
}

# load NAME LABEL PID benchingest-args...: one measured run, profiled with
# perf when asked.
load() {
	local name=$1 label=$2 pid=$3 perf_pid=
	shift 3
	if [ "$PERF" = 1 ]; then
		perf record -q -F 499 -g -p "$pid" -o "$tmp/perf-$name.data" >/dev/null 2>&1 &
		perf_pid=$!
		PIDS+=("$perf_pid")
	fi
	log "running $label: $AGENTS agents for $DURATION"
	LOAD_OK=1
	"$BI" --agents "$AGENTS" --duration "$DURATION" --warmup "$WARMUP" \
		--series-per-batch "$SERIES_PER_BATCH" --samples-per-series "$SAMPLES_PER_SERIES" --rate "$RATE" \
		--label "$label" --server-pid "$pid" --json-out "$RESULTS" "$@" ${EXTRA[@]+"${EXTRA[@]}"} |
		tail -n 1 || { LOAD_OK=0; log "$label: the load run failed (see above)"; }
	if [ -n "$perf_pid" ]; then
		kill -INT "$perf_pid" 2>/dev/null || true
		wait "$perf_pid" 2>/dev/null || true
		forget "$perf_pid"
		echo "--- perf: top functions of $label (self time) ---"
		perf report -i "$tmp/perf-$name.data" --no-children --sort symbol --stdio 2>/dev/null |
			grep -E '^ +[0-9.]+%' | head -n 30 || true
	fi
}

# lightmetrics NAME LABEL TARGET: a fresh collector from the demo's config
# set with an N-agent token table, loaded through TARGET.
lightmetrics() {
	local name=$1 label=$2 target=$3 dir=$tmp/$1 p1 p2 url
	rm -rf "$dir"
	read -r p1 p2 < <("$BI" freeport 2)
	"$tmp/lightmetrics" demo --prepare-only --dir "$dir" --ingest-addr "127.0.0.1:$p1" --query-addr "127.0.0.1:$p2" >/dev/null
	# Written before the collector starts, so no reload is needed.
	"$BI" tokens --agents "$AGENTS" --out "$dir/ingest-tokens.toml" >/dev/null
	# The demo caps its spool at 1 GiB; a benchmark must not hit that cap.
	sed -i 's/^spool_max_bytes = .*/spool_max_bytes = 0/' "$dir/server.toml"
	"$tmp/lightmetrics" collector check-config "$dir/server.toml" >/dev/null
	start "$name" "$tmp/lightmetrics" collector run "$dir/server.toml"
	local pid=$SERVER_PID
	"$BI" wait --url "https://127.0.0.1:$p1/healthz" --ca-file "$dir/ca.pem" || die "collector did not start: $(tail -n 5 "$tmp/$name.log")"
	url=https://127.0.0.1:$p1
	[ "$target" = remote-write ] && url=$url/api/v1/write
	load "$name" "$label" "$pid" --target "$target" --url "$url" --ca-file "$dir/ca.pem" --tokens-file "$dir/ingest-tokens.toml"
	commit_stats "$dir" "$p2"
	# Acks come once a batch is durable; indexing for queries follows. The
	# throughput only stands if the index keeps up: time how long it lags.
	if [ "$LOAD_OK" = 1 ]; then
		"$BI" catchup --url "http://127.0.0.1:$p2" --query-token-file "$dir/query-token" --results "$RESULTS" ||
			log "$label: the query store did not catch up"
	fi
	stop "$pid"
}

# commit_stats DIR PORT: the collector's own view of its group commits,
# read from its /metrics with the query token (from a header file, so the
# token is not on a command line).
commit_stats() {
	local dir=$1 port=$2
	command -v curl >/dev/null || return 0
	(
		umask 077
		printf 'Authorization: Bearer %s\n' "$(cat "$dir/query-token")" >"$tmp/query-header"
	)
	curl -fsS -H "@$tmp/query-header" "http://127.0.0.1:$port/metrics" 2>/dev/null | awk '
		/^lightmetrics_spool_group_commit_entries_sum/ {es=$2} /^lightmetrics_spool_group_commit_entries_count/ {ec=$2}
		/^lightmetrics_spool_commit_duration_seconds_sum/ {ds=$2} /^lightmetrics_spool_commit_duration_seconds_count/ {dc=$2}
		END { if (ec > 0 && dc > 0) printf "  spool: %d group commits, %.1f batches per commit, %.2f ms per commit (mean)\n", ec, es/ec, 1000*ds/dc }' || true
	rm -f "$tmp/query-header"
}

prometheus_run() {
	local port pid
	read -r port < <("$BI" freeport 1)
	rm -rf "$tmp/prometheus"
	mkdir -p "$tmp/prometheus"
	# No scrape jobs: the run measures the remote-write receiver alone.
	printf 'global:\n  scrape_interval: 1m\nscrape_configs: []\n' >"$tmp/prometheus.yml"
	start prometheus prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/prometheus" \
		--web.listen-address="127.0.0.1:$port" --web.enable-remote-write-receiver
	pid=$SERVER_PID
	"$BI" wait --url "http://127.0.0.1:$port/-/ready" || die "prometheus did not start: $(tail -n 5 "$tmp/prometheus.log")"
	load prometheus "prometheus $(prometheus --version 2>&1 | awk 'NR==1{print $3}' | cut -d+ -f1)" "$pid" \
		--target remote-write --url "http://127.0.0.1:$port/api/v1/write"
	stop "$pid"
}

victoria_metrics_run() {
	local port pid
	read -r port < <("$BI" freeport 1)
	rm -rf "$tmp/victoria-metrics"
	start victoria-metrics victoria-metrics -storageDataPath="$tmp/victoria-metrics" -httpListenAddr="127.0.0.1:$port"
	pid=$SERVER_PID
	"$BI" wait --url "http://127.0.0.1:$port/health" || die "victoria-metrics did not start: $(tail -n 5 "$tmp/victoria-metrics.log")"
	# Debian's build prints no -version; ask the package manager.
	load victoria-metrics "victoria-metrics $(dpkg-query -W -f '${Version}' victoria-metrics 2>/dev/null | cut -d+ -f1)" "$pid" \
		--target remote-write --url "http://127.0.0.1:$port/api/v1/write"
	stop "$pid"
}

for round in $(seq "$REPEAT"); do
	[ "$REPEAT" = 1 ] || log "round $round of $REPEAT"
	if want lightmetrics; then
		lightmetrics lm "lightmetrics (agent, fsync)" lightmetrics
	fi
	if want prometheus && command -v prometheus >/dev/null; then
		prometheus_run
	fi
	if want victoria-metrics && command -v victoria-metrics >/dev/null; then
		victoria_metrics_run
	fi
	if want lightmetrics-rw; then
		lightmetrics lm-rw "lightmetrics (remote write, fsync)" remote-write
	fi
done

echo
[ -s "$RESULTS" ] || die "no run produced a result"
"$BI" report "$RESULTS"
if [ -n "$OUT" ]; then
	cp "$RESULTS" "$OUT"
	log "JSON summaries in $OUT"
fi
