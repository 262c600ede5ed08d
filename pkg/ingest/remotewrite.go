package ingest

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/golang/snappy"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// Prometheus remote write 1.0 on POST /api/v1/write.
//
// A request is converted to one batch for the agent that owns the bearer
// token: each time series becomes a batch.Series named by its __name__
// label, with its other labels kept and the label agent=<agent id> added.
// A sender's own `agent` label is overwritten, because the token, not the
// sender, decides which agent data belongs to. Metadata and exemplars are
// ignored; native histograms are refused (422, limit "native_histograms")
// rather than silently dropped, so the sender's logs show why.
//
// The request is held to the same limits as an agent's batch. In particular
// a request with more than max_series_per_batch time series is refused with
// 422, and Prometheus drops a request it got a 4xx for, so set the sender's
// queue_config.max_samples_per_send at or below max_series_per_batch (one
// sample per series per request in the worst case).
//
// Remote write carries no sequence number. The first 8 bytes of the SHA-256
// of the decompressed body, with the top bit set, stand in for one, so a
// sender retrying the same request is stored once; the top bit keeps that
// identity apart from agents' sequence counters, which start at 1.
//
// Answers are 204 on success and for a duplicate, as senders expect.

// remoteWriteProto is the only protobuf message this endpoint speaks; a
// remote write 2.0 sender names another and is told 415 so it can fall back.
const remoteWriteProto = "prometheus.WriteRequest"

// errRemoteWriteMalformed is wrapped by every remote-write parse error that
// is the client's fault.
var errRemoteWriteMalformed = errors.New("malformed remote write request")

// rwLimitError is a remote-write request over one of the limits, found
// while parsing so that nothing is allocated for it.
type rwLimitError struct {
	key        string
	status     int
	value, max int
	msg        string
}

func (e *rwLimitError) Error() string { return e.msg }

// rwBounds bound what parsing a request may allocate.
type rwBounds struct {
	maxDecoded int // decompressed body bytes
	maxSeries  int // time series per request
	maxLabels  int // labels per series, __name__ excluded
	maxSamples int // samples per request
}

func (h *Handler) rwBounds() rwBounds {
	return rwBounds{
		maxDecoded: int(h.maxDecoded),
		maxSeries:  h.lim.MaxSeriesPerBatch,
		maxLabels:  h.lim.MaxLabelsPerSeries,
		maxSamples: h.maxSamples,
	}
}

// serveRemoteWrite handles POST /api/v1/write for an authenticated agent.
func (h *Handler) serveRemoteWrite(w http.ResponseWriter, r *http.Request, agentID string) (int, *refusal) {
	code, rf := h.serveRemoteWriteBody(w, r, agentID)
	if rf != nil {
		rf.agentID = agentID
	}
	return code, rf
}

