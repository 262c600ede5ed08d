// Package uplink is the agent's sender: it posts encoded batches to the
// collectors' ingest endpoints over HTTPS and empties the local queue only as
// far as the collectors have acknowledged.
//
// It reaches the queue through the small Queue interface defined here, so it
// depends on no storage package.
package uplink

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
)

// ContentType is the media type of an encoded batch (the codec's wire format).
const ContentType = "application/x-lightmetrics-batch"

// BatchPath is the ingest route, relative to an endpoint URL.
const BatchPath = "/v1/batches"

const (
	// maxResponseBytes bounds what is read of any answer: an ack is a few
	// dozen bytes, and a misbehaving server must not grow the agent.
	maxResponseBytes = 64 << 10
	// maxReasonBytes bounds the collector's explanation kept in errors and
	// in the moved-aside record.
	maxReasonBytes = 512
	// maxRetryAfter caps how long one Retry-After can park the agent.
	maxRetryAfter = 10 * time.Minute
)

// Backoff shapes the wait between attempts at one batch: Initial, then
// multiplied by Multiplier per attempt up to Max, each wait moved by up to
// ±Jitter (a fraction) so that many agents do not retry in step.
type Backoff struct {
	Initial, Max time.Duration
	Multiplier   float64
	Jitter       float64
}

// DefaultBackoff is used for every Backoff field left zero.
func DefaultBackoff() Backoff {
	return Backoff{Initial: 500 * time.Millisecond, Max: 30 * time.Second, Multiplier: 2, Jitter: 0.2}
}

// Options configure a Client.
type Options struct {
	// Endpoints are collector base URLs (https), tried in order on failure.
	Endpoints []string
	// Token is the agent's bearer token. It is sent in the Authorization
	// header and nowhere else: never logged, never part of an error.
	Token string
	// TLS is the client TLS configuration (see tlsutil.ClientConfig); nil
	// trusts the system roots. It is cloned; TLS 1.2 is the floor.
	TLS *tls.Config
	// Timeout bounds one HTTP exchange with one endpoint (default 10 s).
	Timeout time.Duration
	// Backoff between attempts at one batch; zero fields take DefaultBackoff.
	Backoff Backoff
	// MaxAttempts bounds the transient failures tolerated per batch in one
	// Drain; 0 keeps trying until ctx ends.
	MaxAttempts int
	// Logger receives one line per retry and per batch moved aside; nil discards.
	Logger *slog.Logger
	// UserAgent is sent with every request (default "lightmetrics-agent").
	UserAgent string
}

// String keeps the token out of anything that prints Options.
func (o Options) String() string {
	return fmt.Sprintf("uplink.Options{Endpoints: %v, Token: [redacted], Timeout: %s, MaxAttempts: %d}",
		o.Endpoints, o.Timeout, o.MaxAttempts)
}

// LogValue keeps the token out of structured logs.
func (o Options) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Any("endpoints", o.Endpoints),
		slog.String("token", "[redacted]"),
		slog.Duration("timeout", o.Timeout),
		slog.Int("max_attempts", o.MaxAttempts),
	)
}

// Ack is the collector's answer to an accepted batch.
type Ack struct {
	AgentID string `json:"agent_id"`
	Seq     uint64 `json:"seq"`
	Status  string `json:"status"`
}

// Ack statuses that mean the batch is durable at the collector.
const (
	StatusAccepted  = "accepted"
	StatusDuplicate = "duplicate"
)

type endpoint struct {
	url    string // where batches are posted
	public string // redacted base URL, for errors and logs
}

// Client sends batches to the collectors. It is safe for concurrent use.
type Client struct {
	endpoints   []endpoint
	token       string
	http        *http.Client
	transport   *http.Transport
	timeout     time.Duration
	backoff     Backoff
	maxAttempts int
	log         *slog.Logger
	userAgent   string
	sticky      atomic.Int64 // index of the endpoint that last answered

	// sleep waits between attempts; tests replace it to observe the delays
	// without spending them.
	sleep func(ctx context.Context, d time.Duration) error
}

