package uplink

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// tokenMarker in a fuzzed body stands for the agent's token, so that the
// fuzzer can place the token anywhere in the collector's answer.
const tokenMarker = "TOKEN"

// fuzzToken makes v a token the agent could hold (what tokens.LoadSecret
// accepts: 16 or more visible ASCII characters), or falls back to testToken.
func fuzzToken(v string) string {
	if len(v) < 16 {
		return testToken
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x21 || v[i] > 0x7e {
			return testToken
		}
	}
	return v
}

// oneLine reports whether s is safe on a log line: valid UTF-8, no control
// characters.
func oneLine(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// answerSeeds are collector answers as the ingest handler and the unit
// tests write them, and a few broken ones.
var answerSeeds = []struct {
	code       int
	retryAfter string
	body       string
}{
	{200, "", `{"agent_id":"a1","seq":1,"status":"accepted"}`},
	{200, "", `{"agent_id":"a1","seq":7,"status":"duplicate"}` + "\n"},
	{200, "", `{"seq":1,"status":"maybe"}`},
	{200, "", `ok`},
	{200, "", `{"seq":-TOKEN,"status":"accepted"}`},
	{200, "", `{"seq":18446744073709551616,"status":"accepted"}`},
	{200, "", `{"seq":1,"status":"accepted\u0000TOKEN"}`},
	{204, "", ``},
	{400, "", `{"error":"max_series_per_batch: too many series (Bearer TOKEN)"}`},
	{422, "", `{"error":"max_series_per_batch: too many series","limit":"max_series_per_batch","value":301,"max":300}`},
	{413, "", `{"error":"body larger than max_batch_bytes"}`},
	{401, "", `unknown token`},
	{403, "", `token is for another agent`},
	{404, "", "404 page not found\n"},
	{503, "3", `spool busy`},
	{503, "Wed, 21 Oct 2015 07:28:00 GMT", `{"error":"spool full","reason":""}`},
	{429, "99999999999", `{"message":"slow down"}`},
	{408, "-3", ``},
	{500, "", "\xff\xfe line one\r\nline two\t" + tokenMarker},
	{302, "", `<a href="https://elsewhere/">Found</a>`},
	{101, "", ``},
}

// FuzzAnswer feeds arbitrary collector answers (status, Retry-After,
// body) to one post. Success needs a 2xx and an ack that decodes to
// accepted or duplicate and survives a JSON round trip. Any failure is
// exactly one of permanent, transient and setup, as classifyStatus sorts
// the status; its message is one line without the token; its Retry-After
// is within [0, maxRetryAfter] and only on a retryable status; and the
// reason it keeps is the bounded, cleaned one reason gives.
// Seeds: testdata/fuzz/FuzzAnswer.
func FuzzAnswer(f *testing.F) {
	for _, s := range answerSeeds {
		f.Add(s.code, s.retryAfter, s.body, "")
	}
	f.Add(200, "", `{"seq":-TOKEN,"status":"accepted"}`, "1234567890123456")
	f.Add(200, "", `{"seq":TOKEN0,"status":"accepted"}`, "1234567890123456")
	f.Add(422, "", `{"error":"Bearer TOKEN"}`, "[redacted]0123456789")
	f.Fuzz(func(t *testing.T, code int, retryHeader, body, token string) {
		token = fuzzToken(token)
		if code < 100 || code > 999 {
			code = 100 + int(uint(code)%900) // what an HTTP client can read
		}
		body = strings.ReplaceAll(body, tokenMarker, token)
		c, err := New(Options{Endpoints: []string{"https://collector.example:8443/lm"}, Token: token})
		if err != nil {
			t.Fatalf("New with token %q: %v", token, err)
		}
		defer c.Close()
		c.http = &http.Client{CheckRedirect: c.http.CheckRedirect, Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: code, Status: strconv.Itoa(code), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header: http.Header{"Retry-After": {retryHeader}}, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
		})}

		ack, err := c.post(context.Background(), c.endpoints[0], []byte("batch-1"))
		if err == nil {
			if code < 200 || code > 299 {
				t.Fatalf("HTTP %d taken as an ack %+v", code, ack)
			}
			if ack.Status != StatusAccepted && ack.Status != StatusDuplicate {
				t.Fatalf("ack with status %q taken", ack.Status)
			}
			b, merr := json.Marshal(ack)
			var again Ack
			if merr != nil || json.Unmarshal(b, &again) != nil || again != ack {
				t.Fatalf("ack %+v does not survive JSON: %s", ack, b)
			}
			return
		}

		msg := err.Error()
		if strings.Contains(msg, token) {
			t.Fatalf("error shows the token: %q", msg)
		}
		if !oneLine(msg) {
			t.Fatalf("error is not one clean line: %q", msg)
		}
		var classes []string
		if IsPermanent(err) {
			classes = append(classes, "permanent")
		}
		if IsTransient(err) {
			classes = append(classes, "transient")
		}
		if IsSetup(err) {
			classes = append(classes, "setup")
		}
		want := "transient" // a 2xx with a bad ack
		if ce := classifyStatus("", code, "", 0); IsPermanent(ce) {
			want = "permanent"
		} else if IsSetup(ce) {
			want = "setup"
		}
		if len(classes) != 1 || classes[0] != want {
			t.Fatalf("HTTP %d: error %q classified %v, want %s", code, msg, classes, want)
		}
		retryable := code >= 500 || code == http.StatusRequestTimeout || code == http.StatusTooManyRequests
		if ra := retryAfter(err); ra < 0 || ra > maxRetryAfter || ra > 0 && !retryable {
			t.Fatalf("HTTP %d, Retry-After %q: retry after %s", code, retryHeader, ra)
		}
		var reason string
		switch e := err.(type) {
		case *PermanentError:
			reason = e.Reason
		case *SetupError:
			reason = e.Reason
		default:
			return
		}
		if want := c.reason([]byte(body)); reason != want {
			t.Fatalf("reason %q, want %q", reason, want)
		}
	})
}

