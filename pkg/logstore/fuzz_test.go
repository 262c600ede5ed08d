package logstore

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzLogQueryParams feeds arbitrary query strings to the /api/v1/logs
// parameter parser. A refusal must be a *ParamError naming a real
// parameter; an accepted query must run on a store without error, respect
// its limit and order, and hand out a cursor that is itself accepted.
// Seeds: testdata/fuzz/FuzzLogQueryParams.
func FuzzLogQueryParams(f *testing.F) {
	s := fixtureStore()
	params := map[string]bool{paramStart: true, paramEnd: true, paramAgent: true, paramSource: true,
		paramContains: true, paramRegexp: true, paramAttr: true, paramLimit: true, paramDirection: true, paramCursor: true}
	f.Fuzz(func(t *testing.T, raw string) {
		v, _ := url.ParseQuery(raw) // a partly bad string still yields values
		q, err := ParseLogQuery(v)
		if err != nil {
			var pe *ParamError
			if !errors.As(err, &pe) || !params[pe.Param] || !strings.HasPrefix(err.Error(), pe.Param+": ") {
				t.Fatalf("refusal %q (%T) does not name a parameter", err, err)
			}
			return
		}
		p, err := s.Query(context.Background(), q)
		if err != nil {
			t.Fatalf("accepted query failed: %v", err)
		}
		limit := q.Limit
		if limit == 0 {
			limit = DefaultLimit
		}
		if len(p.Records) > min(limit, MaxLimit) {
			t.Fatalf("%d records over limit %d", len(p.Records), limit)
		}
		for i := 1; i < len(p.Records); i++ {
			a, _ := time.Parse(time.RFC3339Nano, p.Records[i-1].Time)
			b, _ := time.Parse(time.RFC3339Nano, p.Records[i].Time)
			if q.Direction == Forward && b.Before(a) || q.Direction != Forward && a.Before(b) {
				t.Fatalf("records out of order: %s then %s", p.Records[i-1].Time, p.Records[i].Time)
			}
		}
		if p.NextCursor != "" {
			v.Set(paramCursor, p.NextCursor)
			if _, err := ParseLogQuery(v); err != nil {
				t.Fatalf("own cursor refused: %v", err)
			}
		}
	})
}
