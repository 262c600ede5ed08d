package promapi

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// The parameter rules follow Prometheus's web/api/v1, so that clients see
// the same acceptance and the same messages, except where Prometheus's
// would evaluate a query at a wrong time or panic in the engine: times its
// engine cannot hold and steps under a millisecond are refused.

// maxPoints is Prometheus's cap on the points per series of a range query:
// 60 s resolution for a week, 1 h for a year.
const maxPoints = 11000

var (
	// minTime and maxTime are the defaults of optional time ranges, the
	// values Prometheus uses (clients send them back formatted).
	minTime = time.Unix(math.MinInt64/1000+62135596801, 0).UTC()
	maxTime = time.Unix(math.MaxInt64/1000-62135596801, 999999999).UTC()

	// minEvalTime and maxEvalTime bound what the promql engine can
	// evaluate at: it takes times in int64 nanoseconds (UnixNano), so
	// outside them it would silently evaluate at a wrapped-around time.
	minEvalTime = time.Unix(0, math.MinInt64).UTC()
	maxEvalTime = time.Unix(0, math.MaxInt64).UTC()
)

// checkEvalTime refuses a query time the engine cannot evaluate at.
func checkEvalTime(t time.Time) error {
	if t.Before(minEvalTime) || t.After(maxEvalTime) {
		return fmt.Errorf("%s is outside the range queries can be evaluated at, %s to %s",
			t.Format(time.RFC3339Nano), minEvalTime.Format(time.RFC3339Nano), maxEvalTime.Format(time.RFC3339Nano))
	}
	return nil
}

func parseTimeParam(r *http.Request, name string, def time.Time) (time.Time, error) {
	v := r.FormValue(name)
	if v == "" {
		return def, nil
	}
	t, err := parseTime(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid time value for '%s': %w", name, err)
	}
	return t, nil
}

// parseTime accepts Unix seconds (with a fraction, rounded to the
// millisecond) or RFC 3339.
func parseTime(s string) (time.Time, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		// NaN, ±Inf and seconds beyond the range defaults (whose
		// milliseconds overflow int64) stand for no time: their int64 is
		// implementation-defined (on amd64 NaN, ±Inf and ±1e19 all gave
		// times some 292 billion years ahead).
		if !(f >= float64(minTime.Unix()) && f <= float64(maxTime.Unix())) {
			return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
		}
		sec, frac := math.Modf(f)
		frac = math.Round(frac*1000) / 1000
		return time.Unix(int64(sec), int64(frac*float64(time.Second))).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	// time.Parse handles four-digit years only; the range defaults have
	// more, and clients echo them.
	switch s {
	case minTime.Format(time.RFC3339Nano):
		return minTime, nil
	case maxTime.Format(time.RFC3339Nano):
		return maxTime, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
}

// parseDuration accepts seconds as a float or a Prometheus duration
// ("5m", "1h30m").
func parseDuration(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		ts := f * float64(time.Second)
		if math.IsNaN(ts) || ts >= float64(math.MaxInt64) || ts < float64(math.MinInt64) {
			return 0, fmt.Errorf("cannot parse %q to a valid duration. It overflows int64", s)
		}
		return time.Duration(ts), nil
	}
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	return 0, fmt.Errorf("cannot parse %q to a valid duration", s)
}

// parseLimit returns 0 for "no limit".
func parseLimit(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, errors.New("limit must be non-negative")
	}
	return n, nil
}

// parseMatchers parses match[] selectors; each set must have a matcher
// that does not match the empty string, or it would select every series.
func (h *Handler) parseMatchers(ss []string) ([][]*labels.Matcher, error) {
	sets, err := h.parser.ParseMetricSelectors(ss)
	if err != nil {
		return nil, err
	}
outer:
	for _, set := range sets {
		for _, m := range set {
			if m != nil && !m.Matches("") {
				continue outer
			}
		}
		return nil, errors.New("match[] must contain at least one non-empty matcher")
	}
	return sets, nil
}
