package codec

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

func newPair(t testing.TB, c Caps) (*Encoder, *Decoder) {
	t.Helper()
	enc, err := NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(enc.Close)
	dec, err := NewDecoder(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dec.Close)
	return enc, dec
}

// canonical is what Decode(Encode(b)) must equal: a deep copy of b with each
// series' labels sorted and every empty list nil.
func canonical(b *batch.Batch) *batch.Batch {
	c := *b
	labels := func(ls batch.Labels, sorted bool) batch.Labels {
		if len(ls) == 0 {
			return nil
		}
		out := append(batch.Labels(nil), ls...)
		if sorted {
			out.Sort()
		}
		return out
	}
	if b.Heartbeat != nil {
		hb := *b.Heartbeat
		hb.Values = nil
		if len(b.Heartbeat.Values) > 0 {
			hb.Values = append([]batch.Scalar(nil), b.Heartbeat.Values...)
		}
		c.Heartbeat = &hb
	}
	c.Series, c.Logs, c.Alerts = nil, nil, nil
	for _, s := range b.Series {
		s.Labels = labels(s.Labels, true)
		if len(s.Samples) == 0 {
			s.Samples = nil
		} else {
			s.Samples = append([]batch.Sample(nil), s.Samples...)
		}
		c.Series = append(c.Series, s)
	}
	for _, l := range b.Logs {
		l.Attrs = labels(l.Attrs, false)
		c.Logs = append(c.Logs, l)
	}
	for _, a := range b.Alerts {
		a.Labels = labels(a.Labels, false)
		c.Alerts = append(c.Alerts, a)
	}
	return &c
}

// clone deep-copies b, keeping nil and empty lists apart.
func clone(b *batch.Batch) *batch.Batch {
	c := *b
	if b.Heartbeat != nil {
		hb := *b.Heartbeat
		hb.Values = slices.Clone(hb.Values)
		c.Heartbeat = &hb
	}
	c.Series = slices.Clone(b.Series)
	for i := range c.Series {
		c.Series[i].Labels = slices.Clone(c.Series[i].Labels)
		c.Series[i].Samples = slices.Clone(c.Series[i].Samples)
	}
	c.Logs = slices.Clone(b.Logs)
	for i := range c.Logs {
		c.Logs[i].Attrs = slices.Clone(c.Logs[i].Attrs)
	}
	c.Alerts = slices.Clone(b.Alerts)
	for i := range c.Alerts {
		c.Alerts[i].Labels = slices.Clone(c.Alerts[i].Labels)
	}
	return &c
}

// sameBatch compares batches with float values by their bits, so that NaN
// equals itself and -0 differs from +0.
func sameBatch(t testing.TB, got, want *batch.Batch) {
	t.Helper()
	if !reflect.DeepEqual(withFloatBits(got), withFloatBits(want)) {
		t.Fatalf("batch mismatch\n got: %s\nwant: %s", bitsView(got), bitsView(want))
	}
}

// withFloatBits copies b with every float replaced by a float whose value is
// its own bit pattern, so that reflect.DeepEqual compares bits (NaN == NaN,
// -0 != +0).
func withFloatBits(b *batch.Batch) *batch.Batch {
	if b == nil {
		return nil
	}
	c := *b
	asBits := func(f float64) float64 { return float64(math.Float64bits(f) >> 11) } // 53 bits: exact
	asLow := func(f float64) float64 { return float64(math.Float64bits(f) & 0x7ff) }
	if b.Heartbeat != nil {
		hb := *b.Heartbeat
		if hb.Values != nil {
			hb.Values = make([]batch.Scalar, 0, 2*len(b.Heartbeat.Values))
			for _, v := range b.Heartbeat.Values {
				hb.Values = append(hb.Values, batch.Scalar{Name: v.Name, Kind: v.Kind, Value: asBits(v.Value)}, batch.Scalar{Value: asLow(v.Value)})
			}
		}
		c.Heartbeat = &hb
	}
	if b.Series != nil {
		c.Series = make([]batch.Series, len(b.Series))
		for i, s := range b.Series {
			if s.Samples != nil {
				smp := make([]batch.Sample, 0, 2*len(s.Samples))
				for _, p := range s.Samples {
					smp = append(smp, batch.Sample{TimestampMs: p.TimestampMs, Value: asBits(p.Value)}, batch.Sample{Value: asLow(p.Value)})
				}
				s.Samples = smp
			}
			c.Series[i] = s
		}
	}
	return &c
}

