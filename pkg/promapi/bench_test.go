package promapi

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
	"github.com/lightmetrics/lightmetrics/pkg/tsstore"
)

// benchEnd is the end of the benchmark data and of its queries.
var benchEnd = time.UnixMilli(1_700_086_400_000).UTC()

// loadBench stores 1,000 series × 24 h at 10 s (8.64 M samples): 125 hosts
// with 8 CPUs each, x{agent, cpu, mode="user"}, counters growing by a
// random multiple of 0.01 like CPU seconds read from /proc.
func loadBench(b *testing.B) *tsstore.Store {
	b.Helper()
	const hosts, cpus, n = 125, 8, 8640
	s := tsstore.New(tsstore.Options{})
	rng := rand.New(rand.NewPCG(1, 2))
	vals := make([]float64, hosts*cpus)
	start := benchEnd.Add(-24 * time.Hour).UnixMilli()
	cpuNames := make([]string, cpus)
	for c := range cpus {
		cpuNames[c] = fmt.Sprint(c)
	}
	for i := range n {
		ts := start + int64(i+1)*10_000
		for a := range hosts {
			bt := &batch.Batch{AgentID: fmt.Sprintf("host-%03d", a), Seq: uint64(i), Series: make([]batch.Series, 0, cpus)}
			for c := range cpus {
				k := a*cpus + c
				vals[k] = math.Round((vals[k]+float64(rng.IntN(1000))/100)*100) / 100
				bt.Series = append(bt.Series, batch.Series{
					Name:    "x",
					Labels:  batch.Labels{{Name: "cpu", Value: cpuNames[c]}, {Name: "mode", Value: "user"}},
					Samples: []batch.Sample{{TimestampMs: ts, Value: vals[k]}},
				})
			}
			if _, err := s.Add(bt); err != nil {
				b.Fatal(err)
			}
		}
	}
	return s
}

const benchQuery = `sum by (cpu) (rate(x[5m]))`

// BenchmarkRangeQuery evaluates sum by (cpu) (rate(x[5m])) over 1,000
// series at a 60 s step, for the last 1 h and the whole 24 h: through the
// engine alone, and through the HTTP handler (parameters, JSON).
func BenchmarkRangeQuery(b *testing.B) {
	s := loadBench(b)
	h, err := New(s, Options{})
	if err != nil {
		b.Fatal(err)
	}
	st := s.Stats()
	b.Logf("loaded %d series, %d samples, %d bytes (%.2f bytes/sample)", st.Series, st.Samples, st.Bytes, float64(st.Bytes)/float64(st.Samples))
	for _, r := range []struct {
		name string
		d    time.Duration
	}{{"1h", time.Hour}, {"24h", 24 * time.Hour}} {
		start := benchEnd.Add(-r.d)
		b.Run("engine/"+r.name, func(b *testing.B) {
			ctx := context.Background()
			opts := promql.NewPrometheusQueryOpts(false, 0, nil)
			for range b.N {
				qry, err := h.engine.NewRangeQuery(ctx, s, opts, benchQuery, start, benchEnd, time.Minute)
				if err != nil {
					b.Fatal(err)
				}
				res := qry.Exec(ctx)
				if res.Err != nil {
					b.Fatal(res.Err)
				}
				m, err := res.Matrix()
				if err != nil || len(m) != 8 || len(m[0].Floats) < int(r.d/time.Minute) {
					b.Fatalf("result: %d series, err %v", len(m), err)
				}
				qry.Close()
			}
		})
		b.Run("http/"+r.name, func(b *testing.B) {
			q := url.Values{"query": {benchQuery}, "start": {unix(start)}, "end": {unix(benchEnd)}, "step": {"60"}}
			for range b.N {
				req := httptest.NewRequest(http.MethodGet, "/api/v1/query_range?"+q.Encode(), nil)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
