package live

import (
	"errors"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// FuzzParseFilter feeds arbitrary query strings to the stream's filter
// parser. A refusal must be a *paramError about kind naming an element that
// is no event kind; an accepted filter must hold exactly the kinds, agents
// and sources the query asked for (trimmed, no empties), written back as a
// query it must parse to the same filter, and match an event it describes.
// Seeds: testdata/fuzz/FuzzParseFilter.
func FuzzParseFilter(f *testing.F) {
	for _, q := range []string{
		"", "kind=log", "kind=batch,alert", "kind=log&kind=alert", "agent=a2", "agent=a1,a2&kind=batch",
		"agent=a1&agent=a9&kind=alert", "source=s1", "source=s2&source=s1&agent=a1", "agent=nobody",
		"kind=log,metric", "kind=", "kind=+log+,+batch", "agent=+,a1,,&source=&source=a,b", "kind=LOG",
	} {
		f.Add(q)
	}
	names := map[string]kindSet{EventBatch: kindBatch, EventLog: kindLog, EventAlert: kindAlert}
	f.Fuzz(func(t *testing.T, raw string) {
		v, _ := url.ParseQuery(raw) // a partly bad string still yields values
		got, err := parseFilter(v)

		// What the query asks for, read independently.
		var (
			wantKinds kindSet
			badKind   bool
			agents    []string
			sources   []string
		)
		for _, s := range v["kind"] {
			for _, k := range strings.Split(s, ",") {
				bit, ok := names[strings.TrimSpace(k)]
				badKind = badKind || !ok
				wantKinds |= bit
			}
		}
		for _, s := range v["agent"] {
			for _, a := range strings.Split(s, ",") {
				if a = strings.TrimSpace(a); a != "" {
					agents = append(agents, a)
				}
			}
		}
		for _, s := range v["source"] {
			if s != "" {
				sources = append(sources, s)
			}
		}

		if err != nil {
			var pe *paramError
			if !errors.As(err, &pe) || pe.param != "kind" || !strings.HasPrefix(err.Error(), "kind: ") {
				t.Fatalf("refusal %q (%T) does not name the kind parameter", err, err)
			}
			if !badKind {
				t.Fatalf("refused %q although every kind is known: %v", raw, err)
			}
			return
		}
		if badKind {
			t.Fatalf("accepted an unknown kind in %q: %+v", raw, got)
		}
		if got.kinds != wantKinds || !slices.Equal(got.agents, agents) || !slices.Equal(got.sources, sources) {
			t.Fatalf("filter %+v, want kinds %b, agents %q, sources %q", got, wantKinds, agents, sources)
		}

		// Written back as a client would send it, the filter reads the same.
		back := url.Values{}
		var ks []string
		for _, k := range []kindSet{kindBatch, kindLog, kindAlert} {
			if got.kinds&k != 0 {
				ks = append(ks, k.name())
			}
		}
		if len(ks) > 0 {
			back.Set("kind", strings.Join(ks, ","))
		}
		if len(got.agents) > 0 {
			back.Set("agent", strings.Join(got.agents, ","))
		}
		back["source"] = got.sources
		again, err := parseFilter(back)
		if err != nil {
			t.Fatalf("filter %+v written as %q is refused: %v", got, back.Encode(), err)
		}
		if again.kinds != got.kinds || !slices.Equal(again.agents, got.agents) || !slices.Equal(again.sources, got.sources) {
			t.Fatalf("filter %+v written as %q reads %+v", got, back.Encode(), again)
		}

		// An event it describes passes it; one from an agent it does not
		// name does not.
		e := &event{kind: kindLog, agent: "a", source: "s"}
		if got.kinds != 0 && got.kinds&kindLog == 0 {
			e.kind = got.kinds & -got.kinds // its lowest kind
		}
		if len(got.agents) > 0 {
			e.agent = got.agents[0]
		}
		if len(got.sources) > 0 {
			e.kind, e.source = kindLog, got.sources[0]
		}
		wantMatch := len(got.sources) == 0 || got.kinds == 0 || got.kinds&kindLog != 0
		if got.match(e) != wantMatch {
			t.Fatalf("filter %+v: match(%+v) = %v, want %v", got, e, !wantMatch, wantMatch)
		}
		if len(got.agents) > 0 {
			other := *e
			other.agent = strings.Join(got.agents, ",") + ","
			if got.match(&other) {
				t.Fatalf("filter %+v matches agent %q", got, other.agent)
			}
		}
	})
}

// FuzzParseEventID feeds arbitrary Last-Event-ID values, as the header or
// as the last_event_id parameter. An accepted id formats back to the input
// (leading zeros aside) and parses again to itself; a refusal names the
// parameter it came in.
// Seeds: testdata/fuzz/FuzzParseEventID.
func FuzzParseEventID(f *testing.F) {
	for _, s := range []string{
		"1-0", "2-0", "21-0", "16-1", "99-0", "12", "1-x", "-1-2", "0-0",
		"18446744073709551615-4294967295", "18446744073709551616-0", "1-4294967296",
		"007-010", "+1-2", "1-+2", "1-2-3", " 1-2", "1_0-2", "0x10-1", "",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, header bool) {
		id, err := parseEventID(s)
		if err == nil {
			if got, want := id.String(), canonicalID(s); got != want {
				t.Fatalf("parseEventID(%q) = %s, want %s", s, got, want)
			}
			again, err := parseEventID(id.String())
			if err != nil || again != id {
				t.Fatalf("%s (from %q) parses again as %v, %v", id, s, again, err)
			}
			if id.after(id) || !(eventID{seq: id.seq, idx: id.idx + 1}).after(id) && id.idx != 1<<32-1 {
				t.Fatalf("%s: order broken", id)
			}
		}

		// The same value through the request, as the stream reads it.
		r := httptest.NewRequest("GET", Path+"?"+url.Values{"last_event_id": {s}}.Encode(), nil)
		param := "last_event_id"
		if header {
			r = httptest.NewRequest("GET", Path, nil)
			r.Header.Set("Last-Event-ID", s)
			param = "Last-Event-ID"
		}
		got, resume, rerr := lastEventID(r)
		switch {
		case s == "":
			if rerr != nil || resume {
				t.Fatalf("empty %s: resume %v, err %v", param, resume, rerr)
			}
		case err != nil:
			var pe *paramError
			if rerr == nil || !errors.As(rerr, &pe) || pe.param != param || resume {
				t.Fatalf("%s %q: parse refuses (%v), request gives resume %v, err %v", param, s, err, resume, rerr)
			}
		case rerr != nil || !resume || got != id:
			t.Fatalf("%s %q: parse gives %v, request gives %v, resume %v, err %v", param, s, id, got, resume, rerr)
		}
	})
}

// canonicalID is s, a valid "<seq>-<index>", without leading zeros.
func canonicalID(s string) string {
	seq, idx, _ := strings.Cut(s, "-")
	trim := func(n string) string {
		if n = strings.TrimLeft(n, "0"); n == "" {
			return "0"
		}
		return n
	}
	return trim(seq) + "-" + trim(idx)
}