func (h *Handler) serveRemoteWriteBody(w http.ResponseWriter, r *http.Request, agentID string) (int, *refusal) {
	if ce := r.Header.Get("Content-Encoding"); !equalFoldASCII(ce, "snappy") {
		return 0, &refusal{status: http.StatusUnsupportedMediaType, reason: reasonMalformed,
			msg: "remote write body must be snappy-compressed (Content-Encoding: snappy)"}
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if _, params, err := mime.ParseMediaType(ct); err == nil && params["proto"] != "" && params["proto"] != remoteWriteProto {
			return 0, &refusal{status: http.StatusUnsupportedMediaType, reason: reasonMalformed,
				msg: "only remote write 1.0 (proto=" + remoteWriteProto + ") is supported"}
		}
	}
	body, rf := h.readBody(w, r)
	if rf != nil {
		return 0, rf
	}
	b, err := decodeRemoteWrite(body, agentID, h.rwBounds())
	if err != nil {
		var le *rwLimitError
		if errors.As(err, &le) {
			if le.max == 0 {
				// A refused feature (native histograms), not a count.
				return 0, &refusal{status: le.status, reason: le.key, limit: le.key, msg: le.msg}
			}
			return 0, limitRefusal(le.status, le.key, le.value, le.max, le.msg)
		}
		return 0, &refusal{status: http.StatusBadRequest, reason: reasonMalformed, msg: err.Error()}
	}
	if len(b.Series) == 0 {
		// Metadata-only requests (Prometheus sends them on their own) and
		// requests of empty series carry nothing to store.
		w.WriteHeader(http.StatusNoContent)
		return http.StatusNoContent, nil
	}
	ctx := r.Context()
	if h.dup != nil {
		if ok, err := h.dup.Durable(ctx, agentID, b.Seq); err == nil && ok {
			h.m.batches.WithLabelValues("duplicate").Inc()
			w.WriteHeader(http.StatusNoContent)
			return http.StatusNoContent, nil
		}
	}
	if err := h.lim.Validate(b); err != nil {
		return 0, validateRefusal(err)
	}
	now := h.now()
	b.CreatedNs = now.UnixNano()
	data, err := h.enc.Encode(b)
	if err != nil {
		return 0, &refusal{status: http.StatusInternalServerError, reason: "internal", msg: fmt.Sprintf("encoding remote write batch: %v", err)}
	}
	if int64(len(data)) > h.maxBody {
		// The spool holds only bodies an agent could have sent.
		return 0, limitRefusal(http.StatusRequestEntityTooLarge, "max_body_bytes", len(data), int(h.maxBody),
			fmt.Sprintf("remote write request encodes to %d bytes, over max_body_bytes %d", len(data), h.maxBody))
	}
	if _, rf := h.store(ctx, Record{
		AgentID:    agentID,
		Seq:        b.Seq,
		Kind:       KindRemoteWrite,
		Data:       data,
		Batch:      b,
		ReceivedNs: now.UnixNano(),
	}); rf != nil {
		return 0, rf
	}
	w.WriteHeader(http.StatusNoContent)
	return http.StatusNoContent, nil
}

// decodeRemoteWrite snappy-decodes a remote-write body and converts the
// WriteRequest in it to a batch for agentID, with Seq set to the request's
// content identity. The decoded length is checked against the bound before
// anything is allocated for it.
func decodeRemoteWrite(body []byte, agentID string, bd rwBounds) (*batch.Batch, error) {
	n, err := snappy.DecodedLen(body)
	if err != nil {
		return nil, fmt.Errorf("%w: snappy: %v", errRemoteWriteMalformed, err)
	}
	if n > bd.maxDecoded {
		return nil, &rwLimitError{key: "max_decoded_bytes", status: http.StatusRequestEntityTooLarge, value: n, max: bd.maxDecoded,
			msg: fmt.Sprintf("remote write body decompresses to %d bytes, over max_decoded_bytes %d", n, bd.maxDecoded)}
	}
	pb, err := snappy.Decode(make([]byte, n), body)
	if err != nil {
		return nil, fmt.Errorf("%w: snappy: %v", errRemoteWriteMalformed, err)
	}
	b, err := parseWriteRequest(pb, agentID, bd)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(pb)
	b.Seq = binary.BigEndian.Uint64(sum[:8]) | 1<<63
	return b, nil
}

// Field numbers of the remote write 1.0 messages (prompb).
const (
	fieldWriteTimeseries = 1 // WriteRequest.timeseries
	fieldSeriesLabels    = 1 // TimeSeries.labels
	fieldSeriesSamples   = 2 // TimeSeries.samples
	fieldSeriesExemplars = 3 // TimeSeries.exemplars (ignored)
	fieldSeriesHisto     = 4 // TimeSeries.histograms (refused)
	fieldLabelName       = 1
	fieldLabelValue      = 2
	fieldSampleValue     = 1
	fieldSampleTimestamp = 2
)