// bitsView renders a batch with every float as its bit pattern.
func bitsView(b *batch.Batch) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "agent=%q seq=%d created=%d\n", b.AgentID, b.Seq, b.CreatedNs)
	if hb := b.Heartbeat; hb != nil {
		fmt.Fprintf(&sb, "hb ts=%d host=%q ver=%q os=%q values=%v\n", hb.TimestampMs, hb.Hostname, hb.AgentVersion, hb.OS, hb.Values == nil)
		for _, v := range hb.Values {
			fmt.Fprintf(&sb, "  %q %d %#x\n", v.Name, v.Kind, math.Float64bits(v.Value))
		}
	}
	fmt.Fprintf(&sb, "series=%d nil=%v\n", len(b.Series), b.Series == nil)
	for _, s := range b.Series {
		fmt.Fprintf(&sb, " %q %d labels=%#v nilsamples=%v\n", s.Name, s.Kind, s.Labels, s.Samples == nil)
		for _, p := range s.Samples {
			fmt.Fprintf(&sb, "  %d %#x\n", p.TimestampMs, math.Float64bits(p.Value))
		}
	}
	fmt.Fprintf(&sb, "logs=%#v\nalerts=%#v\n", b.Logs, b.Alerts)
	return sb.String()
}

func roundTripCases() []struct {
	name string
	b    *batch.Batch
} {
	nan := math.NaN()
	staleNaN := math.Float64frombits(0x7ff0000000000002) // Prometheus' stale marker
	many := batch.Series{Name: "node_load1", Kind: batch.KindGauge}
	for i := 0; i < 5000; i++ {
		many.Samples = append(many.Samples, batch.Sample{TimestampMs: 1_700_000_000_000 + int64(i)*1000, Value: float64(i%97) / 7})
	}
	return []struct {
		name string
		b    *batch.Batch
	}{
		{"empty", &batch.Batch{}},
		{"ids only", &batch.Batch{AgentID: strings.Repeat("a", 255), Seq: math.MaxUint64, CreatedNs: math.MinInt64}},
		{"heartbeat only", &batch.Batch{AgentID: "web-01", Seq: 1, CreatedNs: 1_700_000_000_123_456_789,
			Heartbeat: &batch.Heartbeat{TimestampMs: 1_700_000_000_123, Hostname: "web-01", AgentVersion: "0.1.0", OS: "linux",
				Values: []batch.Scalar{{Name: "load1", Kind: batch.KindGauge, Value: 0.42}, {Name: "uptime_seconds", Kind: batch.KindCounter, Value: 86400}}}}},
		{"empty heartbeat", &batch.Batch{Heartbeat: &batch.Heartbeat{}}},
		{"series with many samples", &batch.Batch{AgentID: "a", Series: []batch.Series{many}}},
		{"host batch", hostBatch(7, 3)},
		{"unicode strings", &batch.Batch{AgentID: "hôte-ü-東京",
			Heartbeat: &batch.Heartbeat{Hostname: "rechner-ä", OS: "линукс", Values: []batch.Scalar{{Name: "température_°C", Value: 21.5}}},
			Series: []batch.Series{{Name: "温度", Labels: batch.Labels{{Name: "ort", Value: "Zürich 🏔"}, {Name: "emoji", Value: "🔥\u0000nul"}},
				Samples: []batch.Sample{{TimestampMs: 1, Value: 1}}}},
			Logs: []batch.LogRecord{{TimeNs: 5, Source: "syslog", Message: "résumé ✓ 日本語"}}}},
		{"nan and inf", &batch.Batch{Series: []batch.Series{{Name: "x", Samples: []batch.Sample{
			{TimestampMs: 1, Value: nan}, {TimestampMs: 2, Value: staleNaN}, {TimestampMs: 3, Value: math.Inf(1)},
			{TimestampMs: 4, Value: math.Inf(-1)}, {TimestampMs: 5, Value: math.Copysign(0, -1)}, {TimestampMs: 6, Value: 0},
			{TimestampMs: 7, Value: math.SmallestNonzeroFloat64}, {TimestampMs: 8, Value: math.MaxFloat64},
			{TimestampMs: 9, Value: math.Float64frombits(0xfff8dead0000beef)}}}},
			Heartbeat: &batch.Heartbeat{Values: []batch.Scalar{{Name: "n", Value: staleNaN}, {Name: "i", Value: math.Inf(-1)}}}}},
		{"extreme timestamps", &batch.Batch{Series: []batch.Series{{Name: "t", Samples: []batch.Sample{
			{TimestampMs: math.MaxInt64}, {TimestampMs: math.MinInt64}, {TimestampMs: 0}, {TimestampMs: -1}, {TimestampMs: math.MaxInt64}}}},
			Logs:   []batch.LogRecord{{TimeNs: math.MinInt64}, {TimeNs: math.MaxInt64}},
			Alerts: []batch.Alert{{TimeNs: math.MaxInt64}, {TimeNs: math.MinInt64}}}},
		{"unsorted labels", &batch.Batch{Series: []batch.Series{{Name: "s", Labels: batch.Labels{
			{Name: "z", Value: "1"}, {Name: "a", Value: "2"}, {Name: "m", Value: "b"}, {Name: "m", Value: "a"}}}}}},
		{"logs with truncated flag", &batch.Batch{Logs: []batch.LogRecord{
			{TimeNs: 1_700_000_000_000_000_000, Source: "nginx", Message: "GET / 200", Attrs: batch.Labels{{Name: "path", Value: "/var/log/nginx/access.log"}, {Name: "level", Value: "info"}}},
			{TimeNs: 1_700_000_000_000_000_100, Source: "nginx", Message: strings.Repeat("x", 16384), Truncated: true},
			{TimeNs: 1_699_999_999_000_000_000, Source: "app", Message: "", Attrs: batch.Labels{{Name: "b", Value: "2"}, {Name: "a", Value: "1"}}}}}},
		{"alerts", &batch.Batch{Alerts: []batch.Alert{
			{TimeNs: 10, Name: "queue_dropped", Severity: batch.SeverityWarning, Message: "dropped 3 batches", Labels: batch.Labels{{Name: "first_seq", Value: "4"}}},
			{TimeNs: 11, Name: "disk_full", Severity: batch.SeverityCritical},
			{TimeNs: 9, Name: "info", Severity: batch.SeverityInfo, Message: "hello"}}}},
		{"empty lists not nil", &batch.Batch{Series: []batch.Series{{Name: "e", Labels: batch.Labels{}, Samples: []batch.Sample{}}},
			Logs: []batch.LogRecord{}, Alerts: []batch.Alert{}, Heartbeat: &batch.Heartbeat{Values: []batch.Scalar{}}}},
	}
}

