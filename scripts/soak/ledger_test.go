package main

import (
	"reflect"
	"testing"
)

func set(seqs ...uint64) map[uint64]bool {
	m := map[uint64]bool{}
	for _, s := range seqs {
		m[s] = true
	}
	return m
}

func TestTallyGroup(t *testing.T) {
	ledgers := []simLedger{
		{ID: "sim-00", Queued: set(1, 2, 3, 4), Acked: set(1, 2, 3)},
		{ID: "sim-01", Queued: set(10, 11), Acked: set(10, 11), Aside: map[uint64]string{12: "HTTP 422"}, Dropped: 2},
	}
	tests := []struct {
		name  string
		store map[agentSeq]int
		want  groupTally
	}{
		{"all stored once", map[agentSeq]int{{"sim-00", 1}: 1, {"sim-00", 2}: 1, {"sim-00", 3}: 1, {"sim-01", 10}: 1, {"sim-01", 11}: 1},
			groupTally{Stored: 5}},
		{"stored but not acknowledged is fine", map[agentSeq]int{{"sim-00", 1}: 1, {"sim-00", 2}: 1, {"sim-00", 3}: 1, {"sim-00", 4}: 1, {"sim-01", 10}: 1, {"sim-01", 11}: 1},
			groupTally{Stored: 6}},
		{"lost", map[agentSeq]int{{"sim-00", 1}: 1, {"sim-00", 3}: 1, {"sim-01", 10}: 1, {"sim-01", 11}: 1},
			groupTally{Stored: 4, Lost: 1, Samples: []string{"lost: sim-00 seq 2 acknowledged, not stored"}}},
		{"duplicate", map[agentSeq]int{{"sim-00", 1}: 1, {"sim-00", 2}: 2, {"sim-00", 3}: 1, {"sim-01", 10}: 1, {"sim-01", 11}: 1},
			groupTally{Stored: 5, Duplicated: 1, Samples: []string{"duplicate: sim-00 seq 2 stored 2 times"}}},
		{"never sent", map[agentSeq]int{{"sim-00", 1}: 1, {"sim-00", 2}: 1, {"sim-00", 3}: 1, {"sim-00", 9}: 1, {"sim-01", 10}: 1, {"sim-01", 11}: 1,
			{"junk", 1 << 40}: 1, {"daemon-ab", 5}: 3},
			groupTally{Stored: 6, Unsent: 2, Samples: []string{
				"unsent: junk seq 1099511627776 stored for an agent that sends nothing valid",
				"unsent: sim-00 seq 9 stored but never queued"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tallyGroup("g", ledgers, tc.store, map[string]bool{"daemon-ab": true})
			want := tc.want
			want.Name, want.Agents, want.Queued, want.Acked, want.Unacked, want.Aside, want.Dropped = "g", 2, 6, 5, 1, 1, 2
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestTallyQuery(t *testing.T) {
	ledgers := []simLedger{{ID: "sim-00", Queued: set(1, 2, 3), Acked: set(1, 2)}}
	got := tallyQuery("A", ledgers, map[string]map[uint64]int{"sim-00": {1: 1, 3: 1, 7: 1}})
	want := queryTally{Collector: "A", Expected: 2, Missing: 1, Unsent: 1, Samples: []string{
		"A: sim-00 seq 2 acknowledged, not queryable", "A: sim-00 seq 7 queryable, never queued"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestSpoolMismatches(t *testing.T) {
	bucket := map[string]map[uint64]int{"a": {1: 1, 2: 1}, "b": {5: 1}}
	got := spoolMismatches("A", []string{"a", "b", "c"}, map[string]uint64{"a": 2, "b": 2}, bucket)
	want := []string{"A: spool holds 2 batches of b, the bucket 1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSeqGaps(t *testing.T) {
	tests := []struct {
		seqs        map[uint64]int
		gaps        int
		first, last uint64
	}{
		{nil, 0, 0, 0},
		{map[uint64]int{7: 1}, 0, 7, 7},
		{map[uint64]int{7: 1, 8: 2, 9: 1}, 0, 7, 9},
		{map[uint64]int{7: 1, 10: 1}, 2, 7, 10},
	}
	for _, tc := range tests {
		g, lo, hi := seqGaps(tc.seqs)
		if g != tc.gaps || lo != tc.first || hi != tc.last {
			t.Errorf("seqGaps(%v) = %d, %d, %d; want %d, %d, %d", tc.seqs, g, lo, hi, tc.gaps, tc.first, tc.last)
		}
	}
}