// parseWriteRequest reads a prompb.WriteRequest straight into a batch. It
// walks the protobuf wire format itself, rather than unmarshalling into
// prompb types first, so that every count is checked against its limit
// before the slice for it is allocated, exemplars and metadata cost nothing,
// and no intermediate copy of the request is built. FuzzRemoteWriteBody
// checks it against prompb's own Unmarshal.
func parseWriteRequest(pb []byte, agentID string, bd rwBounds) (*batch.Batch, error) {
	nSeries, err := countFields(pb, fieldWriteTimeseries, nil)
	if err != nil {
		return nil, err
	}
	if nSeries > bd.maxSeries {
		return nil, &rwLimitError{key: "max_series_per_batch", status: http.StatusUnprocessableEntity, value: nSeries, max: bd.maxSeries,
			msg: fmt.Sprintf("max_series_per_batch: remote write request has %d series, limit %d (lower the sender's max_samples_per_send)", nSeries, bd.maxSeries)}
	}
	b := &batch.Batch{AgentID: agentID, Series: make([]batch.Series, 0, nSeries)}
	p := rwParser{bd: bd, agentID: agentID, intern: make(map[string]string)}
	for rest, i := pb, 0; len(rest) > 0; {
		num, typ, n := protowire.ConsumeTag(rest)
		rest = rest[n:] // countFields has walked this buffer: n > 0
		if num != fieldWriteTimeseries {
			rest = rest[protowire.ConsumeFieldValue(num, typ, rest):]
			continue
		}
		v, n := protowire.ConsumeBytes(rest)
		rest = rest[n:]
		s, err := p.series(v, i)
		if err != nil {
			return nil, err
		}
		if len(s.Samples) > 0 {
			b.Series = append(b.Series, s)
		}
		i++
	}
	return b, nil
}

// countFields walks one message, checks every field is well formed and
// that field want is length-delimited, and counts the occurrences of want.
// more, when not nil, is called for every other field number to count or
// check it too.
func countFields(msg []byte, want protowire.Number, more func(num protowire.Number, typ protowire.Type) error) (int, error) {
	count := 0
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return 0, fmt.Errorf("%w: %v", errRemoteWriteMalformed, protowire.ParseError(n))
		}
		msg = msg[n:]
		switch {
		case num == want:
			if typ != protowire.BytesType {
				return 0, fmt.Errorf("%w: field %d has wire type %d, want length-delimited", errRemoteWriteMalformed, num, typ)
			}
			count++
		case more != nil:
			if err := more(num, typ); err != nil {
				return 0, err
			}
		}
		n = protowire.ConsumeFieldValue(num, typ, msg)
		if n < 0 {
			return 0, fmt.Errorf("%w: field %d: %v", errRemoteWriteMalformed, num, protowire.ParseError(n))
		}
		msg = msg[n:]
	}
	return count, nil
}

// rwParser holds what is shared across the series of one request.
type rwParser struct {
	bd      rwBounds
	agentID string
	samples int // so far in this request
	// intern shares the strings repeated across series (label names,
	// job/instance values), which is most of them in a real request.
	intern map[string]string
	// Slabs the series' label and sample slices are carved from.
	labelSlab  batch.Labels
	sampleSlab []batch.Sample
}

// slabSize is how many labels or samples one shared allocation holds.
// A request's series are mostly small, and carving their slices out of a
// few slabs saves an allocation per slice.
const slabSize = 4096

// labels returns an empty slice with capacity n, carved from a slab. The
// capacity is exact, so appending past n can never write into a
// neighbour's labels.
func (p *rwParser) labels(n int) batch.Labels {
	if n > slabSize/4 {
		return make(batch.Labels, 0, n)
	}
	if cap(p.labelSlab)-len(p.labelSlab) < n {
		p.labelSlab = make(batch.Labels, 0, slabSize)
	}
	l := len(p.labelSlab)
	p.labelSlab = p.labelSlab[:l+n]
	return p.labelSlab[l : l : l+n]
}

