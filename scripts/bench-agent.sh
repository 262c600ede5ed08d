#!/usr/bin/env bash
# bench-agent.sh: what the agent daemon costs the host, beside Debian's
# prometheus-node-exporter doing its (smaller) job on the same machine.
#
# It builds lightmetrics, prepares a demo config set in a temporary
# directory, runs the collector and `lightmetrics agent daemon` on
# 127.0.0.1 with a 1 s interval while a few log lines a second are
# appended to the agent's log input, and measures over --duration seconds:
#   * the agent's CPU (utime+stime from /proc/PID/stat) per collection
#     cycle, a cycle being one batch the collector accepted
#     (lightmetrics_ingest_batches_total{status="accepted"} on /metrics);
#   * the samples and log records per cycle (the collector's counters);
#   * the agent's resident memory at the end (VmRSS) and its peak (VmHWM).
# Then it runs prometheus-node-exporter on 127.0.0.1, scrapes it once a
# second for as long (gzip, as Prometheus asks for it), and measures its
# CPU per scrape, samples per scrape and resident memory. A table with the
# ratios closes the run.
#
# The agent's CPU includes everything its daemon does: collection, log
# tailing, encoding, the fsynced queue append and the HTTPS upload. The
# collector and the scraper are separate processes and are not counted.
#
# Not part of the test suite: it needs a minute or two and a quiet machine.
# Usage: scripts/bench-agent.sh [--duration S] [--interval-ms MS]
#          [--processes top|all|off] [--top-n N] [--log-lines N]
#          [--agent-env NAME=VALUE]... [--ne-encoding gzip|identity]
#          [--bin PATH] [--skip-node-exporter] [--keep]
# --agent-env passes e.g. GOGC=50 or GOMAXPROCS=8 to the agent only;
# --bin measures a lightmetrics binary built elsewhere instead of building.
set -euo pipefail

duration=60
interval_ms=1000
proc_mode=top
top_n=25
log_lines=5
ne_encoding=gzip
skip_ne=0
keep=0
agent_env=()
prebuilt=

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
die() {
	echo "bench-agent: $*" >&2
	exit 2
}
while (($#)); do
	case $1 in
	--duration) duration=${2:?}; shift 2 ;;
	--interval-ms) interval_ms=${2:?}; shift 2 ;;
	--processes) proc_mode=${2:?}; shift 2 ;;
	--top-n) top_n=${2:?}; shift 2 ;;
	--log-lines) log_lines=${2:?}; shift 2 ;;
	--agent-env) agent_env+=("${2:?}"); shift 2 ;;
	--ne-encoding) ne_encoding=${2:?}; shift 2 ;;
	--bin) prebuilt=${2:?}; shift 2 ;;
	--skip-node-exporter) skip_ne=1; shift ;;
	--keep) keep=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done
