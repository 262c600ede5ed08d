package ingest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/prometheus/prompb"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
	"github.com/lightmetrics/lightmetrics/pkg/codec"
)

// benchSamples is the request size the comparison uses: 2,000
// samples per remote-write request.
const benchSamples = 2000

// nodeExporterRequest is a remote-write request shaped like node_exporter
// output: 2,000 series of one sample, five labels each.
func nodeExporterRequest() *prompb.WriteRequest {
	wr := &prompb.WriteRequest{}
	for i := range benchSamples {
		wr.Timeseries = append(wr.Timeseries, prompb.TimeSeries{
			Labels: lbls("__name__", fmt.Sprintf("node_metric_%d", i%50), "cpu", fmt.Sprint(i/50), "instance", "host-1:9100",
				"job", "node", "mode", "user"),
			Samples: []prompb.Sample{{Value: float64(i), Timestamp: 1_700_000_000_000}},
		})
	}
	return wr
}

// nopAppender accepts everything at once, so benchmarks measure the handler.
type nopAppender struct{}

func (nopAppender) Append(context.Context, Record) (Result, error) { return Result{}, nil }

func benchHandler(b *testing.B) (*Handler, string) {
	const tok = "bench-token-0123456789abcdef"
	h, err := New(nopAppender{}, NewTokenHolder(tokenTableB(b, tok)), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(h.Close)
	return h, tok
}

func tokenTableB(_ *testing.B, tok string) Authenticator {
	return benchAuth{tok: tok}
}

type benchAuth struct{ tok string }

func (a benchAuth) Lookup(token string) (string, bool) { return "agent-a", token == a.tok }

func BenchmarkRemoteWriteDecode(b *testing.B) {
	body := rwBody(b, nodeExporterRequest())
	bd := rwBounds{maxDecoded: DefaultMaxDecodedBytes, maxSeries: 2048, maxLabels: 32, maxSamples: DefaultMaxDecodedBytes / sampleBytes}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeRemoteWrite(body, "agent-a", bd); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchSamples), "ns/sample")
}

// BenchmarkServe measures one request through the handler, minus TLS and
// storage: what ingest itself costs per sample.
func BenchmarkServe(b *testing.B) {
	h, tok := benchHandler(b)
	enc, err := codec.NewEncoder()
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	agentBatch := &batch.Batch{AgentID: "agent-a", Seq: 1}
	for _, ts := range nodeExporterRequest().Timeseries {
		s := batch.Series{Name: ts.Labels[0].Value, Kind: batch.KindGauge, Samples: []batch.Sample{{TimestampMs: ts.Samples[0].Timestamp, Value: ts.Samples[0].Value}}}
		for _, l := range ts.Labels[1:] {
			s.Labels = append(s.Labels, batch.Label{Name: l.Name, Value: l.Value})
		}
		agentBatch.Series = append(agentBatch.Series, s)
	}
	encoded, err := enc.Encode(agentBatch)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		path    string
		body    []byte
		headers map[string]string
		want    int
	}{
		{"batch", RouteBatches, encoded, map[string]string{"Content-Type": codec.ContentType}, http.StatusOK},
		{"remote_write", RouteRemoteWrite, rwBody(b, nodeExporterRequest()), rwHeaders(), http.StatusNoContent},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.body)))
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, tc.path, bytes.NewReader(tc.body))
				req.Header.Set("Authorization", "Bearer "+tok)
				for k, v := range tc.headers {
					req.Header.Set(k, v)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != tc.want {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchSamples), "ns/sample")
		})
	}
}