// sampleSlice is what labels is, for samples.
func (p *rwParser) sampleSlice(n int) []batch.Sample {
	if n > slabSize/4 {
		return make([]batch.Sample, 0, n)
	}
	if cap(p.sampleSlab)-len(p.sampleSlab) < n {
		p.sampleSlab = make([]batch.Sample, 0, slabSize)
	}
	l := len(p.sampleSlab)
	p.sampleSlab = p.sampleSlab[:l+n]
	return p.sampleSlab[l : l : l+n]
}

// maxInterned bounds the intern table: past it strings are simply copied.
const maxInterned = 1 << 14

func (p *rwParser) str(b []byte) string {
	if s, ok := p.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(p.intern) < maxInterned {
		p.intern[s] = s
	}
	return s
}

// series converts one TimeSeries; i numbers it in error messages.
func (p *rwParser) series(msg []byte, i int) (batch.Series, error) {
	nSamples := 0
	nLabels, err := countFields(msg, fieldSeriesLabels, func(num protowire.Number, typ protowire.Type) error {
		switch num {
		case fieldSeriesSamples, fieldSeriesExemplars, fieldSeriesHisto:
			if typ != protowire.BytesType {
				return fmt.Errorf("%w: series #%d: field %d has wire type %d, want length-delimited", errRemoteWriteMalformed, i, num, typ)
			}
		}
		switch num {
		case fieldSeriesSamples:
			nSamples++
		case fieldSeriesHisto:
			return &rwLimitError{key: "native_histograms", status: http.StatusUnprocessableEntity,
				msg: fmt.Sprintf("native_histograms: remote write series #%d carries native histograms, which are not supported; stop sending them (send_native_histograms: false)", i)}
		}
		return nil
	})
	if err != nil {
		return batch.Series{}, err
	}
	// __name__ does not count against max_labels_per_series; the agent
	// label we add does, which limits.Validate checks on the result.
	if nLabels-1 > p.bd.maxLabels {
		return batch.Series{}, &rwLimitError{key: "max_labels_per_series", status: http.StatusUnprocessableEntity, value: nLabels - 1, max: p.bd.maxLabels,
			msg: fmt.Sprintf("max_labels_per_series: remote write series #%d has %d labels besides __name__, limit %d", i, nLabels-1, p.bd.maxLabels)}
	}
	p.samples += nSamples
	if p.samples > p.bd.maxSamples {
		return batch.Series{}, &rwLimitError{key: "max_decoded_bytes", status: http.StatusRequestEntityTooLarge, value: p.samples, max: p.bd.maxSamples,
			msg: fmt.Sprintf("max_decoded_bytes: remote write request has over %d samples, the most max_decoded_bytes allows", p.bd.maxSamples)}
	}

	s := batch.Series{Labels: p.labels(nLabels + 1), Samples: p.sampleSlice(nSamples)}
	hasName := false
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		msg = msg[n:]
		if num != fieldSeriesLabels && num != fieldSeriesSamples {
			msg = msg[protowire.ConsumeFieldValue(num, typ, msg):]
			continue
		}
		v, n := protowire.ConsumeBytes(msg)
		msg = msg[n:]
		if num == fieldSeriesSamples {
			smp, err := parseSample(v)
			if err != nil {
				return batch.Series{}, fmt.Errorf("series #%d: %w", i, err)
			}
			s.Samples = append(s.Samples, smp)
			continue
		}
		name, value, err := parseLabel(v)
		if err != nil {
			return batch.Series{}, fmt.Errorf("series #%d: %w", i, err)
		}
		switch {
		case string(name) == "__name__":
			if hasName {
				return batch.Series{}, fmt.Errorf("%w: series #%d: duplicate label __name__", errRemoteWriteMalformed, i)
			}
			hasName = true
			s.Name = p.str(value)
		case string(name) == "agent" || len(value) == 0:
			// agent is the token's to set; an empty value means the label
			// is absent, as in Prometheus.
		default:
			s.Labels = append(s.Labels, batch.Label{Name: p.str(name), Value: p.str(value)})
		}
	}
	if s.Name == "" {
		return batch.Series{}, fmt.Errorf("%w: series #%d has no __name__ label", errRemoteWriteMalformed, i)
	}
	s.Labels = append(s.Labels, batch.Label{Name: "agent", Value: p.agentID})
	slices.SortFunc(s.Labels, func(a, b batch.Label) int { return strings.Compare(a.Name, b.Name) })
	for j := 1; j < len(s.Labels); j++ {
		if s.Labels[j].Name == s.Labels[j-1].Name {
			return batch.Series{}, fmt.Errorf("%w: series %q: duplicate label %q", errRemoteWriteMalformed, s.Name, s.Labels[j].Name)
		}
	}
	return s, nil
}