// FuzzParseRetryAfter feeds arbitrary Retry-After values. The wait is
// never negative nor over maxRetryAfter; delay-seconds are taken as such
// (clamped); and a wait of whole seconds reads back from both of its forms,
// delay-seconds and an HTTP date.
// Seeds: testdata/fuzz/FuzzParseRetryAfter.
func FuzzParseRetryAfter(f *testing.F) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, v := range []string{
		"", "0", "-3", "7", " 7 ", "nonsense", "99999999999", "600", "601", "+5", "9223372036854775807", "-9223372036854775808",
		now.Add(30 * time.Second).Format(http.TimeFormat), now.Add(-time.Minute).Format(http.TimeFormat),
		now.Add(24 * time.Hour).Format(http.TimeFormat), "Thursday, 02-Jan-25 03:04:35 GMT", "Thu Jan  2 03:05:00 2025",
		"Thu, 02 Jan 2025 03:04:35.5 GMT",
	} {
		f.Add(v, now.Unix())
	}
	f.Fuzz(func(t *testing.T, v string, nowSec int64) {
		now := time.Unix(int64(uint64(nowSec)%253402300800), 0).UTC() // years 1970 to 9999
		d := parseRetryAfter(v, now)
		if d < 0 || d > maxRetryAfter {
			t.Fatalf("parseRetryAfter(%q) = %s, outside [0, %s]", v, d, maxRetryAfter)
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			want := maxRetryAfter
			if n <= 0 {
				want = 0
			} else if n < int64(maxRetryAfter/time.Second) {
				want = time.Duration(n) * time.Second
			}
			if d != want {
				t.Fatalf("parseRetryAfter(%q) = %s, want %s", v, d, want)
			}
		}
		if d%time.Second != 0 {
			return // an HTTP date with a fraction, which time.Parse takes
		}
		secs := strconv.FormatInt(int64(d/time.Second), 10)
		date := now.Add(d).Format(http.TimeFormat)
		if a, b := parseRetryAfter(secs, now), parseRetryAfter(date, now); a != d || b != d {
			t.Fatalf("parseRetryAfter(%q) = %s, but %q gives %s and %q gives %s", v, d, secs, a, date, b)
		}
	})
}

// FuzzReason feeds arbitrary error bodies to reason, which keeps the
// collector's explanation: the result is valid UTF-8 without control
// characters or the token, at most maxReasonBytes and an ellipsis, and
// cleaning it again changes nothing when it was not cut.
// Seeds: testdata/fuzz/FuzzReason.
func FuzzReason(f *testing.F) {
	for _, s := range answerSeeds {
		f.Add(s.body, "")
	}
	f.Add(`{"reason":"","error":"x","message":"y"}`, "")
	f.Add(`{"detail":"see TOKEN"}`+strings.Repeat(" ", 600), "")
	f.Add(strings.Repeat("é", 300), "")
	f.Add(`{"error":"TOKENTOKEN","reason":7}`, "0123456789abcdef0123456789abcdef")
	f.Add(`[redacted]0123456789TOKEN`, "[redacted]0123456789")
	f.Fuzz(func(t *testing.T, body, token string) {
		c := &Client{token: fuzzToken(token)}
		body = strings.ReplaceAll(body, tokenMarker, c.token)
		r := c.reason([]byte(body))
		if !oneLine(r) {
			t.Fatalf("reason(%q) = %q: not one clean line", body, r)
		}
		if strings.Contains(r, c.token) {
			t.Fatalf("reason(%q) = %q shows the token", body, r)
		}
		if len(r) > maxReasonBytes+len("…") {
			t.Fatalf("reason(%q) is %d bytes", body, len(r))
		}
		if len(r) <= maxReasonBytes {
			if again := c.clean(r); again != r {
				t.Fatalf("reason %q cleans again to %q", r, again)
			}
		}
	})
}

func TestRedactOverlappingToken(t *testing.T) {
	tok := "[redacted]0123456789"
	for _, in := range []string{tok + "0123456789", "x" + tok + tok + "y", "[redacted]" + tok} {
		if got := redact(in, tok); strings.Contains(got, tok) {
			t.Fatalf("redact(%q) = %q still holds the token", in, got)
		}
	}
	if got := redact("plain text", tok); got != "plain text" {
		t.Fatalf("text without the token changed: %q", got)
	}
}
