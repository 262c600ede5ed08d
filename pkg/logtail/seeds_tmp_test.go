package logtail

import "testing"

func TestStressSeedsTmp(t *testing.T) {
	for _, v := range stressVariants {
		for seed := uint64(0); seed < 300; seed++ {
			t.Run(v.name, func(t *testing.T) { runStress(t, v, seed) })
		}
	}
}
