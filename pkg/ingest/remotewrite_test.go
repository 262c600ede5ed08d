package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
	"github.com/lightmetrics/lightmetrics/pkg/queue"
)

func rwHeaders() map[string]string {
	return map[string]string{
		"Content-Encoding":                  "snappy",
		"Content-Type":                      "application/x-protobuf",
		"X-Prometheus-Remote-Write-Version": "0.1.0",
	}
}

func rwBody(t testing.TB, wr *prompb.WriteRequest) []byte {
	t.Helper()
	pb, err := wr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, pb)
}

func rwReq(t testing.TB, agent string, wr *prompb.WriteRequest) request {
	return request{path: RouteRemoteWrite, agent: agent, body: bytes.NewReader(rwBody(t, wr)), headers: rwHeaders()}
}

func lbls(kv ...string) []prompb.Label {
	var out []prompb.Label
	for i := 0; i < len(kv); i += 2 {
		out = append(out, prompb.Label{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

// sampleRequest is what a Prometheus server sends: two series, one with a
// sender-set agent label, an empty label and an exemplar, plus metadata.
func sampleRequest() *prompb.WriteRequest {
	return &prompb.WriteRequest{
		Timeseries: []prompb.TimeSeries{
			{
				Labels:    lbls("__name__", "http_requests_total", "job", "api", "agent", "spoofed", "instance", ""),
				Samples:   []prompb.Sample{{Value: 1, Timestamp: 1_700_000_000_000}, {Value: 2.5, Timestamp: 1_700_000_015_000}},
				Exemplars: []prompb.Exemplar{{Labels: lbls("trace_id", "abc"), Value: 1, Timestamp: 1_700_000_000_000}},
			},
			{
				Labels:  lbls("job", "api", "__name__", "up"),
				Samples: []prompb.Sample{{Value: math.Float64frombits(0x7ff0000000000002), Timestamp: 1_700_000_000_000}}, // a stale marker
			},
		},
		Metadata: []prompb.MetricMetadata{{Type: prompb.MetricMetadata_COUNTER, MetricFamilyName: "http_requests_total", Help: "Requests."}},
	}
}

func TestRemoteWriteStored(t *testing.T) {
	var (
		mu   sync.Mutex
		recs []Record
	)
	e := newEnv(t, envConfig{hook: func(_ context.Context, rec Record) error {
		mu.Lock()
		recs = append(recs, rec)
		mu.Unlock()
		return nil
	}})
	wr := sampleRequest()
	for i := range 2 {
		r := e.mustDo(rwReq(t, "agent-a", wr))
		if r.status != http.StatusNoContent || len(r.body) != 0 {
			t.Fatalf("send %d: %d %q, want 204", i, r.status, r.body)
		}
	}
	st := e.stored()
	if len(st) != 1 {
		t.Fatalf("stored %v, want the request once", keys(st))
	}
	var got *batch.Batch
	for _, bs := range st {
		if len(bs) != 1 {
			t.Fatalf("request stored %d times", len(bs))
		}
		got = bs[0]
	}
	if got.AgentID != "agent-a" || got.Seq&(1<<63) == 0 {
		t.Errorf("stored identity %s/%d, want agent-a with the remote-write bit", got.AgentID, got.Seq)
	}
	want := []batch.Series{
		{Name: "http_requests_total", Labels: bl("agent", "agent-a", "job", "api"),
			Samples: []batch.Sample{{TimestampMs: 1_700_000_000_000, Value: 1}, {TimestampMs: 1_700_000_015_000, Value: 2.5}}},
		{Name: "up", Labels: bl("agent", "agent-a", "job", "api"),
			Samples: []batch.Sample{{TimestampMs: 1_700_000_000_000, Value: math.Float64frombits(0x7ff0000000000002)}}},
	}
	if !seriesEqual(got.Series, want) {
		t.Errorf("stored series\n%+v\nwant\n%+v", got.Series, want)
	}
	if len(recs) != 2 || recs[0].Kind != KindRemoteWrite || recs[0].Seq != got.Seq || recs[1].Seq != got.Seq || recs[0].Batch == nil {
		t.Errorf("records handed to the Appender: %+v", recs)
	}
	if g := e.metric("lightmetrics_ingest_batches_total", map[string]string{"status": "duplicate"}); g != 1 {
		t.Errorf("batches_total{duplicate} = %v, want 1", g)
	}
	if g := e.metric("lightmetrics_ingest_samples_total", nil); g != 3 {
		t.Errorf("samples_total = %v, want 3", g)
	}
	if g := e.metric("lightmetrics_ingest_requests_total", map[string]string{"route": RouteRemoteWrite, "code": "204"}); g != 2 {
		t.Errorf("requests_total{204} = %v, want 2", g)
	}

	// The same samples from another agent's token are that agent's.
	if r := e.mustDo(rwReq(t, "agent-b", wr)); r.status != 204 {
		t.Fatalf("agent-b: %d %s", r.status, r.body)
	}
	if n := len(e.stored()); n != 2 {
		t.Errorf("%d records after agent-b's copy, want 2", n)
	}
}

func seriesEqual(a, b []batch.Series) bool {
	return slices.EqualFunc(a, b, func(x, y batch.Series) bool {
		return x.Name == y.Name && slices.Equal(x.Labels, y.Labels) &&
			slices.EqualFunc(x.Samples, y.Samples, func(p, q batch.Sample) bool {
				return p.TimestampMs == q.TimestampMs && math.Float64bits(p.Value) == math.Float64bits(q.Value)
			})
	})
}

func TestRemoteWriteStatuses(t *testing.T) {
	manySeries := &prompb.WriteRequest{}
	for i := range 108 {
		manySeries.Timeseries = append(manySeries.Timeseries, prompb.TimeSeries{
			Labels: lbls("__name__", fmt.Sprintf("m_%d", i)), Samples: []prompb.Sample{{Value: 1, Timestamp: 1}}})
	}
	one := func(labels ...string) *prompb.WriteRequest {
		return &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{Labels: lbls(labels...), Samples: []prompb.Sample{{Value: 1, Timestamp: 1}}}}}
	}
	big := make([]byte, 3<<20) // compresses to almost nothing, decodes past the cap
	tests := []struct {
		name     string
		cfg      envConfig
		req      func(t *testing.T) request
		status   int
		contains []string
		limit    string
		reason   string
		retry    bool
		stored   int
	}{
		{
			name: "metadata only",
			req: func(t *testing.T) request {
				return rwReq(t, "agent-a", &prompb.WriteRequest{Metadata: sampleRequest().Metadata})
			},
			status: 204,
		},
		{
			name: "unknown token",
			req: func(t *testing.T) request {
				r := rwReq(t, "agent-a", sampleRequest())
				r.token = "Bearer nope"
				return r
			},
			status: 401, contains: []string{"missing or unknown bearer token"}, reason: "unauthorized",
		},
		{
			name: "bad snappy",
			req: func(t *testing.T) request {
				return request{path: RouteRemoteWrite, agent: "agent-a", body: strings.NewReader("\x10not snappy at all"), headers: rwHeaders()}
			},
			status: 400, contains: []string{"malformed remote write request", "snappy: corrupt input"}, reason: "malformed",
		},
		{
			name: "valid snappy, bad protobuf",
			req: func(t *testing.T) request {
				return request{path: RouteRemoteWrite, agent: "agent-a", body: bytes.NewReader(snappy.Encode(nil, []byte{0x0a, 0x05, 0x01})), headers: rwHeaders()}
			},
			status: 400, contains: []string{"malformed remote write request"}, reason: "malformed",
		},
		{
			name: "not snappy-encoded",
			req: func(t *testing.T) request {
				r := rwReq(t, "agent-a", sampleRequest())
				r.headers = map[string]string{"Content-Type": "application/x-protobuf"}
				return r
			},
			status: 415, contains: []string{"Content-Encoding: snappy"}, reason: "malformed",
		},
		{
			name: "remote write 2.0",
			req: func(t *testing.T) request {
				r := rwReq(t, "agent-a", sampleRequest())
				r.headers["Content-Type"] = "application/x-protobuf;proto=io.prometheus.write.v2.Request"
				return r
			},
			status: 415, contains: []string{"remote write 1.0"}, reason: "malformed",
		},
		{
			name: "native histograms",
			req: func(t *testing.T) request {
				wr := sampleRequest()
				wr.Timeseries[1].Histograms = []prompb.Histogram{{Count: &prompb.Histogram_CountInt{CountInt: 3}, Timestamp: 1}}
				return rwReq(t, "agent-a", wr)
			},
			status: 422, contains: []string{"carries native histograms, which are not supported"}, limit: "native_histograms", reason: "native_histograms",
		},
		{
			name:   "more series than max_series_per_batch",
			cfg:    envConfig{opts: Options{Limits: tightLimits()}},
			req:    func(t *testing.T) request { return rwReq(t, "agent-a", manySeries) },
			status: 422, contains: []string{"108 series, limit 107", "max_samples_per_send"}, limit: "max_series_per_batch", reason: "max_series_per_batch",
		},
		{
			name: "more labels than max_labels_per_series",
			cfg:  envConfig{opts: Options{Limits: tightLimits()}},
			req: func(t *testing.T) request {
				return rwReq(t, "agent-a", one("__name__", "m", "a", "1", "b", "1", "c", "1", "d", "1", "e", "1"))
			},
			status: 422, contains: []string{"5 labels besides __name__, limit 4"}, limit: "max_labels_per_series", reason: "max_labels_per_series",
		},
		{
			name: "the added agent label counts against max_labels_per_series",
			cfg:  envConfig{opts: Options{Limits: tightLimits()}},
			req: func(t *testing.T) request {
				return rwReq(t, "agent-a", one("__name__", "m", "a", "1", "b", "1", "c", "1", "d", "1"))
			},
			status: 422, contains: []string{`series 0 "m" has 5 labels, limit 4`}, limit: "max_labels_per_series", reason: "max_labels_per_series",
		},
		{
			name: "label value over max_label_value_bytes",
			cfg:  envConfig{opts: Options{Limits: tightLimits()}},
			req: func(t *testing.T) request {
				return rwReq(t, "agent-a", one("__name__", "m", "path", strings.Repeat("p", 101)))
			},
			status: 422, contains: []string{"max_label_value_bytes"}, limit: "max_label_value_bytes", reason: "max_label_value_bytes",
		},
		{
			name:   "metric name Lightmetrics cannot query",
			req:    func(t *testing.T) request { return rwReq(t, "agent-a", one("__name__", "http.requests")) },
			status: 422, contains: []string{"metric_name"}, limit: "metric_name", reason: "metric_name",
		},
		{
			name:   "series without __name__",
			req:    func(t *testing.T) request { return rwReq(t, "agent-a", one("job", "x")) },
			status: 400, contains: []string{"no __name__ label"}, reason: "malformed",
		},
		{
			name:   "duplicate label",
			req:    func(t *testing.T) request { return rwReq(t, "agent-a", one("__name__", "m", "job", "x", "job", "y")) },
			status: 400, contains: []string{`duplicate label "job"`}, reason: "malformed",
		},
		{
			name: "decodes past max_decoded_bytes",
			cfg:  envConfig{opts: Options{MaxDecodedBytes: 2 << 20}},
			req: func(t *testing.T) request {
				return request{path: RouteRemoteWrite, agent: "agent-a", body: bytes.NewReader(snappy.Encode(nil, big)), headers: rwHeaders()}
			},
			status: 413, contains: []string{"decompresses to 3145728 bytes, over max_decoded_bytes 2097152"}, limit: "max_decoded_bytes", reason: "max_decoded_bytes",
		},
		{
			name: "spool unavailable",
			cfg: envConfig{hook: func(context.Context, Record) error {
				return fmt.Errorf("spool: %w", errors.Join(ErrUnavailable, queue.ErrFull))
			}},
			req:    func(t *testing.T) request { return rwReq(t, "agent-a", sampleRequest()) },
			status: 503, contains: []string{"storage unavailable", "retry later"}, reason: "unavailable", retry: true,
		},
		{
			name: "acceptance mode without remote write",
			cfg: envConfig{hook: func(context.Context, Record) error {
				return fmt.Errorf("remote write is not available with ingest.acceptance = \"s3_manifest\": %w", ErrNotSupported)
			}},
			req:    func(t *testing.T) request { return rwReq(t, "agent-a", sampleRequest()) },
			status: 501, contains: []string{"remote write is not available", "s3_manifest"}, reason: "not_supported",
		},
		{
			name:   "happy path",
			req:    func(t *testing.T) request { return rwReq(t, "agent-b", sampleRequest()) },
			status: 204, stored: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.cfg)
			r := e.mustDo(tc.req(t))
			if r.status != tc.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tc.status, r.body)
			}
			text := string(r.body)
			if r.status >= 400 {
				text = r.errorJSON(t).Error
			}
			for _, s := range tc.contains {
				if !strings.Contains(text, s) {
					t.Errorf("answer %q does not contain %q", text, s)
				}
			}
			if r.status >= 400 {
				if got := r.errorJSON(t).Limit; got != tc.limit {
					t.Errorf("limit %q, want %q", got, tc.limit)
				}
				if got := e.metric("lightmetrics_ingest_refusals_total", map[string]string{"reason": tc.reason}); got != 1 {
					t.Errorf("refusals_total{reason=%q} = %v, want 1", tc.reason, got)
				}
				if logs := e.logs.String(); !strings.Contains(logs, "ingest request refused") || !strings.Contains(logs, "reason="+tc.reason) {
					t.Errorf("no log line for the refusal:\n%s", logs)
				}
			}
			if got := r.header.Get("Retry-After") != ""; got != tc.retry {
				t.Errorf("Retry-After set=%v, want %v", got, tc.retry)
			}
			if n := len(e.stored()); n != tc.stored {
				t.Errorf("%d records stored, want %d", n, tc.stored)
			}
		})
	}
}
