#!/usr/bin/env bash
# Object-store benchmark (scripts/benchobjstore), on this machine, against a
# real MinIO on 127.0.0.1:
#   1. the same paced load (benchingest's simulated agents) against a fresh
#      collector in each acceptance mode, local_spool, local_spool with
#      background landing, and s3_manifest, and a table of ack latency
#      (p50, p99, max, ratios against local_spool) with the collector's,
#      MinIO's and the rest of the machine's CPU;
#   2. the landing collector's own account of its uploads (/metrics);
#   3. with the load stopped, an in-process lander emptying a spool of
#      --land-mb of batches into MinIO: landing throughput in MB/s.
# A measurement, not a test: nothing is asserted about time. Exits non-zero
# when a phase failed. Not part of the test suite.
#
# Usage: scripts/bench-objstore.sh [--agents 20] [--rate 100] [--duration 20s]
#          [--warmup 1s] [--modes local_spool,local_spool+landing,s3_manifest]
#          [--land-mb 128] [--segment-mib 8] [--keep] [--bin FILE]
#          [-- extra benchobjstore flags]
# The same settings can come from the environment: AGENTS, RATE, DURATION,
# WARMUP, MODES, LAND_MB, SEGMENT_MIB, KEEP=1, LIGHTMETRICS_BIN (a
# lightmetrics binary to use instead of building one). MinIO is the pinned
# build of scripts/setup-minio.sh ($LM_MINIO_BIN overrides it).
# --rate is batches per second from all agents together; keep it below what
# the machine can take, or every mode measures the same queue. The "other
# cores" column is the CPU the rest of the machine used during a run: trust
# a row only when it is small.
# Temporary files go under $TMPDIR (default /tmp); it should be a real disk,
# or fsync costs nothing and local_spool looks cheaper than it is.
set -euo pipefail
cd "$(dirname "$0")/.."

AGENTS=${AGENTS:-20}
RATE=${RATE:-100}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-1s}
MODES=${MODES:-local_spool,local_spool+landing,s3_manifest}
LAND_MB=${LAND_MB:-128}
SEGMENT_MIB=${SEGMENT_MIB:-0}
KEEP=${KEEP:-0}
LIGHTMETRICS_BIN=${LIGHTMETRICS_BIN:-}
EXTRA=()

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while (($#)); do
	case $1 in
	--agents) AGENTS=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--warmup) WARMUP=$2; shift 2 ;;
	--modes) MODES=$2; shift 2 ;;
	--land-mb) LAND_MB=$2; shift 2 ;;
	--segment-mib) SEGMENT_MIB=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	--bin) LIGHTMETRICS_BIN=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	--) shift; EXTRA=("$@"); break ;;
	*) echo "bench-objstore: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done

log() { echo "bench-objstore: $*" >&2; }
die() { log "$*"; exit 1; }

command -v go >/dev/null || die "go is required"
if [ -z "${LM_MINIO_BIN:-}" ] && ! command -v minio >/dev/null; then
	# Prints the cached binary's path at once; builds it (minutes) only once.
	LM_MINIO_BIN=$(bash scripts/setup-minio.sh | tail -n 1) || die "no MinIO: scripts/setup-minio.sh failed"
	export LM_MINIO_BIN
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lm-bench-objstore.XXXXXX")
if [ "$(stat -f -c %T "$tmp")" = tmpfs ]; then
	log "warning: $tmp is on tmpfs, where fsync is free; set TMPDIR to a directory on disk"
fi
# benchobjstore stops the collectors and MinIO it started itself, on error
# and on Ctrl-C alike; only the directory is left to remove.
cleanup() {
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
go build -o "$tmp/benchobjstore" ./scripts/benchobjstore

mkdir "$tmp/run"
"$tmp/benchobjstore" --dir "$tmp/run" --lightmetrics-bin "$tmp/lightmetrics" --benchingest-bin "$tmp/benchingest" \
	--agents "$AGENTS" --rate "$RATE" --duration "$DURATION" --warmup "$WARMUP" --modes "$MODES" \
	--land-mb "$LAND_MB" --segment-mib "$SEGMENT_MIB" ${EXTRA[@]+"${EXTRA[@]}"}
