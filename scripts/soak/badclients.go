package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
	"github.com/lightmetrics/lightmetrics/pkg/codec"
	"github.com/lightmetrics/lightmetrics/pkg/uplink"
)

// slowLimits is how long a slow client may hold a connection before the
// soak calls it not cut off: the collector's read timeouts plus slack.
var slowLimits = map[string]time.Duration{
	"silent": readHeaderTimeoutMs*time.Millisecond + 10*time.Second,
	"header": readHeaderTimeoutMs*time.Millisecond + 10*time.Second,
	"body":   readTimeoutMs*time.Millisecond + 10*time.Second,
}

// badStats collects what the slow and garbage clients saw.
type badStats struct {
	mu sync.Mutex
	// slow: per mode, how long the collector took to cut the connection
	slowCut    map[string][]time.Duration
	slowNotCut []string
	slowDown   int // collector not reachable when the client started
	// garbage: per case, answers by status ("no answer" when none)
	garbage    map[string]map[string]int
	accepted   []string // garbage answered 2xx: a failure
	unexpected []string // answers outside what the case expects (first few)
	junkSeq    uint64
}

func newBadStats() *badStats {
	return &badStats{slowCut: map[string][]time.Duration{}, garbage: map[string]map[string]int{}, junkSeq: 1 << 40}
}

func (b *badStats) nextJunkSeq() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.junkSeq++
	return b.junkSeq
}

// slowClient opens a TLS connection to addr and dribbles a request one byte
// a second: "silent" completes the TLS handshake and sends nothing,
// "header" sends the request head slowly, "body" sends the head at once
// and the body slowly. It measures when the collector cuts it off.
func (b *badStats) slowClient(ctx context.Context, addr, token string, mode string, tlsCfg *tls.Config) {
	limit := slowLimits[mode]
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, tlsCfg)
	if err != nil {
		b.mu.Lock()
		b.slowDown++
		b.mu.Unlock()
		return
	}
	defer conn.Close()
	start := time.Now()
	closed := make(chan struct{})
	go func() {
		// Any answer or EOF means the collector gave up on us.
		_, _ = io.Copy(io.Discard, conn)
		close(closed)
	}()
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: 4096\r\n\r\n",
		uplink.BatchPath, addr, token, uplink.ContentType)
	var slow []byte
	switch mode {
	case "header":
		slow = []byte(head)
	case "body":
		if _, err := conn.Write([]byte(head)); err != nil {
			b.noteSlow(mode, time.Since(start), true, addr)
			return
		}
		slow = bytes.Repeat([]byte{'x'}, 4096)
	}
	hard := time.NewTimer(limit + 30*time.Second)
	defer hard.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 0; ; {
		select {
		case <-closed:
			b.noteSlow(mode, time.Since(start), true, addr)
			return
		case <-hard.C:
			b.noteSlow(mode, time.Since(start), false, addr)
			return
		case <-ctx.Done():
			return
		case <-tick.C:
			if i < len(slow) {
				_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if _, err := conn.Write(slow[i : i+1]); err != nil {
					b.noteSlow(mode, time.Since(start), true, addr)
					return
				}
				i++
			}
		}
	}
}

func (b *badStats) noteSlow(mode string, took time.Duration, cut bool, addr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if cut && took <= slowLimits[mode] {
		b.slowCut[mode] = append(b.slowCut[mode], took)
		return
	}
	b.slowNotCut = append(b.slowNotCut, fmt.Sprintf("%s slow client on %s still connected after %s (limit %s)", mode, addr, took.Round(time.Second), slowLimits[mode]))
}

// garbageCase is one kind of bad upload and the answers it may get.
type garbageCase struct {
	name string
	want []string // acceptable answers: a status code or "closed"
	// send returns the status ("closed" when the collector just closed or
	// answered outside HTTP), or an error when the collector was unreachable.
	send func(ctx context.Context, g *garbageTarget) (string, error)
}

// garbageTarget is one collector as the garbage clients see it.
type garbageTarget struct {
	name, addr string
	tlsCfg     *tls.Config
	junkToken  string
	peer       string // an agent of this collector, for the forbidden case
	enc        *codec.Encoder
	b          *badStats
}

func (g *garbageTarget) junkBatch(agent string) ([]byte, error) {
	now := time.Now()
	return g.enc.Encode(&batch.Batch{AgentID: agent, Seq: g.b.nextJunkSeq(), CreatedNs: now.UnixNano(),
		Heartbeat: &batch.Heartbeat{TimestampMs: now.UnixMilli(), Hostname: "junk", AgentVersion: "soak",
			Values: []batch.Scalar{{Name: "host_uptime_seconds", Kind: batch.KindGauge, Value: 1}}}})
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// post sends one request on a fresh connection and returns its status.
func (g *garbageTarget) post(ctx context.Context, token string, body []byte) (string, error) {
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: g.tlsCfg, DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+g.addr+uplink.BatchPath, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", uplink.ContentType)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return "", err // the collector is down (a kill fault)
		}
		return "closed", nil
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return fmt.Sprint(resp.StatusCode), nil
}

