package promapi

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// FuzzParseTime feeds arbitrary time parameters. A refusal quotes the
// input, as Prometheus's message does. Unix seconds are kept to the
// millisecond, rounded to the nearest, and read back from the API's own
// timestamp text; an accepted time with a four-digit year (or one of the
// range defaults) reads back from its RFC 3339 form.
// Seeds: testdata/fuzz/FuzzParseTime.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{
		"1700000000", "1700000000.5", "1700060.123", "-1.0005", "0.0005", "0.9995", "100", "0", "10999", "11001",
		"2023-11-14T22:13:20Z", "2023-11-14T22:13:20.123456789+02:00", "yesterday", "", "1e3", "0x10p-4",
		minTime.Format(time.RFC3339Nano), maxTime.Format(time.RFC3339Nano), "NaN", "+Inf", "1e300", "1e19",
		"-9223309901257974", "9223309901257974.999999999", "-9223309901257976", "9223309901257976",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseTime(s)
		if err != nil {
			if !strings.Contains(err.Error(), strconv.Quote(s)) {
				t.Fatalf("refusal %q does not quote the input", err)
			}
			return
		}
		if got.Before(minTime) || got.After(maxTime) {
			t.Fatalf("parseTime(%q) = %v: outside [%v, %v], where milliseconds overflow", s, got, minTime, maxTime)
		}
		// Unix seconds; within ±3000 years float64 keeps the millisecond.
		if v, ferr := strconv.ParseFloat(s, 64); ferr == nil && math.Abs(v) < 1e11 {
			if got.Nanosecond()%int(time.Millisecond) != 0 {
				t.Fatalf("parseTime(%q) = %s: finer than a millisecond", s, got.Format(time.RFC3339Nano))
			}
			ms := got.UnixMilli()
			if d := math.Abs(float64(ms)/1000 - v); d > 0.0005+1e-15*math.Abs(v)+1e-12 {
				t.Fatalf("parseTime(%q) = %d ms, %g s off", s, ms, d)
			}
			text := string(appendTimestamp(nil, ms))
			if again, err := parseTime(text); err != nil || !again.Equal(got) {
				t.Fatalf("parseTime(%q) = %d ms, written %q, reads %v, %v", s, ms, text, again, err)
			}
		}
		if y := got.Year(); y >= 0 && y <= 9999 || got.Equal(minTime) || got.Equal(maxTime) {
			text := got.Format(time.RFC3339Nano)
			if again, err := parseTime(text); err != nil || !again.Equal(got) {
				t.Fatalf("parseTime(%q) = %s, reads back %v, %v", s, text, again, err)
			}
		}
	})
}

// FuzzParseDuration feeds arbitrary step, timeout and lookback_delta
// values. A refusal quotes the input. Float seconds are converted without
// wrapping around int64; a Prometheus duration is never negative; a
// duration of whole milliseconds reads back from its Prometheus form.
// Seeds: testdata/fuzz/FuzzParseDuration.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{
		"60", "10", "1", "2m", "1h30m", "0", "-1", "0.000000001", "often", "soon", "", "5m", "1y2w3d4h5m6s7ms",
		"9223372036", "9223372037", "-9223372036.854775808", "NaN", "-Inf", "1e-10", "292y", "0.3",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDuration(s)
		if err != nil {
			if !strings.Contains(err.Error(), strconv.Quote(s)) {
				t.Fatalf("refusal %q does not quote the input", err)
			}
			return
		}
		if v, ferr := strconv.ParseFloat(s, 64); ferr == nil {
			want := v * float64(time.Second)
			if diff := math.Abs(float64(d) - want); diff > 1+1e-15*math.Abs(want) {
				t.Fatalf("parseDuration(%q) = %d ns, want %g", s, int64(d), want)
			}
		} else if d < 0 {
			t.Fatalf("parseDuration(%q) = %s: negative", s, d)
		}
		if d >= 0 && d%time.Millisecond == 0 {
			text := model.Duration(d).String()
			if again, err := parseDuration(text); err != nil || again != d {
				t.Fatalf("parseDuration(%q) = %s, written %q, reads %s, %v", s, d, text, again, err)
			}
		}
	})
}