func TestRoundTrip(t *testing.T) {
	enc, dec := newPair(t, DefaultCaps())
	for _, tc := range roundTripCases() {
		t.Run(tc.name, func(t *testing.T) {
			before := clone(tc.b)
			data, err := enc.Encode(tc.b)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			sameBatch(t, tc.b, before) // Encode must not modify its input
			got, err := dec.Decode(data)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			sameBatch(t, got, canonical(tc.b))

			h, err := PeekHeader(data)
			if err != nil {
				t.Fatalf("peek: %v", err)
			}
			if h.Version != formatVersion || h.AgentID != tc.b.AgentID || h.Seq != tc.b.Seq || h.CreatedNs != tc.b.CreatedNs ||
				int(h.PayloadBytes) != len(data)-minHeader-len(tc.b.AgentID) {
				t.Fatalf("header %+v does not describe batch (len %d)", h, len(data))
			}

			again, err := enc.Encode(tc.b)
			if err != nil || !bytes.Equal(again, data) {
				t.Fatalf("second encode differs (err %v): re-uploads would not be byte-identical", err)
			}
			// Re-encoding the canonical form gives the same bytes too, so a
			// batch decoded and re-encoded (e.g. for landing) is stable.
			if re, err := enc.Encode(got); err != nil || !bytes.Equal(re, data) {
				t.Fatalf("re-encoding the decoded batch differs (err %v)", err)
			}
		})
	}
}