// parseLabel reads a prompb.Label. Names and values must be UTF-8, as
// Prometheus requires; a name must not be empty.
func parseLabel(msg []byte) (name, value []byte, err error) {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return nil, nil, fmt.Errorf("%w: label: %v", errRemoteWriteMalformed, protowire.ParseError(n))
		}
		msg = msg[n:]
		if num == fieldLabelName || num == fieldLabelValue {
			if typ != protowire.BytesType {
				return nil, nil, fmt.Errorf("%w: label field %d has wire type %d, want length-delimited", errRemoteWriteMalformed, num, typ)
			}
			v, n := protowire.ConsumeBytes(msg)
			if n < 0 {
				return nil, nil, fmt.Errorf("%w: label: %v", errRemoteWriteMalformed, protowire.ParseError(n))
			}
			msg = msg[n:]
			if num == fieldLabelName {
				name = v
			} else {
				value = v
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, msg)
		if n < 0 {
			return nil, nil, fmt.Errorf("%w: label: %v", errRemoteWriteMalformed, protowire.ParseError(n))
		}
		msg = msg[n:]
	}
	switch {
	case len(name) == 0:
		return nil, nil, fmt.Errorf("%w: label with an empty name", errRemoteWriteMalformed)
	case !utf8.Valid(name):
		return nil, nil, fmt.Errorf("%w: label name is not valid UTF-8", errRemoteWriteMalformed)
	case !utf8.Valid(value):
		return nil, nil, fmt.Errorf("%w: value of label %q is not valid UTF-8", errRemoteWriteMalformed, name)
	}
	return name, value, nil
}

// parseSample reads a prompb.Sample: a double value and an int64
// millisecond timestamp.
func parseSample(msg []byte) (batch.Sample, error) {
	var s batch.Sample
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return s, fmt.Errorf("%w: sample: %v", errRemoteWriteMalformed, protowire.ParseError(n))
		}
		msg = msg[n:]
		switch {
		case num == fieldSampleValue && typ == protowire.Fixed64Type:
			v, n := protowire.ConsumeFixed64(msg)
			if n < 0 {
				return s, fmt.Errorf("%w: sample value: %v", errRemoteWriteMalformed, protowire.ParseError(n))
			}
			s.Value = math.Float64frombits(v)
			msg = msg[n:]
		case num == fieldSampleTimestamp && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(msg)
			if n < 0 {
				return s, fmt.Errorf("%w: sample timestamp: %v", errRemoteWriteMalformed, protowire.ParseError(n))
			}
			s.TimestampMs = int64(v)
			msg = msg[n:]
		case num == fieldSampleValue || num == fieldSampleTimestamp:
			return s, fmt.Errorf("%w: sample field %d has wire type %d", errRemoteWriteMalformed, num, typ)
		default:
			n = protowire.ConsumeFieldValue(num, typ, msg)
			if n < 0 {
				return s, fmt.Errorf("%w: sample: %v", errRemoteWriteMalformed, protowire.ParseError(n))
			}
			msg = msg[n:]
		}
	}
	return s, nil
}