// New checks o and builds a Client.
func New(o Options) (*Client, error) {
	if len(o.Endpoints) == 0 {
		return nil, errors.New("uplink: no endpoints")
	}
	if o.Token == "" {
		return nil, errors.New("uplink: empty token")
	}
	for _, r := range o.Token {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r > unicode.MaxASCII {
			return nil, errors.New("uplink: token contains whitespace, control or non-ASCII characters")
		}
	}
	if o.MaxAttempts < 0 {
		return nil, fmt.Errorf("uplink: MaxAttempts %d is negative", o.MaxAttempts)
	}
	c := &Client{
		token:       o.Token,
		timeout:     o.Timeout,
		backoff:     o.Backoff,
		maxAttempts: o.MaxAttempts,
		log:         o.Logger,
		userAgent:   o.UserAgent,
		sleep:       sleepCtx,
	}
	for _, raw := range o.Endpoints {
		ep, err := parseEndpoint(raw)
		if err != nil {
			return nil, err
		}
		c.endpoints = append(c.endpoints, ep)
	}
	if c.timeout <= 0 {
		c.timeout = 10 * time.Second
	}
	def := DefaultBackoff()
	if c.backoff.Initial <= 0 {
		c.backoff.Initial = def.Initial
	}
	if c.backoff.Max <= 0 {
		c.backoff.Max = def.Max
	}
	if c.backoff.Max < c.backoff.Initial {
		c.backoff.Max = c.backoff.Initial
	}
	if c.backoff.Multiplier < 1 {
		c.backoff.Multiplier = def.Multiplier
	}
	if c.backoff.Jitter < 0 || c.backoff.Jitter > 1 {
		return nil, fmt.Errorf("uplink: backoff jitter %g outside [0, 1]", c.backoff.Jitter)
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.userAgent == "" {
		c.userAgent = "lightmetrics-agent"
	}

	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.TLS != nil {
		// Cloned: the transport adds its ALPN protocols to the config it holds.
		tlsCfg = o.TLS.Clone()
		if tlsCfg.MinVersion < tls.VersionTLS12 {
			tlsCfg.MinVersion = tls.VersionTLS12
		}
	}
	c.transport = &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4,
		MaxIdleConnsPerHost:   2, // one agent talks to one collector at a time
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	c.http = &http.Client{
		Transport: c.transport,
		// A redirect is a misconfigured endpoint; following it would also
		// carry the batch (and, same-host, the token) somewhere unplanned.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

func parseEndpoint(raw string) (endpoint, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse quotes the input; an endpoint is not a secret.
		return endpoint{}, fmt.Errorf("uplink: endpoint: %w", err)
	}
	public := u.Redacted()
	if u.Scheme != "https" {
		return endpoint{}, fmt.Errorf("uplink: endpoint %s: scheme must be https (ingest is TLS only)", public)
	}
	if u.Host == "" {
		return endpoint{}, fmt.Errorf("uplink: endpoint %s: no host", public)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return endpoint{}, fmt.Errorf("uplink: endpoint %s: must not carry a query or fragment", public)
	}
	// A path prefix is kept, for collectors behind a reverse proxy.
	post := *u
	post.Path = strings.TrimRight(u.Path, "/") + BatchPath
	post.RawPath = ""
	return endpoint{url: post.String(), public: public}, nil
}

// String describes the client without its token.
func (c *Client) String() string {
	names := make([]string, len(c.endpoints))
	for i, ep := range c.endpoints {
		names[i] = ep.public
	}
	return fmt.Sprintf("uplink.Client{endpoints: %v}", names)
}

// Close releases idle connections.
func (c *Client) Close() { c.transport.CloseIdleConnections() }

// Send posts one encoded batch and returns the collector's ack. It starts at
// the endpoint that answered last and fails over to the others in order. A
// permanent refusal ends the round at once (another collector would refuse
// the batch too); anything else moves on to the next endpoint, and when all
// fail the error carries each one's failure. Send does not retry: Drain does.
func (c *Client) Send(ctx context.Context, body []byte) (Ack, error) {
	n := len(c.endpoints)
	start := int(c.sticky.Load())
	var errs endpointErrors
	for i := 0; i < n; i++ {
		idx := (start + i) % n
		ack, err := c.post(ctx, c.endpoints[idx], body)
		if err == nil {
			c.sticky.Store(int64(idx))
			return ack, nil
		}
		if IsPermanent(err) {
			c.sticky.Store(int64(idx)) // it answered; the batch was the problem
			return Ack{}, err
		}
		if ctx.Err() != nil {
			return Ack{}, fmt.Errorf("uplink: send: %w", ctx.Err())
		}
		errs = append(errs, err)
	}
	if len(errs) == 1 {
		return Ack{}, errs[0]
	}
	return Ack{}, errs
}

// post makes one exchange with one endpoint and sorts the outcome.
func (c *Client) post(ctx context.Context, ep endpoint, body []byte) (Ack, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.url, bytes.NewReader(body))
	if err != nil {
		return Ack{}, &SetupError{Endpoint: ep.public, Reason: "build request: " + err.Error()}
	}
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", c.userAgent)

	resp, err := c.http.Do(req)
	if err != nil {
		return Ack{}, &TransientError{Endpoint: ep.public, Err: c.scrubErr(err)}
	}
	// Read a bounded amount, then close: a fully read small body lets the
	// connection be reused; an oversized one is dropped with the connection.
	data, readErr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	resp.Body.Close()

	if err := classifyStatus(ep.public, resp.StatusCode, c.reason(data), parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())); err != nil {
		return Ack{}, err
	}
	if readErr != nil {
		return Ack{}, &TransientError{Endpoint: ep.public, StatusCode: resp.StatusCode, Err: fmt.Errorf("read ack: %w", c.scrubErr(readErr))}
	}
	if len(data) > maxResponseBytes {
		return Ack{}, &TransientError{Endpoint: ep.public, StatusCode: resp.StatusCode, Err: fmt.Errorf("ack larger than %d bytes", maxResponseBytes)}
	}
	var ack Ack
	if err := json.Unmarshal(data, &ack); err != nil {
		return Ack{}, &TransientError{Endpoint: ep.public, StatusCode: resp.StatusCode, Err: fmt.Errorf("decode ack: %w", c.scrubErr(err))}
	}
	if ack.Status != StatusAccepted && ack.Status != StatusDuplicate {
		return Ack{}, &TransientError{Endpoint: ep.public, StatusCode: resp.StatusCode,
			Err: fmt.Errorf("ack status %q is neither %q nor %q", c.clean(ack.Status), StatusAccepted, StatusDuplicate)}
	}
	return ack, nil
}