// randBatch builds a random batch that exercises every field, including
// strings of arbitrary valid UTF-8, unsorted and duplicate labels, and
// arbitrary float bit patterns.
func randBatch(r *rand.Rand) *batch.Batch {
	str := func(max int) string {
		n := r.Intn(max + 1)
		var sb strings.Builder
		for sb.Len() < n {
			switch r.Intn(4) {
			case 0:
				sb.WriteRune(rune(r.Intn(0x80)))
			case 1:
				sb.WriteRune(rune(0x80 + r.Intn(0x800-0x80)))
			case 2:
				sb.WriteRune([]rune("äöü東京🔥\u00a0\ufffd")[r.Intn(8)])
			default:
				sb.WriteString([]string{"cpu", "mode", "device", "node_", "_total", ""}[r.Intn(6)])
			}
		}
		return sb.String()
	}
	f64 := func() float64 {
		switch r.Intn(5) {
		case 0:
			return math.Float64frombits(r.Uint64())
		case 1:
			return []float64{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1), 0}[r.Intn(5)]
		case 2:
			return float64(r.Int63n(1 << 40))
		default:
			return r.NormFloat64() * 1e6
		}
	}
	i64 := func() int64 {
		if r.Intn(8) == 0 {
			return int64(r.Uint64())
		}
		return 1_700_000_000_000 + r.Int63n(1e9)
	}
	labels := func(max int) batch.Labels {
		n := r.Intn(max + 1)
		if n == 0 && r.Intn(2) == 0 {
			return nil
		}
		ls := make(batch.Labels, n)
		for i := range ls {
			ls[i] = batch.Label{Name: str(8), Value: str(12)}
			if i > 0 && r.Intn(5) == 0 {
				ls[i].Name = ls[i-1].Name // duplicate names sort by value
			}
		}
		return ls
	}
	b := &batch.Batch{AgentID: str(40), Seq: r.Uint64(), CreatedNs: i64()}
	if r.Intn(4) > 0 {
		hb := &batch.Heartbeat{TimestampMs: i64(), Hostname: str(20), AgentVersion: str(8), OS: str(8)}
		for i := r.Intn(30); i > 0; i-- {
			hb.Values = append(hb.Values, batch.Scalar{Name: str(20), Kind: batch.Kind(r.Intn(3)), Value: f64()})
		}
		b.Heartbeat = hb
	}
	for i := r.Intn(20); i > 0; i-- {
		s := batch.Series{Name: str(30), Kind: batch.Kind(r.Intn(3)), Labels: labels(6)}
		t := i64()
		for j := r.Intn(40); j > 0; j-- {
			if r.Intn(10) == 0 {
				t = i64()
			} else {
				t += 10_000 + r.Int63n(5) - 2
			}
			s.Samples = append(s.Samples, batch.Sample{TimestampMs: t, Value: f64()})
		}
		b.Series = append(b.Series, s)
	}
	for i := r.Intn(10); i > 0; i-- {
		b.Logs = append(b.Logs, batch.LogRecord{TimeNs: i64(), Source: str(10), Message: str(200), Truncated: r.Intn(2) == 0, Attrs: labels(4)})
	}
	for i := r.Intn(4); i > 0; i-- {
		b.Alerts = append(b.Alerts, batch.Alert{TimeNs: i64(), Name: str(20), Severity: batch.Severity(r.Intn(3)), Message: str(80), Labels: labels(4)})
	}
	return b
}

