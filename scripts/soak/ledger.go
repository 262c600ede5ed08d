package main

import (
	"fmt"
	"sort"
)

// groupTally compares what the simulated agents of one collector group
// queued and had acknowledged with what the group stored.
type groupTally struct {
	Name   string
	Agents int
	Queued int // appended to an agent queue (the agent's "sent")
	Acked  int // acknowledged accepted/duplicate by a collector
	Stored int // distinct acknowledged-or-not batches of these agents stored
	// Lost are acknowledged batches not stored; Duplicated are batches
	// stored more than once; Unsent are stored batches no agent queued.
	Lost, Duplicated, Unsent int
	// Unacked are batches queued but never acknowledged by the end (the
	// flush could not send them); Aside were refused for good; Dropped
	// fell off a full queue.
	Unacked, Aside, Dropped int
	Samples                 []string
}

func (t *groupTally) sample(format string, args ...any) {
	if len(t.Samples) < sampleCap {
		t.Samples = append(t.Samples, fmt.Sprintf(format, args...))
	}
}

// tallyGroup checks "nothing acknowledged is lost, nothing is stored
// twice, nothing is stored that was never sent" for the agents of one
// group. store holds every (agent, seq) the group's bucket area has, of any
// agent: entries of agents outside ledgers and not in others count as
// unsent.
func tallyGroup(name string, ledgers []simLedger, store map[agentSeq]int, others map[string]bool) groupTally {
	t := groupTally{Name: name, Agents: len(ledgers)}
	known := map[string]simLedger{}
	for _, l := range ledgers {
		known[l.ID] = l
		t.Queued += len(l.Queued)
		t.Acked += len(l.Acked)
		t.Aside += len(l.Aside)
		t.Dropped += l.Dropped
		for _, seq := range sortedSeqs(l.Acked) {
			if store[agentSeq{l.ID, seq}] == 0 {
				t.Lost++
				t.sample("lost: %s seq %d acknowledged, not stored", l.ID, seq)
			}
		}
		for _, seq := range sortedSeqs(l.Queued) {
			if !l.Acked[seq] {
				t.Unacked++
			}
		}
	}
	keys := make([]agentSeq, 0, len(store))
	for k := range store {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].agent != keys[j].agent {
			return keys[i].agent < keys[j].agent
		}
		return keys[i].seq < keys[j].seq
	})
	for _, k := range keys {
		n := store[k]
		l, ok := known[k.agent]
		switch {
		case ok:
			t.Stored++
			if !l.Queued[k.seq] {
				t.Unsent++
				t.sample("unsent: %s seq %d stored but never queued", k.agent, k.seq)
			}
			if n > 1 {
				t.Duplicated++
				t.sample("duplicate: %s seq %d stored %d times", k.agent, k.seq, n)
			}
		case others[k.agent]:
			// a daemon agent: checked on its own
		default:
			t.Unsent++
			t.sample("unsent: %s seq %d stored for an agent that sends nothing valid", k.agent, k.seq)
		}
	}
	return t
}

// queryTally compares the seq stamps a collector's query API returns with
// the acknowledged batches of the agents it should hold.
type queryTally struct {
	Collector string
	Expected  int // acknowledged batches
	Missing   int // acknowledged, not queryable
	Unsent    int // queryable, never queued
	Samples   []string
}

func tallyQuery(collector string, ledgers []simLedger, seen map[string]map[uint64]int) queryTally {
	t := queryTally{Collector: collector}
	for _, l := range ledgers {
		t.Expected += len(l.Acked)
		for _, seq := range sortedSeqs(l.Acked) {
			if seen[l.ID][seq] == 0 {
				t.Missing++
				if len(t.Samples) < sampleCap {
					t.Samples = append(t.Samples, fmt.Sprintf("%s: %s seq %d acknowledged, not queryable", collector, l.ID, seq))
				}
			}
		}
		for seq := range seen[l.ID] {
			if !l.Queued[seq] {
				t.Unsent++
				if len(t.Samples) < sampleCap {
					t.Samples = append(t.Samples, fmt.Sprintf("%s: %s seq %d queryable, never queued", collector, l.ID, seq))
				}
			}
		}
	}
	return t
}

// spoolMismatches compares a collector's /api/v1/agents batch counts (what
// its spool holds) with what the bucket holds for the same agents. A spool
// storing a batch twice, or missing one, shows here.
func spoolMismatches(collector string, agents []string, batches map[string]uint64, inBucket map[string]map[uint64]int) []string {
	var out []string
	for _, id := range agents {
		want := uint64(len(inBucket[id]))
		if got := batches[id]; got != want {
			out = append(out, fmt.Sprintf("%s: spool holds %d batches of %s, the bucket %d", collector, got, id, want))
		}
	}
	return out
}

// seqGaps counts the sequence numbers missing between the lowest and the
// highest of seqs: a daemon agent numbers its batches consecutively, so a
// gap is a batch that was never stored.
func seqGaps(seqs map[uint64]int) (gaps int, lo, hi uint64) {
	if len(seqs) == 0 {
		return 0, 0, 0
	}
	first := true
	for s := range seqs {
		if first || s < lo {
			lo = s
		}
		if first || s > hi {
			hi = s
		}
		first = false
	}
	return int(hi-lo+1) - len(seqs), lo, hi
}

func sortedSeqs(m map[uint64]bool) []uint64 {
	out := make([]uint64, 0, len(m))
	for s := range m {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
