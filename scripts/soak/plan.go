package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"
)

// Fault kinds, as the report names them.
const (
	kindKillCollector = "collector SIGKILL + restart"
	kindKillAgent     = "daemon agent SIGKILL + restart"
	kindMinio         = "MinIO stopped 30 s, restarted"
	kindSpoolFull     = "collector C spool filesystem full ~20 s"
	kindClockStep     = "clock step ±1 h in batch timestamps"
	kindSlowClients   = "slow clients on ingest ports"
	kindGarbage       = "garbage clients on ingest ports"
)

// kindOrder is the order the report lists kinds in.
var kindOrder = []string{kindKillCollector, kindKillAgent, kindMinio, kindSpoolFull, kindClockStep, kindSlowClients, kindGarbage}

// Fixed lengths of the long faults.
const (
	minioOutage   = 30 * time.Second
	spoolFullHold = 20 * time.Second
	clockStepFor  = 30 * time.Second
)

// plannedFault is one fault of the seeded schedule. Every random choice is
// made here, so a seed names the whole schedule.
type plannedFault struct {
	At     time.Duration // from the start of the load
	Kind   string
	Target string        // collector name, daemon id, or "+1h"/"-1h"
	Delay  time.Duration // kills: how long the process stays down
	Agents []string      // clock steps: the simulated agents stepped
}

func (f plannedFault) String() string {
	s := fmt.Sprintf("%7s %s", f.At.Round(time.Second), f.Kind)
	if f.Target != "" {
		s += " " + f.Target
	}
	if f.Delay > 0 {
		s += fmt.Sprintf(" (down %s)", f.Delay.Round(100*time.Millisecond))
	}
	if len(f.Agents) > 0 {
		s += fmt.Sprintf(" %v", f.Agents)
	}
	return s
}

// planFaults spreads the faults of a run of load length over it, scaled to
// the default 5 minutes (22 faults) and at least one of each kind. Faults
// start after a warm-up and the long ones (MinIO, full spool) end before
// the load does; instantaneous ones are shuffled into evenly spaced slots
// with jitter.
func planFaults(seed int64, load time.Duration, sims []string, daemons []string) []plannedFault {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x50a4))
	scale := load.Seconds() / (5 * time.Minute).Seconds()
	n := func(base int) int { return max(1, int(math.Round(float64(base)*scale))) }

	start := max(5*time.Second, load/20)
	end := load - max(10*time.Second, load/20)
	if end <= start {
		end = start + time.Second
	}
	span := end - start

	var out []plannedFault
	// Long faults at fixed fractions so they do not all pile up, ending
	// before the load does where the run is long enough.
	long := func(kind string, count int, frac float64, length time.Duration) {
		for i := range count {
			at := start + time.Duration((float64(i)+frac)/float64(count)*float64(span))
			if latest := load - length - 5*time.Second; at > latest {
				at = max(start, latest)
			}
			out = append(out, plannedFault{At: at, Kind: kind})
		}
	}
	long(kindMinio, n(1), 0.3, minioOutage)
	long(kindSpoolFull, n(1), 0.65, spoolFullHold+5*time.Second)

	var short []plannedFault
	for _, c := range []string{"A", "B", "C"} {
		for range n(3) {
			short = append(short, plannedFault{Kind: kindKillCollector, Target: c})
		}
	}
	for _, d := range daemons {
		for range n(2) {
			short = append(short, plannedFault{Kind: kindKillAgent, Target: d})
		}
	}
	for i := range max(2, n(2)) {
		sign := "+1h"
		if i%2 == 1 {
			sign = "-1h"
		}
		short = append(short, plannedFault{Kind: kindClockStep, Target: sign})
	}
	for range n(2) {
		short = append(short, plannedFault{Kind: kindSlowClients})
	}
	for range n(3) {
		short = append(short, plannedFault{Kind: kindGarbage})
	}
	rng.Shuffle(len(short), func(i, j int) { short[i], short[j] = short[j], short[i] })
	slot := span / time.Duration(len(short))
	for i := range short {
		f := &short[i]
		jitter := time.Duration((rng.Float64()*0.6 - 0.3) * float64(slot))
		f.At = start + slot*time.Duration(i) + slot/2 + jitter
		switch f.Kind {
		case kindKillCollector, kindKillAgent:
			f.Delay = time.Second + time.Duration(rng.Int64N(int64(2*time.Second)))
		case kindClockStep:
			f.Agents = pickAgents(rng, sims, 6)
		}
	}
	out = append(out, short...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].At < out[j].At })
	return out
}

// pickAgents chooses k distinct agents, in their original order.
func pickAgents(rng *rand.Rand, all []string, k int) []string {
	if k >= len(all) {
		return append([]string(nil), all...)
	}
	idx := rng.Perm(len(all))[:k]
	sort.Ints(idx)
	out := make([]string, k)
	for i, j := range idx {
		out[i] = all[j]
	}
	return out
}