// reason extracts the collector's explanation from an error body: a JSON
// field when there is one, else the text, bounded and on one line.
func (c *Client) reason(body []byte) string {
	if len(body) > maxResponseBytes {
		body = body[:maxResponseBytes]
	}
	var obj map[string]any
	if json.Unmarshal(body, &obj) == nil {
		for _, k := range []string{"reason", "error", "message", "detail"} {
			if s, ok := obj[k].(string); ok && s != "" {
				return c.clean(s)
			}
		}
	}
	return c.clean(string(body))
}

// clean makes server-supplied text safe to put in an error or a log line:
// valid UTF-8, no control characters, bounded, never the token.
func (c *Client) clean(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	s = redact(s, c.token)
	if len(s) > maxReasonBytes {
		s = strings.ToValidUTF8(s[:maxReasonBytes], "") + "…"
	}
	return s
}

// scrubErr guards against an error that quotes the token (none of net/http's
// do today; the check is cheap and the promise absolute).
func (c *Client) scrubErr(err error) error {
	if err == nil || !strings.Contains(err.Error(), c.token) {
		return err
	}
	return errors.New(redact(err.Error(), c.token))
}

// redact replaces the token in s. A token that overlaps the marker
// ("[redacted]0123…" echoed with a suffix) can reappear from the pieces
// around a replacement; then the whole text is withheld rather than
// replaced in a loop whose end depends on the token's shape.
func redact(s, token string) string {
	if token == "" {
		return s
	}
	s = strings.ReplaceAll(s, token, "[redacted]")
	if strings.Contains(s, token) {
		return "[text withheld: it contained the agent token]"
	}
	return s
}

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}
