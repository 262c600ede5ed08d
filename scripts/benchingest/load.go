package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/golang/snappy"

	"github.com/lightmetrics/lightmetrics/pkg/codec"

	"github.com/lightmetrics/lightmetrics/scripts/benchutil"
)

// Targets the load generator speaks.
const (
	targetLightmetrics = "lightmetrics" // POST /v1/batches, codec bodies, JSON acks
	targetRemoteWrite  = "remote-write" // Prometheus remote write 1.0
)

// agentCred is one simulated agent's identity and, when the receiver
// authenticates, its bearer token.
type agentCred struct {
	ID    string
	Token string
	// SeqBase is added to every sequence number, for simulated agents that
	// share one agent id.
	SeqBase uint64
}

// loadConfig is one run of the load generator.
type loadConfig struct {
	Target     string
	URL        string
	Label      string
	Agents     []agentCred
	Gen        benchutil.GenOptions
	MaxPerSend int
	Duration   time.Duration
	Warmup     time.Duration
	Timeout    time.Duration
	TLS        *tls.Config
	HTTP1      bool
	ServerPID  string
	// Rate paces the agents to this many batches per second in all; 0
	// is a closed loop.
	Rate float64
}

// agentStats is what one simulated agent counted inside the measured
// window. Each agent has its own, so the hot path takes no locks.
type agentStats struct {
	lat        histogram
	requests   uint64
	batches    uint64
	samples    uint64
	samplesAll uint64 // acknowledged at any time, warm-up included
	duplicates uint64
	bytesSent  uint64
	errors     map[string]uint64
	errSample  map[string]string
	lastDone   time.Time
	err        error // setup failure that stopped the agent
}

func (s *agentStats) fail(key, detail string) {
	if s.errors == nil {
		s.errors, s.errSample = map[string]uint64{}, map[string]string{}
	}
	s.errors[key]++
	if _, ok := s.errSample[key]; !ok {
		s.errSample[key] = detail
	}
}

// sender posts one agent's batches.
type sender struct {
	cfg    *loadConfig
	cred   agentCred
	client *http.Client
	enc    *codec.Encoder
	gen    *benchutil.HostGen
	plan   *rwPlan // remote-write only
	// interval is the pacing of this agent's batches (0: closed loop);
	// offset spreads the agents' schedules over one interval.
	interval, offset time.Duration
}

