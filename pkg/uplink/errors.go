package uplink

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// How the collector's answers are sorted. The split decides what happens to
// the queued batch, so it is spelled out once, here:
//
//   - accepted / duplicate (2xx with a matching ack): the batch is durable at
//     the collector and may leave the queue;
//   - PermanentError (400, 403, 413, 422 and any other 4xx not listed below):
//     the collector judged THIS batch and would judge it the same way again,
//     so it is moved aside and the queue moves on;
//   - TransientError (no answer, 5xx, 408, 429, an ack that does not match):
//     retried with backoff, data kept;
//   - SetupError (401, 404, 405, 407, 415, 426, redirects): the refusal is
//     about the agent's token or endpoint, not about the batch. Every batch
//     would get the same answer, so moving them aside would empty the queue
//     into the dead bucket; instead the data stays queued and Drain stops
//     until the operator fixes the configuration.

// PermanentError reports that a collector refused a batch for good.
type PermanentError struct {
	Endpoint   string // redacted endpoint URL
	StatusCode int
	Reason     string // the collector's explanation, bounded and single-line
}

func (e *PermanentError) Error() string {
	return fmt.Sprintf("uplink: %s refused the batch: %s", e.Endpoint, statusReason(e.StatusCode, e.Reason))
}

// TransientError reports a failure worth retrying later.
type TransientError struct {
	Endpoint   string        // redacted endpoint URL; "" when not about one endpoint
	StatusCode int           // 0 when there was no HTTP answer
	RetryAfter time.Duration // the collector's Retry-After, 0 when absent
	Err        error         // the underlying failure, if any
}

func (e *TransientError) Error() string {
	var b strings.Builder
	b.WriteString("uplink: ")
	if e.Endpoint != "" {
		b.WriteString(e.Endpoint + ": ")
	}
	if e.StatusCode != 0 {
		b.WriteString(statusReason(e.StatusCode, ""))
		if e.Err != nil {
			b.WriteString(": ")
		}
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

func (e *TransientError) Unwrap() error { return e.Err }

// SetupError reports a refusal caused by the agent's configuration (token,
// endpoint URL) rather than by the batch. See the classification above.
type SetupError struct {
	Endpoint   string // redacted endpoint URL
	StatusCode int
	Reason     string
}

func (e *SetupError) Error() string {
	hint := ""
	switch e.StatusCode {
	case http.StatusUnauthorized:
		hint = " (is auth_token_file the token the collector's token table holds for this agent?)"
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		hint = " (is the endpoint the collector's ingest listener?)"
	}
	return fmt.Sprintf("uplink: %s: %s%s", e.Endpoint, statusReason(e.StatusCode, e.Reason), hint)
}

// IsPermanent reports whether err means the batch itself was refused for good.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// IsTransient reports whether err is worth retrying with the same batch.
// When several endpoints failed differently, one transient failure is enough:
// that endpoint may accept the batch later.
func IsTransient(err error) bool {
	var t *TransientError
	return errors.As(err, &t)
}

// IsSetup reports whether err points at the agent's token or endpoint
// configuration (and at nothing transient).
func IsSetup(err error) bool {
	var s *SetupError
	return errors.As(err, &s) && !IsTransient(err)
}

// retryAfter returns the longest Retry-After among the transient failures in err.
func retryAfter(err error) time.Duration {
	var longest time.Duration
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
			return
		case *TransientError:
			if e.RetryAfter > longest {
				longest = e.RetryAfter
			}
		case interface{ Unwrap() []error }:
			for _, x := range e.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return longest
}

// classifyStatus sorts a non-2xx HTTP status. It returns nil for 2xx.
func classifyStatus(endpoint string, code int, reason string, retry time.Duration) error {
	switch {
	case code >= 200 && code < 300:
		return nil
	case code >= 500, code == http.StatusRequestTimeout, code == http.StatusTooManyRequests:
		var err error
		if reason != "" {
			err = errors.New(reason)
		}
		return &TransientError{Endpoint: endpoint, StatusCode: code, RetryAfter: retry, Err: err}
	// 401 and 403 mean this agent's token or agent_id is wrong: every batch
	// would get the same answer, so none is moved aside.
	case code == http.StatusUnauthorized, code == http.StatusForbidden, code == http.StatusNotFound, code == http.StatusMethodNotAllowed,
		code == http.StatusProxyAuthRequired, code == http.StatusUnsupportedMediaType,
		code == http.StatusUpgradeRequired, code >= 300 && code < 400:
		return &SetupError{Endpoint: endpoint, StatusCode: code, Reason: reason}
	case code >= 400:
		return &PermanentError{Endpoint: endpoint, StatusCode: code, Reason: reason}
	default: // 1xx that leaked through, or nonsense
		return &TransientError{Endpoint: endpoint, StatusCode: code, Err: errors.New("unexpected HTTP status")}
	}
}

func statusReason(code int, reason string) string {
	s := fmt.Sprintf("HTTP %d", code)
	if t := http.StatusText(code); t != "" {
		s += " " + t
	}
	if reason != "" {
		s += ": " + reason
	}
	return s
}

// endpointErrors is the failure of every endpoint in one Send, kept in order.
// Its message stays on one line, unlike errors.Join.
type endpointErrors []error

func (e endpointErrors) Error() string {
	parts := make([]string, len(e))
	for i, err := range e {
		parts[i] = err.Error()
	}
	return fmt.Sprintf("uplink: all %d endpoints failed: %s", len(e), strings.Join(parts, "; "))
}

func (e endpointErrors) Unwrap() []error { return e }