// raw writes payload on a fresh connection (TLS or not) and reads the
// first line of whatever comes back.
func (g *garbageTarget) raw(ctx context.Context, useTLS bool, payload []byte) (string, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	var conn net.Conn
	var err error
	if useTLS {
		conn, err = tls.DialWithDialer(d, "tcp", g.addr, g.tlsCfg)
	} else {
		conn, err = d.DialContext(ctx, "tcp", g.addr)
	}
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := conn.Write(payload); err != nil {
		return "closed", nil
	}
	line := make([]byte, 64)
	n, _ := io.ReadAtLeast(conn, line, 12)
	if f := strings.Fields(string(line[:n])); len(f) >= 2 && strings.HasPrefix(f[0], "HTTP/") {
		return f[1], nil
	}
	return "closed", nil
}

var garbageCases = []garbageCase{
	{name: "plain HTTP to the TLS port", want: []string{"400", "closed"}, send: func(ctx context.Context, g *garbageTarget) (string, error) {
		return g.raw(ctx, false, []byte("POST /v1/batches HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"))
	}},
	{name: "random bytes over TLS", want: []string{"400", "closed"}, send: func(ctx context.Context, g *garbageTarget) (string, error) {
		return g.raw(ctx, true, randomBytes(4096))
	}},
	{name: "random body", want: []string{"400"}, send: func(ctx context.Context, g *garbageTarget) (string, error) {
		return g.post(ctx, g.junkToken, randomBytes(2048))
	}},
	{name: "empty body", want: []string{"400"}, send: func(ctx context.Context, g *garbageTarget) (string, error) {
		return g.post(ctx, g.junkToken, nil)
	}},
	{name: "truncated batch", want: []string{"400"}, send: func(ctx context.Context, g *garbageTarget) (string, error) {
		data, err := g.junkBatch(junkID)
		if err != nil {
			return "", err
		}
		return g.post(ctx, g.junkToken, data[:len(data)/2])
	}},
	{name: "wrong token", want: []string{"401"}, send: func(ctx context.Context, g *garbageTarget) (string, error) {
		data, err := g.junkBatch(junkID)
		if err != nil {
			return "", err
		}
		return g.post(ctx, randomToken(), data)
	}},
	{name: "another agent's batch", want: []string{"403"}, send: func(ctx context.Context, g *garbageTarget) (string, error) {
		data, err := g.junkBatch(g.peer)
		if err != nil {
			return "", err
		}
		return g.post(ctx, g.junkToken, data)
	}},
	{name: "declared 32 MiB body", want: []string{"413", "closed"}, send: func(ctx context.Context, g *garbageTarget) (string, error) {
		return g.raw(ctx, true, fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
			uplink.BatchPath, g.addr, g.junkToken, uplink.ContentType, 32<<20))
	}},
}

// garbageRound sends every case once to the target.
func (b *badStats) garbageRound(ctx context.Context, g *garbageTarget) {
	for _, c := range garbageCases {
		status, err := c.send(ctx, g)
		if err != nil {
			status = "no answer"
		}
		b.mu.Lock()
		if b.garbage[c.name] == nil {
			b.garbage[c.name] = map[string]int{}
		}
		b.garbage[c.name][status]++
		switch {
		case strings.HasPrefix(status, "2"):
			b.accepted = append(b.accepted, fmt.Sprintf("%s on %s answered %s", c.name, g.name, status))
		case status != "no answer" && !contains(c.want, status) && len(b.unexpected) < 10:
			b.unexpected = append(b.unexpected, fmt.Sprintf("%s on %s answered %s (expected %s)", c.name, g.name, status, strings.Join(c.want, " or ")))
		}
		b.mu.Unlock()
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// slowSummary is the slow clients' line in the report.
func (b *badStats) slowSummary() (total int, worst map[string]time.Duration, notCut []string, down int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	worst = map[string]time.Duration{}
	for mode, ds := range b.slowCut {
		total += len(ds)
		for _, d := range ds {
			worst[mode] = max(worst[mode], d)
		}
	}
	return total + len(b.slowNotCut), worst, append([]string(nil), b.slowNotCut...), b.slowDown
}

// garbageSummary totals the garbage answers by status.
func (b *badStats) garbageSummary() (total int, byStatus []string, accepted, unexpected []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	counts := map[string]int{}
	for _, m := range b.garbage {
		for st, n := range m {
			counts[st] += n
			total += n
		}
	}
	for st, n := range counts {
		byStatus = append(byStatus, fmt.Sprintf("%s×%d", st, n))
	}
	sort.Strings(byStatus)
	return total, byStatus, append([]string(nil), b.accepted...), append([]string(nil), b.unexpected...)
}