[[ $duration =~ ^[0-9]+$ ]] && ((duration >= 5 && duration <= 3600)) || die "--duration: 5..3600 seconds"
[[ $interval_ms =~ ^[0-9]+$ ]] && ((interval_ms >= 1000)) || die "--interval-ms: at least 1000"
[[ $proc_mode =~ ^(top|all|off)$ ]] || die "--processes: top, all or off"
[[ $top_n =~ ^[0-9]+$ ]] || die "--top-n: a number"
[[ $log_lines =~ ^[0-9]+$ ]] && ((log_lines <= 1000)) || die "--log-lines: 0..1000 per second"
[[ $ne_encoding =~ ^(gzip|identity)$ ]] || die "--ne-encoding: gzip or identity"
for kv in "${agent_env[@]}"; do
	[[ $kv =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "--agent-env wants NAME=VALUE, got $kv"
done

repo=$(cd "$(dirname "$0")/.." && pwd)
need=(curl getconf awk)
[[ -n $prebuilt ]] || need+=(go)
for cmd in "${need[@]}"; do
	command -v "$cmd" >/dev/null || die "$cmd is required"
done
if ((!skip_ne)) && ! command -v prometheus-node-exporter >/dev/null; then
	echo "bench-agent: installing prometheus-node-exporter (apt)"
	echo "bench-agent: note: on a host with systemd the package also starts its own service on :9100"
	SUDO=
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus-node-exporter
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-agent.XXXXXX")
pids=()
sleeper=
cleanup() {
	local rc=$? p i
	trap - EXIT INT TERM
	[[ -z $sleeper ]] || kill "$sleeper" 2>/dev/null || true
	# Newest first: the agent before the collector it uploads to.
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		p=${pids[i]}
		kill -TERM "$p" 2>/dev/null || continue
		for _ in $(seq 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if ((keep)); then
		echo "bench-agent: kept $tmp"
	else
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# pause SECONDS: a sleep that a signal interrupts at once (a foreground
# sleep would hold back the traps until it ends).
pause() {
	sleep "$1" &
	sleeper=$!
	wait "$sleeper" || true
	sleeper=
}

# stop PID: SIGTERM, then SIGKILL after 10 s; drops it from the cleanup list.
stop() {
	local p=$1 i
	kill -TERM "$p" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	for i in "${!pids[@]}"; do
		[[ ${pids[i]} == "$p" ]] && unset 'pids[i]'
	done
	pids=("${pids[@]}")
}

# free_port prints a loopback port nothing listens on and that this run
# has not handed out yet (the listener that gets it binds it soon after).
used_ports=" "
free_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 40000))
		[[ $used_ports == *" $p "* ]] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			used_ports+="$p "
			echo "$p"
			return 0
		fi
	done
	die "no free port on 127.0.0.1"
}

# wait_for SECONDS CMD...: retries CMD every 0.2 s until it succeeds.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}

alive() {
	kill -0 "$1" 2>/dev/null || {
		echo "bench-agent: $2 exited early; its log:" >&2
		tail -n 20 "$3" >&2
		exit 1
	}
}

clk_tck=$(getconf CLK_TCK)
# cpu_ticks PID: user+system time of every thread, in clock ticks. The
# comm field may hold spaces, so fields are counted after its ')'.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
# cpu_ns PID: on-CPU nanoseconds summed over the live threads (schedstat),
# a finer cross-check of cpu_ticks; empty when the kernel lacks schedstat.
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { if (NR) printf "%.0f\n", s }'; }
# status_kib PID FIELD: a kB field of /proc/PID/status.
status_kib() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

bin=$tmp/lightmetrics
if [[ -n $prebuilt ]]; then
	[[ -x $prebuilt ]] || die "--bin $prebuilt: not an executable"
	cp "$prebuilt" "$bin"
else
	echo "bench-agent: building lightmetrics"
	(cd "$repo" && go build -trimpath -o "$bin" .)
fi

demo=$tmp/demo
ingest_port=$(free_port)
query_port=$(free_port)
"$bin" demo --prepare-only --dir "$demo" --ingest-addr "127.0.0.1:$ingest_port" --query-addr "127.0.0.1:$query_port" >/dev/null
# The agent's settings under test; everything else stays as the demo wrote it.
awk -v iv="$interval_ms" -v mode="$proc_mode" -v topn="$top_n" '
	/^\[/ { sect = $0 }
	sect == "" && /^interval_ms *=/ { $0 = "interval_ms = " iv }
	sect == "[processes]" && /^mode *=/ { $0 = "mode = \x27" mode "\x27" }
	sect == "[processes]" && /^top_n *=/ { $0 = "top_n = " topn }
	{ print }' "$demo/agent.toml" >"$tmp/agent.toml"
mv "$tmp/agent.toml" "$demo/agent.toml"
"$bin" agent check "$demo/agent.toml" >/dev/null || die "the rewritten agent.toml does not check"

# The query token goes into a header file so that it never shows in argv.
umask 077
printf 'Authorization: Bearer %s\n' "$(tr -d '[:space:]' <"$demo/query-token")" >"$tmp/query-header"
umask 022
metrics() { curl -sf --max-time 5 -H @"$tmp/query-header" "http://127.0.0.1:$query_port/metrics"; }
# counters prints accepted batches, samples and log records from /metrics.
counters() {
	metrics | awk '
		$1 == "lightmetrics_ingest_batches_total{status=\"accepted\"}" { b = $2 }
		$1 == "lightmetrics_ingest_samples_total" { s = $2 }
		$1 == "lightmetrics_ingest_log_records_total" { l = $2 }
		END { if (b == "") exit 1; printf "%.0f %.0f %.0f\n", b, s + 0, l + 0 }'
}

echo "bench-agent: starting the collector on 127.0.0.1:$ingest_port (ingest) and :$query_port (query)"
"$bin" collector run "$demo/server.toml" >"$tmp/collector.log" 2>&1 &
collector_pid=$!
pids+=("$collector_pid")
wait_for 20 curl -sf --max-time 2 "http://127.0.0.1:$query_port/healthz" || {
	alive "$collector_pid" collector "$tmp/collector.log"
	die "collector did not answer /healthz within 20 s"
}

# A plausible service log: log_lines lines a second into the agent's input.
(
	n=0
	levels=(INFO WARN INFO ERROR DEBUG)
	while :; do
		for ((i = 0; i < log_lines; i++)); do
			n=$((n + 1))
			printf '%(%Y-%m-%dT%H:%M:%S)T %s worker[%d]: request id=%08x path=/api/v1/items status=200 took=%dms\n' \
				-1 "${levels[n % 5]}" $((n % 8)) $((n * 7919)) $((n % 250))
		done >>"$demo/demo.log"
		sleep 1
	done
) &
pids+=("$!")

echo "bench-agent: starting the agent daemon (interval ${interval_ms} ms, processes $proc_mode${agent_env[*]:+, ${agent_env[*]}})"
env ${agent_env[@]+"${agent_env[@]}"} "$bin" agent daemon "$demo/agent.toml" >"$tmp/agent.log" 2>&1 &
agent_pid=$!
pids+=("$agent_pid")
# Warm-up: measuring starts once three batches were accepted, so start-up
# (config, first walk of /proc, TLS handshake) is not counted as a cycle.
warm() { read -r b _ < <(counters) && ((b >= 3)); }
wait_for $((30 + 5 * interval_ms / 1000)) warm || {
	alive "$agent_pid" agent "$tmp/agent.log"
	tail -n 20 "$tmp/agent.log" >&2
	die "the collector did not accept 3 batches from the agent in time"
}

read -r b0 s0 l0 < <(counters)
t0=$(date +%s.%N) ticks0=$(cpu_ticks "$agent_pid") ns0=$(cpu_ns "$agent_pid")
echo "bench-agent: measuring the agent for ${duration} s"
pause "$duration"
alive "$agent_pid" agent "$tmp/agent.log"
ticks1=$(cpu_ticks "$agent_pid") ns1=$(cpu_ns "$agent_pid") t1=$(date +%s.%N)
read -r b1 s1 l1 < <(counters)
a_rss=$(status_kib "$agent_pid" VmRSS) a_hwm=$(status_kib "$agent_pid" VmHWM)
a_anon=$(status_kib "$agent_pid" RssAnon) a_file=$(status_kib "$agent_pid" RssFile)
a_threads=$(awk '$1 == "Threads:" { print $2 }' "/proc/$agent_pid/status")
stop "$agent_pid"
stop "$collector_pid"

a_cycles=$((b1 - b0))
((a_cycles > 0)) || die "no batches accepted while measuring"
expected=$(awk -v a="$t0" -v b="$t1" -v iv="$interval_ms" 'BEGIN { printf "%.0f", (b - a) * 1000 / iv }')
if ((a_cycles < expected - 2 || a_cycles > expected + 2)); then
	echo "bench-agent: warning: $a_cycles batches accepted in about $expected intervals (uploads lagging, or cycles of several batches)" >&2
fi
a_cpu=$(awk -v t="$((ticks1 - ticks0))" -v hz="$clk_tck" -v n="$a_cycles" 'BEGIN { printf "%.2f", t * 1000 / hz / n }')
a_cpu_fine=
[[ -n $ns0 && -n $ns1 ]] && a_cpu_fine=$(awk -v d="$((ns1 - ns0))" -v n="$a_cycles" 'BEGIN { printf "%.2f", d / 1e6 / n }')
a_samples=$(awk -v d="$((s1 - s0))" -v n="$a_cycles" 'BEGIN { printf "%.0f", d / n }')
a_logs=$(awk -v d="$((l1 - l0))" -v n="$a_cycles" 'BEGIN { printf "%.1f", d / n }')

ne_cpu=- ne_cpu_fine=- ne_samples=- ne_rss=- ne_hwm=- ne_anon=- ne_file=- ne_threads=- ne_scrapes=0
if ((!skip_ne)); then
	ne_port=$(free_port)
	ne_url=http://127.0.0.1:$ne_port/metrics
	curl_enc=()
	[[ $ne_encoding == gzip ]] && curl_enc=(--compressed -H 'Accept-Encoding: gzip')
	scrape() { curl -sf --max-time 5 ${curl_enc[@]+"${curl_enc[@]}"} -o "$tmp/ne-scrape.txt" "$ne_url"; }
	echo "bench-agent: starting prometheus-node-exporter on 127.0.0.1:$ne_port"
	prometheus-node-exporter --web.listen-address="127.0.0.1:$ne_port" >"$tmp/node-exporter.log" 2>&1 &
	ne_pid=$!
	pids+=("$ne_pid")
	wait_for 20 scrape || {
		alive "$ne_pid" prometheus-node-exporter "$tmp/node-exporter.log"
		die "prometheus-node-exporter did not answer within 20 s"
	}
	scrape && scrape # warm-up, as for the agent
	nt0=$(cpu_ticks "$ne_pid") nns0=$(cpu_ns "$ne_pid")
	echo "bench-agent: scraping prometheus-node-exporter once a second for ${duration} s ($ne_encoding)"
	end=$((SECONDS + duration))
	while ((SECONDS < end)); do
		scrape || die "scrape $((ne_scrapes + 1)) failed"
		ne_scrapes=$((ne_scrapes + 1))
		pause 1
	done
	alive "$ne_pid" prometheus-node-exporter "$tmp/node-exporter.log"
	nt1=$(cpu_ticks "$ne_pid") nns1=$(cpu_ns "$ne_pid")
	ne_rss=$(status_kib "$ne_pid" VmRSS) ne_hwm=$(status_kib "$ne_pid" VmHWM)
	ne_anon=$(status_kib "$ne_pid" RssAnon) ne_file=$(status_kib "$ne_pid" RssFile)
	ne_threads=$(awk '$1 == "Threads:" { print $2 }' "/proc/$ne_pid/status")
	stop "$ne_pid"
	ne_cpu=$(awk -v t="$((nt1 - nt0))" -v hz="$clk_tck" -v n="$ne_scrapes" 'BEGIN { printf "%.2f", t * 1000 / hz / n }')
	[[ -n $nns0 && -n $nns1 ]] && ne_cpu_fine=$(awk -v d="$((nns1 - nns0))" -v n="$ne_scrapes" 'BEGIN { printf "%.2f", d / 1e6 / n }')
	ne_samples=$(grep -cv -e '^#' -e '^$' "$tmp/ne-scrape.txt" || true)
fi

# ratio A B: A/B, or "-" when either is missing.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
mib() { awk -v k="$1" 'BEGIN { if (k == "-") print "-"; else printf "%.1f", k / 1024 }'; }

echo
echo "Agent: $a_cycles cycles of ${interval_ms} ms, processes $proc_mode (top_n $top_n), $log_lines log lines/s${agent_env[*]:+, env ${agent_env[*]}}; $(nproc) cores, kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
if ((!skip_ne)); then
	echo "node_exporter: $ne_scrapes scrapes, 1/s, $ne_encoding; $(prometheus-node-exporter --version 2>&1 | head -n1)"
fi
if awk -v l="$(cut -d' ' -f1 /proc/loadavg)" -v n="$(nproc)" 'BEGIN { exit !(l > n) }'; then
	echo "bench-agent: warning: load average above the core count: both CPU figures are inflated, compare the ratio" >&2
fi
echo
fmt='%-34s %14s %14s %12s\n'
# shellcheck disable=SC2059
{
	printf "$fmt" "" "agent daemon" "node_exporter" "agent/ne"
	printf "$fmt" "CPU ms per cycle/scrape" "$a_cpu" "$ne_cpu" "$(ratio "$a_cpu" "$ne_cpu")"
	printf "$fmt" "  (schedstat, finer)" "${a_cpu_fine:--}" "$ne_cpu_fine" "$(ratio "${a_cpu_fine:--}" "$ne_cpu_fine")"
	printf "$fmt" "samples per cycle/scrape" "$a_samples" "$ne_samples" "$(ratio "$a_samples" "$ne_samples")"
	printf "$fmt" "log records per cycle" "$a_logs" "-" "-"
	printf "$fmt" "RSS MiB at end (VmRSS)" "$(mib "$a_rss")" "$(mib "$ne_rss")" "$(ratio "$a_rss" "$ne_rss")"
	printf "$fmt" "RSS MiB peak (VmHWM)" "$(mib "$a_hwm")" "$(mib "$ne_hwm")" "$(ratio "$a_hwm" "$ne_hwm")"
	printf "$fmt" "  anonymous (heap, stacks) MiB" "$(mib "$a_anon")" "$(mib "$ne_anon")" "$(ratio "$a_anon" "$ne_anon")"
	printf "$fmt" "  file-backed (binary, libc) MiB" "$(mib "$a_file")" "$(mib "$ne_file")" "$(ratio "$a_file" "$ne_file")"
	printf "$fmt" "threads" "$a_threads" "$ne_threads" ""
}
echo
echo "CPU from /proc/PID/stat in 1/${clk_tck} s ticks: +-$(awk -v hz="$clk_tck" -v n="$a_cycles" 'BEGIN { printf "%.2f", 1000 / hz / n }') ms per cycle of resolution."
cpu_goal=$(ratio "$a_cpu" "$ne_cpu")
awk -v r="$cpu_goal" -v hwm="$a_hwm" 'BEGIN {
	if (r != "-") printf "goal CPU <= 0.5 x node_exporter per cycle: %s (%s)\n", (r <= 0.5 ? "met" : "MISSED"), r
	printf "goal RSS <= 15 MB (VmHWM %.1f MB): %s\n", hwm * 1024 / 1e6, (hwm * 1024 <= 15e6 ? "met" : "MISSED")
}'
