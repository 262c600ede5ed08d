#!/usr/bin/env bash
# soak.sh: the fault and soak suite (scripts/soak). It proves end to end,
# with figures, that nothing acknowledged is ever lost and nothing is
# stored twice: a real MinIO, three collectors (A and B with
# acceptance = "s3_manifest" on one bucket prefix, C with "local_spool"
# landing to its own, its spool on a 64 MiB tmpfs), 50 simulated agents
# built from the real queue, shipper and uplink code, and 2 real
# `lightmetrics agent daemon` processes tailing rotated log files, all on
# 127.0.0.1, under a seeded schedule of faults: SIGKILL of every collector
# and daemon, MinIO stopped 30 s, the spool filesystem full, clock steps,
# slow and garbage clients. Then every queue is flushed and the bucket, the
# query and logs APIs, the processes' logs and their peak memory are
# checked, and a one-screen report is printed.
#
# Not part of the test suite: a default run takes about 6 minutes.
# Needs root for the tmpfs (otherwise that fault is reported as not
# injected) and builds the pinned MinIO once (scripts/setup-minio.sh).
#
# Usage: scripts/soak.sh [--duration 5m] [--keep] [--seed N]
#          [--rss-bound-mib 512] [--bin FILE] [--tmpdir DIR] [--self-check]
# --duration   load and faults (30s..2h); flushing and checks follow, bounded
# --keep       keep the run directory (configs, logs, queues, spools, MinIO data)
# --seed       replay a fault schedule (the report prints the seed it used)
# --self-check delete one acknowledged manifest entry and one landed segment
#              before verifying, to show the checks catch a loss (must FAIL)
# Exit status: 0 all checks passed, 1 a loss, duplicate, panic, memory over
# the bound or a rig failure, 2 bad arguments.
set -euo pipefail
cd "$(dirname "$0")/.."

case ${1:-} in
-h | --help)
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit 0
	;;
esac

command -v go >/dev/null || {
	echo "soak.sh: go is required" >&2
	exit 2
}
LM_MINIO_BIN=${LM_MINIO_BIN:-$(bash scripts/setup-minio.sh | tail -n 1)}
export LM_MINIO_BIN

work=$(mktemp -d "${TMPDIR:-/tmp}/soak-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
go build -o "$work/soak" ./scripts/soak
rc=0
"$work/soak" "$@" || rc=$?
exit "$rc"