// FuzzParseLimit feeds arbitrary limit values: empty is no limit, any
// decimal int that is not negative is taken as is, and an accepted limit
// reads back from its decimal form.
// Seeds: testdata/fuzz/FuzzParseLimit.
func FuzzParseLimit(f *testing.F) {
	for _, s := range []string{"", "1", "2", "0", "-1", "-0", "+5", "007", "1.5", "x", "9223372036854775807", "9223372036854775808", " 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseLimit(s)
		want, aerr := strconv.Atoi(s)
		switch {
		case s == "":
			if n != 0 || err != nil {
				t.Fatalf("empty limit: %d, %v", n, err)
			}
		case aerr != nil || want < 0:
			if err == nil {
				t.Fatalf("parseLimit(%q) = %d, want a refusal", s, n)
			}
		case err != nil || n != want:
			t.Fatalf("parseLimit(%q) = %d, %v, want %d", s, n, err, want)
		}
		if err == nil {
			if again, err := parseLimit(strconv.Itoa(n)); n < 0 || err != nil || again != n {
				t.Fatalf("parseLimit(%q) = %d, reads back %d, %v", s, n, again, err)
			}
		}
	})
}

// FuzzParseMatchers feeds one or two match[] selectors. Accepted, every set
// holds a matcher that does not match the empty string (else it would
// select every series), and written back from its matchers it parses to
// the same set. Refused after parsing, every matcher of some set matched
// the empty string.
// Seeds: testdata/fuzz/FuzzParseMatchers.
func FuzzParseMatchers(f *testing.F) {
	for _, s := range [][2]string{
		{`cpu_seconds_total{agent="a1"}`, ""}, {"up_like_metric", `{__name__=~"up.*",agent="a2"}`}, {"{", ""},
		{`{agent=~".*"}`, ""}, {"up{", ""}, {"mem_used", `{agent!="",cpu=~"0|1"}`}, {`{"my.metric",le="0.5"}`, ""},
		{`{agent!~"a.+",job=""}`, `x{y!="z"}`}, {`{__name__="a\nb\\c\"d\x00"}`, ""}, {`{"ä"="ö"}`, "up"},
	} {
		f.Add(s[0], s[1], s[1] != "")
	}
	h := newHandler(f, Options{})
	f.Fuzz(func(t *testing.T, a, b string, two bool) {
		ss := []string{a}
		if two {
			ss = append(ss, b)
		}
		sets, err := h.parseMatchers(ss)
		if err != nil {
			if raw, perr := h.parser.ParseMetricSelectors(ss); perr == nil && !strings.Contains(err.Error(), "non-empty matcher") {
				t.Fatalf("selectors %q parse to %v but are refused: %v", ss, raw, err)
			} else if perr == nil && !anyMatchesAll(raw) {
				t.Fatalf("selectors %q refused, yet every set has a non-empty matcher: %v", ss, raw)
			}
			return
		}
		if len(sets) != len(ss) {
			t.Fatalf("%d selectors gave %d sets", len(ss), len(sets))
		}
		if anyMatchesAll(sets) {
			t.Fatalf("selectors %q accepted with a set matching every series: %v", ss, sets)
		}
		back := make([]string, len(sets))
		for i, set := range sets {
			parts := make([]string, len(set))
			for j, m := range set {
				parts[j] = m.String()
			}
			back[i] = "{" + strings.Join(parts, ",") + "}"
		}
		again, err := h.parseMatchers(back)
		if err != nil {
			t.Fatalf("selectors %q written back as %q are refused: %v", ss, back, err)
		}
		for i := range sets {
			if !sameMatchers(sets[i], again[i]) {
				t.Fatalf("selector %q written back as %q reads %v, want %v", ss[i], back[i], again[i], sets[i])
			}
		}
	})
}

// anyMatchesAll reports whether some set has only matchers that match the
// empty string.
func anyMatchesAll(sets [][]*labels.Matcher) bool {
outer:
	for _, set := range sets {
		for _, m := range set {
			if !m.Matches("") {
				continue outer
			}
		}
		return true
	}
	return false
}

