package logstore

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The API's parameter names.
const (
	paramStart     = "start"
	paramEnd       = "end"
	paramAgent     = "agent"
	paramSource    = "source"
	paramContains  = "q"
	paramRegexp    = "re"
	paramAttr      = "attr"
	paramLimit     = "limit"
	paramDirection = "direction"
	paramCursor    = "cursor"
)

// Timestamps outside what int64 nanoseconds can hold (1678..2262) are
// refused rather than silently wrapped.
var (
	minTime = time.Unix(0, math.MinInt64).UTC()
	maxTime = time.Unix(0, math.MaxInt64).UTC()
)

// ParseLogQuery reads a LogQuery from the parameters of /api/v1/logs and
// checks it whole (regexp compiled, cursor decoded), so that a bad request
// is refused before any scan. Errors are *ParamError naming the parameter.
func ParseLogQuery(v url.Values) (LogQuery, error) {
	var q LogQuery
	var err error
	if q.Start, err = timeParam(v, paramStart); err != nil {
		return LogQuery{}, err
	}
	if q.End, err = timeParam(v, paramEnd); err != nil {
		return LogQuery{}, err
	}
	if q.Limit, err = limitParam(v); err != nil {
		return LogQuery{}, err
	}
	q.Agent = v.Get(paramAgent)
	q.Source = v.Get(paramSource)
	q.Contains = v.Get(paramContains)
	q.Regexp = v.Get(paramRegexp)
	q.Direction = v.Get(paramDirection)
	q.Cursor = v.Get(paramCursor)
	for _, a := range v[paramAttr] {
		name, value, ok := strings.Cut(a, "=")
		if !ok || name == "" {
			return LogQuery{}, &ParamError{Param: paramAttr, Msg: fmt.Sprintf("%q is not name=value", a)}
		}
		if q.Attr == nil {
			q.Attr = map[string]string{}
		}
		if old, dup := q.Attr[name]; dup && old != value {
			return LogQuery{}, &ParamError{Param: paramAttr, Msg: fmt.Sprintf("%q is given two values", name)}
		}
		q.Attr[name] = value
	}
	// The same checks Query makes, so the fuzz target and the handler see
	// every refusal here.
	if _, err := q.compile(math.MinInt64); err != nil {
		return LogQuery{}, err
	}
	return q, nil
}

// ParseAlertQuery reads an AlertQuery from the parameters of
// /api/v1/alerts: start, end, agent and limit.
func ParseAlertQuery(v url.Values) (AlertQuery, error) {
	var q AlertQuery
	var err error
	if q.Start, err = timeParam(v, paramStart); err != nil {
		return AlertQuery{}, err
	}
	if q.End, err = timeParam(v, paramEnd); err != nil {
		return AlertQuery{}, err
	}
	if !q.Start.IsZero() && !q.End.IsZero() && q.End.Before(q.Start) {
		return AlertQuery{}, &ParamError{Param: paramEnd, Msg: "is before start"}
	}
	if q.Limit, err = limitParam(v); err != nil {
		return AlertQuery{}, err
	}
	q.Agent = v.Get(paramAgent)
	return q, nil
}

func limitParam(v url.Values) (int, error) {
	s := v.Get(paramLimit)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, &ParamError{Param: paramLimit, Msg: fmt.Sprintf("%q is not an integer", s)}
	}
	if n < 0 {
		return 0, &ParamError{Param: paramLimit, Msg: fmt.Sprintf("%d is negative", n)}
	}
	return n, nil
}

// timeParam parses a timestamp the way the Prometheus API does: Unix
// seconds with an optional fraction, or RFC 3339. Absent is the zero time.
func timeParam(v url.Values, name string) (time.Time, error) {
	s := v.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := parseTime(s)
	if err != nil {
		return time.Time{}, &ParamError{Param: name, Msg: err.Error()}
	}
	return t, nil
}

func parseTime(s string) (time.Time, error) {
	var t time.Time
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		// Bounds checked on the float: int64 conversion of an out-of-range
		// float is undefined.
		if math.IsNaN(f) || f < float64(minTime.Unix()) || f > float64(maxTime.Unix()) {
			return time.Time{}, fmt.Errorf("%q is out of range", s)
		}
		sec, frac := math.Modf(f)
		// Milliseconds, as Prometheus rounds: float seconds cannot carry
		// nanoseconds faithfully anyway.
		t = time.Unix(int64(sec), int64(math.Round(frac*1000))*int64(time.Millisecond)).UTC()
	} else if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
		return time.Time{}, fmt.Errorf("cannot parse %q as RFC 3339 or Unix seconds", s)
	}
	if t.Before(minTime) || t.After(maxTime) || t.IsZero() {
		return time.Time{}, fmt.Errorf("%q is out of range", s)
	}
	return t, nil
}