func TestRoundTripProperty(t *testing.T) {
	enc, dec := newPair(t, DefaultCaps())
	other, _ := newPair(t, DefaultCaps())
	for seed := int64(1); seed <= 300; seed++ {
		r := rand.New(rand.NewSource(seed))
		b := randBatch(r)
		before := clone(b)
		data, err := enc.Encode(b)
		if err != nil {
			t.Fatalf("seed %d: encode: %v", seed, err)
		}
		sameBatch(t, b, before) // Encode must not modify its input
		got, err := dec.Decode(data)
		if err != nil {
			t.Fatalf("seed %d: decode: %v", seed, err)
		}
		sameBatch(t, got, canonical(b))
		// Deterministic across encoder instances and through a decode:
		// a re-upload or a re-encode is byte-identical.
		if again, err := other.Encode(b); err != nil || !bytes.Equal(again, data) {
			t.Fatalf("seed %d: another encoder produced different bytes (err %v)", seed, err)
		}
		if re, err := enc.Encode(got); err != nil || !bytes.Equal(re, data) {
			t.Fatalf("seed %d: re-encoding the decoded batch changed the bytes (err %v)", seed, err)
		}
	}
}

func TestEncodeRefuses(t *testing.T) {
	enc, err := NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	bad := "ok\xffno"
	for _, tc := range []struct {
		name string
		b    *batch.Batch
		want string
	}{
		{"nil batch", nil, "nil batch"},
		{"agent id too long", &batch.Batch{AgentID: strings.Repeat("a", 256)}, "agent id is 256 bytes"},
		{"agent id not utf8", &batch.Batch{AgentID: bad}, "agent id is not valid UTF-8"},
		{"hostname not utf8", &batch.Batch{Heartbeat: &batch.Heartbeat{Hostname: bad}}, "heartbeat: hostname is not valid UTF-8"},
		{"heartbeat kind", &batch.Batch{Heartbeat: &batch.Heartbeat{Values: []batch.Scalar{{Kind: 3}}}}, "heartbeat: value 0: unknown kind 3"},
		{"series kind", &batch.Batch{Series: []batch.Series{{}, {Kind: 9}}}, "series 1: unknown kind 9"},
		{"label value not utf8", &batch.Batch{Series: []batch.Series{{Labels: batch.Labels{{Name: "a", Value: bad}}}}}, "series 0: label 0: label value is not valid UTF-8"},
		{"log message not utf8", &batch.Batch{Logs: []batch.LogRecord{{Message: bad}}}, "log 0: message is not valid UTF-8"},
		{"log attr not utf8", &batch.Batch{Logs: []batch.LogRecord{{Attrs: batch.Labels{{Name: bad}}}}}, "log 0: attribute 0: attribute name is not valid UTF-8"},
		{"alert severity", &batch.Batch{Alerts: []batch.Alert{{Severity: 3}}}, "alert 0: unknown severity 3"},
		{"alert message not utf8", &batch.Batch{Alerts: []batch.Alert{{Message: bad}}}, "alert 0: message is not valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := enc.Encode(tc.b)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestNewDecoderRefusesBadCaps(t *testing.T) {
	for _, tc := range []struct {
		field string
		v     int64
		ok    bool
	}{
		{"MaxEncodedBytes", 0, false}, {"MaxDecodedBytes", 0, false},
		{"MaxEncodedBytes", -1, false}, {"MaxDecodedBytes", -1, false},
		{"MaxSeries", -1, false}, {"MaxSamples", -1, false}, {"MaxLabels", -1, false},
		{"MaxStringBytes", -1, false}, {"MaxLogs", -1, false}, {"MaxAlerts", -1, false},
		{"MaxLogs", 0, true}, {"MaxAlerts", 0, true}, {"MaxLabels", 0, true},
	} {
		c := DefaultCaps()
		reflect.ValueOf(&c).Elem().FieldByName(tc.field).SetInt(tc.v)
		d, err := NewDecoder(c)
		if d != nil {
			d.Close()
		}
		if tc.ok != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s=%d: got %v, want ok=%v (errors naming the field)", tc.field, tc.v, err, tc.ok)
		}
	}
	var zero Caps
	if d, err := NewDecoder(zero); err == nil {
		d.Close()
		t.Error("the zero Caps must be refused: it would refuse every batch")
	}
}

func TestConcurrentUse(t *testing.T) {
	enc, dec := newPair(t, DefaultCaps())
	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			r := rand.New(rand.NewSource(seed))
			for i := 0; i < 20; i++ {
				b := randBatch(r)
				data, err := enc.Encode(b)
				if err != nil {
					errs <- err
					return
				}
				got, err := dec.Decode(data)
				if err != nil {
					errs <- err
					return
				}
				if !reflect.DeepEqual(withFloatBits(got), withFloatBits(canonical(b))) {
					errs <- fmt.Errorf("seed %d batch %d: round trip mismatch under concurrency", seed, i)
					return
				}
			}
		}(int64(w + 1000))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestCloseLeavesNoGoroutines: neither side may leave zstd workers behind.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	enc, err := NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	dec, err := NewDecoder(DefaultCaps())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		data, err := enc.Encode(hostBatch(int64(i), 2))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dec.Decode(data); err != nil {
			t.Fatal(err)
		}
	}
	enc.Close()
	dec.Close()
	for i := 0; runtime.NumGoroutine() > before; i++ {
		if i == 100 {
			t.Fatalf("%d goroutines after Close, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDecodeAfterCloseFails(t *testing.T) {
	enc, dec := newPair(t, DefaultCaps())
	data, err := enc.Encode(hostBatch(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	dec.Close()
	_, err = dec.Decode(data)
	if err == nil || errors.Is(err, ErrMalformed) {
		t.Fatalf("decode after close: got %v, want a non-malformed error", err)
	}
}

// TestCapsAreInclusive decodes a batch under caps set exactly to its own
// sizes, then lowers each cap by one and expects that cap, and only it, to
// be reported.
func TestCapsAreInclusive(t *testing.T) {
	b := hostBatch(3, 2)
	b.Logs = []batch.LogRecord{{Source: "syslog", Message: strings.Repeat("m", 300), Attrs: batch.Labels{{Name: "a", Value: "1"}}},
		{Source: "syslog", Message: "short"}}
	b.Alerts = []batch.Alert{{Name: "queue_dropped", Message: "x", Labels: batch.Labels{{Name: "a", Value: "1"}, {Name: "b", Value: "2"}, {Name: "c", Value: "3"}, {Name: "d", Value: "4"}}}}
	enc, err := NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	data, err := enc.Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	h, err := PeekHeader(data)
	if err != nil {
		t.Fatal(err)
	}
	exact := Caps{MaxEncodedBytes: len(data), MaxDecodedBytes: int(h.DecodedBytes), MaxSeries: b.SeriesCount(),
		MaxSamples: b.SampleCount(), MaxLabels: 4, MaxStringBytes: 300, MaxLogs: 2, MaxAlerts: 1}
	dec, err := NewDecoder(exact)
	if err != nil {
		t.Fatal(err)
	}
	got, err := dec.Decode(data)
	dec.Close()
	if err != nil {
		t.Fatalf("decode under exact caps: %v", err)
	}
	sameBatch(t, got, canonical(b))

	v := reflect.ValueOf(exact)
	for i := 0; i < v.NumField(); i++ {
		name := v.Type().Field(i).Name
		t.Run(name, func(t *testing.T) {
			c := exact
			f := reflect.ValueOf(&c).Elem().Field(i)
			f.SetInt(f.Int() - 1)
			dec, err := NewDecoder(c)
			if err != nil {
				t.Fatal(err)
			}
			defer dec.Close()
			_, err = dec.Decode(data)
			var ce *CapError
			if !errors.As(err, &ce) || ce.Cap != name || ce.Max != int(f.Int()) || ce.Value <= ce.Max {
				t.Fatalf("got %v, want a *CapError for %s with max %d", err, name, f.Int())
			}
		})
	}
}

// TestLowMemoryEncoderSameBytes: the agent's low-memory encoder must write
// exactly what the default one writes, or re-uploads would differ.
func TestLowMemoryEncoderSameBytes(t *testing.T) {
	def, err := NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	defer def.Close()
	low, err := NewEncoder(LowMemory())
	if err != nil {
		t.Fatal(err)
	}
	defer low.Close()
	rng := rand.New(rand.NewSource(34))
	for i := 0; i < 50; i++ {
		b := randBatch(rng)
		a, err1 := def.Encode(b)
		c, err2 := low.Encode(b)
		if err1 != nil || err2 != nil {
			t.Fatalf("encode: %v / %v", err1, err2)
		}
		if !bytes.Equal(a, c) {
			t.Fatalf("batch %d: low-memory encoder wrote different bytes", i)
		}
	}
}