func sameMatchers(a, b []*labels.Matcher) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Type != b[i].Type || a[i].Name != b[i].Name || a[i].Value != b[i].Value {
			return false
		}
	}
	return true
}

// FuzzQueryRangeParams feeds arbitrary start, end and step to
// /api/v1/query_range with the query "1". A refusal is bad_data about one
// of them; an accepted range has start <= end and a positive step, and the
// result walks from start to at most end by step, within the point cap.
// Seeds: testdata/fuzz/FuzzQueryRangeParams.
func FuzzQueryRangeParams(f *testing.F) {
	for _, s := range [][3]string{
		{unix(t0), unix(now), "60"}, {unix(t0.Add(2 * time.Minute)), unix(now), "2m"}, {"10", "5", "1"},
		{"0", "5", "0"}, {"0", "5", "often"}, {"0", "11001", "1"}, {"0", "10999", "1"}, {"", "10", "1"},
		{t0.Format(time.RFC3339), t0.Add(2 * time.Minute).Format(time.RFC3339), "1m"}, {"1.5", "1.5", "0.001"},
		{"-100", "100", "-1"}, {"0", "1", "0.0001"}, {"0000-01-01T00:00:00Z", "0000-01-01T00:00:02Z", "1"},
		{"1677-09-22T00:00:00Z", "2262-04-11T00:00:00Z", "240h"}, {"1960-01-01T00:00:00.0005Z", "1960-01-01T00:00:02.0005Z", "1"}, {"NaN", "0", "1"}, {"0", "1e19", "1e9"}, {"-1e19", "0", "1e9"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	h := newHandler(f, Options{})
	f.Fuzz(func(t *testing.T, start, end, step string) {
		params := url.Values{"query": {"1"}, "start": {start}, "end": {end}, "step": {step}}
		code, resp, body := do(t, h, http.MethodGet, "/api/v1/query_range", params)
		if code != http.StatusOK {
			if code != http.StatusBadRequest || resp.ErrorType != "bad_data" ||
				!strings.Contains(resp.Error, `invalid parameter "start"`) && !strings.Contains(resp.Error, `invalid parameter "end"`) &&
					!strings.Contains(resp.Error, `invalid parameter "step"`) && !strings.Contains(resp.Error, "maximum resolution") {
				t.Fatalf("start %q end %q step %q: %d %s", start, end, step, code, body)
			}
			return
		}
		st, err1 := parseTime(start)
		en, err2 := parseTime(end)
		sp, err3 := parseDuration(step)
		if err1 != nil || err2 != nil || err3 != nil || en.Before(st) || sp <= 0 {
			t.Fatalf("accepted start %q end %q step %q (%v %v, %v %v, %v %v)", start, end, step, st, err1, en, err2, sp, err3)
		}
		var data struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Values [][2]json.Number `json:"values"`
			} `json:"result"`
		}
		dec := json.NewDecoder(strings.NewReader(string(resp.Data)))
		dec.UseNumber()
		if err := dec.Decode(&data); err != nil || data.ResultType != "matrix" || len(data.Result) != 1 {
			t.Fatalf("start %q end %q step %q: data %s (%v)", start, end, step, resp.Data, err)
		}
		vals := data.Result[0].Values
		if len(vals) == 0 || len(vals) > maxPoints+1 {
			t.Fatalf("start %q end %q step %q: %d points", start, end, step, len(vals))
		}
		// The engine counts in milliseconds: start and end are kept to
		// within one, the step to the whole milliseconds.
		var prev time.Time
		for i, v := range vals {
			ts, err := parseTime(v[0].String())
			if err != nil {
				t.Fatalf("point %d: timestamp %q: %v", i, v[0], err)
			}
			if d := ts.Sub(st); i == 0 && (d <= -time.Millisecond || d >= time.Millisecond) ||
				i > 0 && ts.Sub(prev) != sp.Truncate(time.Millisecond) || ts.Sub(en) >= time.Millisecond {
				t.Fatalf("start %q end %q step %q: point %d at %v after %v (range [%v, %v] by %s)",
					start, end, step, i, ts, prev, st, en, sp)
			}
			prev = ts
		}
	})
}