// runLoad runs one sender per cfg.Agents entry until the warm-up plus
// cfg.Duration is over: each posts a batch, waits for its answer, and posts
// the next at once (closed loop) or when it is due (cfg.Rate). Only requests
// started after the warm-up count, and the window lasts until the last of
// them is answered.
func runLoad(ctx context.Context, cfg *loadConfig) (*summary, error) {
	enc, err := codec.NewEncoder()
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	defer enc.Close()

	senders := make([]*sender, len(cfg.Agents))
	for i, cred := range cfg.Agents {
		gen := cfg.Gen
		gen.FirstSeq += cred.SeqBase
		g, err := benchutil.NewHostGen(cred.ID, i, gen)
		if err != nil {
			return nil, fmt.Errorf("load: agent %s: %w", cred.ID, err)
		}
		s := &sender{cfg: cfg, cred: cred, enc: enc, gen: g, client: newClient(cfg)}
		if cfg.Rate > 0 {
			s.interval = time.Duration(float64(len(cfg.Agents)) / cfg.Rate * float64(time.Second))
			s.offset = s.interval * time.Duration(i) / time.Duration(len(cfg.Agents))
		}
		if cfg.Target == targetRemoteWrite {
			if s.plan, err = newRWPlan(g, cred.ID, cfg.MaxPerSend); err != nil {
				return nil, fmt.Errorf("load: agent %s: %w", cred.ID, err)
			}
		}
		senders[i] = s
	}
	defer func() {
		for _, s := range senders {
			s.client.CloseIdleConnections()
		}
	}()

	start := time.Now()
	measureFrom := start.Add(cfg.Warmup)
	stopAt := measureFrom.Add(cfg.Duration)
	// Requests still in flight at stopAt may take up to one timeout more;
	// past that the run is cut, so it is bounded whatever the server does.
	runCtx, cancel := context.WithDeadline(ctx, stopAt.Add(cfg.Timeout+time.Second))
	defer cancel()

	var cpu0, srv0, host0 time.Duration
	var cpuErr, srvErr, hostErr error
	var sampled sync.Once
	sampleStart := func() {
		cpu0, cpuErr = benchutil.CPUTime("self")
		host0, hostErr = benchutil.HostBusy()
		if cfg.ServerPID != "" {
			srv0, srvErr = benchutil.CPUTime(cfg.ServerPID)
		}
	}
	// Sample CPU at the start of the measured window, not of the run.
	timer := time.AfterFunc(cfg.Warmup, func() { sampled.Do(sampleStart) })
	defer timer.Stop()

	stats := make([]agentStats, len(senders))
	var wg sync.WaitGroup
	for i, s := range senders {
		wg.Go(func() { s.loop(runCtx, &stats[i], start, measureFrom, stopAt) })
	}
	wg.Wait()
	sampled.Do(sampleStart) // a run shorter than its warm-up
	cpu1, cpuErr1 := benchutil.CPUTime("self")
	host1, hostErr1 := benchutil.HostBusy()

	sum := &summary{
		System:             cfg.Label,
		Target:             cfg.Target,
		URL:                cfg.URL,
		Agents:             len(senders),
		SeriesPerBatch:     cfg.Gen.SeriesPerBatch,
		SamplesPerSeries:   cfg.Gen.SamplesPerSeries,
		SamplesPerBatch:    cfg.Gen.SeriesPerBatch * cfg.Gen.SamplesPerSeries,
		OfferedBatchesPerS: cfg.Rate,
		DurationS:          cfg.Duration.Seconds(),
		WarmupS:            cfg.Warmup.Seconds(),
		Errors:             map[string]uint64{},
	}
	if cfg.Target == targetRemoteWrite && len(senders) > 0 {
		sum.MaxSamplesPerSend = cfg.MaxPerSend
		sum.RequestsPerBatch = len(senders[0].plan.reqs)
	} else {
		sum.RequestsPerBatch = 1
	}
	var lat histogram
	end := stopAt
	for i := range stats {
		st := &stats[i]
		if st.err != nil {
			return nil, fmt.Errorf("load: agent %s: %w", senders[i].cred.ID, st.err)
		}
		lat.merge(&st.lat)
		sum.Requests += st.requests
		sum.Batches += st.batches
		sum.Samples += st.samples
		sum.SamplesAckedTotal += st.samplesAll
		sum.Duplicates += st.duplicates
		sum.BytesSent += st.bytesSent
		for k, v := range st.errors {
			sum.Errors[k] += v
			sum.ErrorRequests += v
			if sum.errSample == nil {
				sum.errSample = map[string]string{}
			}
			if _, ok := sum.errSample[k]; !ok {
				sum.errSample[k] = st.errSample[k]
			}
		}
		if st.lastDone.After(end) {
			end = st.lastDone
		}
	}
	elapsed := end.Sub(measureFrom)
	sum.ElapsedS = elapsed.Seconds()
	if elapsed > 0 {
		sum.SamplesPerS = float64(sum.Samples) / elapsed.Seconds()
		sum.BatchesPerS = float64(sum.Batches) / elapsed.Seconds()
		sum.RequestsPerS = float64(sum.Requests) / elapsed.Seconds()
	}
	if sum.Samples > 0 {
		sum.BytesPerSample = float64(sum.BytesSent) / float64(sum.Samples)
	}
	sum.Latency = latencySummary{
		P50: ms(lat.quantile(0.50)), P90: ms(lat.quantile(0.90)), P99: ms(lat.quantile(0.99)),
		Max: ms(time.Duration(lat.maxNs)), Mean: ms(lat.mean()),
	}
	if cpuErr == nil && cpuErr1 == nil && elapsed > 0 {
		sum.ClientCPUCores = (cpu1 - cpu0).Seconds() / elapsed.Seconds()
	}
	if hostErr == nil && hostErr1 == nil && elapsed > 0 {
		sum.HostBusyCores = (host1 - host0).Seconds() / elapsed.Seconds()
	}
	if cfg.ServerPID != "" {
		srv1, err := benchutil.CPUTime(cfg.ServerPID)
		if err = errors.Join(srvErr, err); err != nil {
			return nil, fmt.Errorf("load: server pid: %w", err)
		}
		cpu := (srv1 - srv0).Seconds()
		sum.ServerCPUCores = cpu / elapsed.Seconds()
		if sum.Samples > 0 {
			sum.ServerCPUUsPerSample = cpu * 1e6 / float64(sum.Samples)
		}
		if rss, err := benchutil.StatusBytes(cfg.ServerPID, "VmHWM"); err == nil {
			sum.ServerPeakRSSMiB = float64(rss) / (1 << 20)
		}
	}
	if sum.HostBusyCores > 0 {
		sum.OtherCPUCores = max(0, sum.HostBusyCores-sum.ClientCPUCores-sum.ServerCPUCores)
	}
	return sum, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// newClient gives every simulated agent its own transport, hence its own
// keep-alive connection, as real agents on separate hosts have.
func newClient(cfg *loadConfig) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{KeepAlive: 30 * time.Second, Timeout: cfg.Timeout}).DialContext,
		TLSClientConfig:     cfg.TLS.Clone(),
		ForceAttemptHTTP2:   !cfg.HTTP1,
		MaxIdleConns:        2,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: cfg.Timeout,
		DisableCompression:  true,
	}
	if cfg.HTTP1 {
		// A non-nil empty map turns HTTP/2 off.
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// loop is one simulated agent: generate, send, repeat until stopAt. In
// closed loop (interval 0) the next batch goes as soon as the previous one is
// answered. Paced, batch k is due at start+offset+k*interval; a batch that
// could not go on time because the previous answer was late has its latency
// counted from when it was due (plus its encoding time), so a slow server
// cannot hide its backlog by slowing the senders down.
func (s *sender) loop(ctx context.Context, st *agentStats, start, measureFrom, stopAt time.Time) {
	due := start.Add(s.offset)
	for ctx.Err() == nil {
		if s.interval > 0 && !due.Before(stopAt) || s.interval == 0 && !time.Now().Before(stopAt) {
			return
		}
		built := time.Now()
		b := s.gen.Next(built.UnixNano())
		var bodies [][]byte
		if s.cfg.Target == targetRemoteWrite {
			s.plan.fill(b)
			for r := range s.plan.reqs {
				pb, err := s.plan.marshal(r)
				if err != nil {
					st.err = err
					return
				}
				bodies = append(bodies, snappy.Encode(nil, pb))
			}
		} else {
			data, err := s.enc.Encode(b)
			if err != nil {
				st.err = fmt.Errorf("encode batch %d: %w", b.Seq, err)
				return
			}
			bodies = [][]byte{data}
		}
		var readyAt time.Time // paced: when an agent on schedule would have had this batch ready
		if s.interval > 0 {
			readyAt = due.Add(time.Since(built))
			if wait := time.Until(due); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
			due = due.Add(s.interval)
		}
		// A batch counts when its first request started inside the window
		// and all its requests were acknowledged.
		okAll, batchMeasured := true, true
		for r, body := range bodies {
			began := time.Now()
			if r == 0 && s.interval > 0 && readyAt.Before(began) {
				began = readyAt
			}
			res := s.post(ctx, body)
			done := time.Now()
			okAll = okAll && res.ok
			if res.ok && !res.duplicate {
				st.samplesAll += uint64(s.samplesIn(r, b.SampleCount()))
			}
			if began.Before(measureFrom) {
				if r == 0 {
					batchMeasured = false
				}
			} else {
				st.requests++
				st.lastDone = done
				st.lat.record(done.Sub(began))
				st.bytesSent += uint64(len(body))
				switch {
				case !res.ok:
					st.fail(res.key, res.detail)
				case res.duplicate:
					st.duplicates++
				default:
					st.samples += uint64(s.samplesIn(r, b.SampleCount()))
				}
			}
			if !res.ok && res.backoff > 0 {
				// Closed loop, but not a busy loop against a refusing server.
				select {
				case <-ctx.Done():
				case <-time.After(res.backoff):
				}
			}
		}
		if okAll && batchMeasured {
			st.batches++
		}
	}
}

// samplesIn is the number of samples in request r of a batch.
func (s *sender) samplesIn(r, batchSamples int) int {
	if s.plan != nil {
		return s.plan.reqs[r].n
	}
	return batchSamples
}

// postResult is how one request went.
type postResult struct {
	ok        bool
	duplicate bool
	key       string // error class: HTTP status code, "transport", "timeout", "bad_ack"
	detail    string // first words of the answer, for the first error of a class
	backoff   time.Duration
}

// maxAnswerBytes bounds what is read of an answer: acks are tiny.
const maxAnswerBytes = 64 << 10

func (s *sender) post(ctx context.Context, body []byte) postResult {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return postResult{key: "request", detail: err.Error(), backoff: time.Second}
	}
	if s.cfg.Target == targetRemoteWrite {
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Content-Encoding", "snappy")
		req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	} else {
		req.Header.Set("Content-Type", codec.ContentType)
		req.Header.Set("Accept", "application/json")
	}
	req.Header.Set("User-Agent", "lightmetrics-benchingest")
	if s.cred.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.cred.Token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		key := "transport"
		if errors.Is(err, context.DeadlineExceeded) {
			key = "timeout"
		}
		// url.Error names the method and URL only, never the headers.
		return postResult{key: key, detail: err.Error(), backoff: 100 * time.Millisecond}
	}
	answer, readErr := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	resp.Body.Close()
	if readErr != nil {
		return postResult{key: "transport", detail: "read answer: " + readErr.Error(), backoff: 100 * time.Millisecond}
	}
	if resp.StatusCode/100 != 2 {
		r := postResult{key: strconv.Itoa(resp.StatusCode), detail: firstLine(answer)}
		if resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests {
			r.backoff = retryAfter(resp.Header.Get("Retry-After"))
		}
		return r
	}
	if s.cfg.Target == targetRemoteWrite {
		return postResult{ok: true}
	}
	var ack struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(answer, &ack); err != nil {
		return postResult{key: "bad_ack", detail: "decode ack: " + err.Error()}
	}
	switch ack.Status {
	case "accepted":
		return postResult{ok: true}
	case "duplicate":
		return postResult{ok: true, duplicate: true}
	default:
		return postResult{key: "bad_ack", detail: "ack status " + strconv.Quote(ack.Status)}
	}
}

// retryAfter reads a Retry-After in seconds, bounded to [100 ms, 2 s] so a
// refusing server slows the run down without stalling it.
func retryAfter(v string) time.Duration {
	d := 100 * time.Millisecond
	if n, err := strconv.Atoi(v); err == nil {
		d = time.Duration(n) * time.Second
	}
	return min(max(d, 100*time.Millisecond), 2*time.Second)
}

// firstLine returns the start of an error answer, on one line.
func firstLine(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	if len(b) > 200 {
		b = b[:200]
	}
	return string(bytes.ToValidUTF8(b, []byte("?")))
}
