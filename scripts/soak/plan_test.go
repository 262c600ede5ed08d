package main

import (
	"reflect"
	"testing"
	"time"
)

func TestPlanFaults(t *testing.T) {
	sims := []string{"sim-00", "sim-01", "sim-02", "sim-03", "sim-04", "sim-05", "sim-06", "sim-07", "sim-08", "sim-09"}
	daemons := []string{daemonAB, daemonC}
	tests := []struct {
		load      time.Duration
		minFaults int
		minKills  int // per collector
	}{
		{5 * time.Minute, 20, 3},
		{time.Minute, 11, 1},
		{30 * time.Second, 11, 1},
		{time.Hour, 200, 36},
	}
	for _, tc := range tests {
		t.Run(tc.load.String(), func(t *testing.T) {
			plan := planFaults(42, tc.load, sims, daemons)
			if len(plan) < tc.minFaults {
				t.Errorf("%d faults, want at least %d", len(plan), tc.minFaults)
			}
			kinds := map[string]int{}
			kills := map[string]int{}
			for i, f := range plan {
				kinds[f.Kind]++
				if f.At < 0 || f.At >= tc.load {
					t.Errorf("%s at %s, outside the load of %s", f.Kind, f.At, tc.load)
				}
				if i > 0 && f.At < plan[i-1].At {
					t.Errorf("plan not in time order at %d", i)
				}
				switch f.Kind {
				case kindKillCollector:
					kills[f.Target]++
					if f.Delay < time.Second || f.Delay > 3*time.Second {
						t.Errorf("kill delay %s outside 1–3 s", f.Delay)
					}
				case kindClockStep:
					if len(f.Agents) == 0 || (f.Target != "+1h" && f.Target != "-1h") {
						t.Errorf("clock step %+v", f)
					}
				case kindMinio:
					if tc.load >= time.Minute && f.At+minioOutage > tc.load {
						t.Errorf("MinIO outage at %s outlasts the load of %s", f.At, tc.load)
					}
				}
			}
			for _, k := range kindOrder {
				if kinds[k] == 0 {
					t.Errorf("no %q fault", k)
				}
			}
			for _, c := range []string{"A", "B", "C"} {
				if kills[c] < tc.minKills {
					t.Errorf("collector %s killed %d times, want at least %d", c, kills[c], tc.minKills)
				}
			}
		})
	}
}

func TestPlanFaultsDeterministic(t *testing.T) {
	sims := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	a := planFaults(7, 5*time.Minute, sims, []string{daemonAB, daemonC})
	b := planFaults(7, 5*time.Minute, sims, []string{daemonAB, daemonC})
	if !reflect.DeepEqual(a, b) {
		t.Fatal("one seed gave two schedules")
	}
	c := planFaults(8, 5*time.Minute, sims, []string{daemonAB, daemonC})
	if reflect.DeepEqual(a, c) {
		t.Fatal("two seeds gave one schedule")
	}
}

func TestPickAgents(t *testing.T) {
	all := []string{"a", "b", "c", "d", "e"}
	plan := planFaults(1, 5*time.Minute, all, nil)
	for _, f := range plan {
		if f.Kind != kindClockStep {
			continue
		}
		if len(f.Agents) != len(all) {
			t.Errorf("asked for 6 of 5 agents, got %v", f.Agents)
		}
	}
}
