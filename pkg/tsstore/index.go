package tsstore

import (
	"slices"

	"github.com/prometheus/prometheus/model/labels"
)

// selectSeries returns the series matching all matchers, sorted by ref, in a
// slice the caller owns. No matchers select every series.
//
// A matcher that does not match the empty string selects the union of the
// postings of the values it matches. A matcher that does match "" also
// selects series without the label, so it is applied by subtracting the
// postings of the values it does not match, as the TSDB does.
func (s *Store) selectSeries(ms []*labels.Matcher) []*memSeries {
	s.mu.RLock()
	defer s.mu.RUnlock()

	var include, exclude [][]*memSeries
	for _, m := range ms {
		if m.Matches("") {
			exclude = append(exclude, s.postingsFor(m, false)...)
			continue
		}
		lists := s.postingsFor(m, true)
		if len(lists) == 0 {
			return nil
		}
		include = append(include, union(lists))
	}

	var res []*memSeries
	if len(include) == 0 {
		res = slices.Clone(s.all)
	} else {
		slices.SortFunc(include, func(a, b []*memSeries) int { return len(a) - len(b) })
		res = slices.Clone(include[0])
		for _, l := range include[1:] {
			res = intersect(res, l)
			if len(res) == 0 {
				return nil
			}
		}
	}
	if len(exclude) > 0 {
		res = subtract(res, union(exclude))
	}
	return res
}

// postingsFor returns the postings lists of the values of m's label that m
// matches (want true) or does not match (want false). The caller holds mu.
func (s *Store) postingsFor(m *labels.Matcher, want bool) [][]*memSeries {
	vals := s.postings[m.Name]
	if len(vals) == 0 {
		return nil
	}
	switch {
	case want && m.Type == labels.MatchEqual,
		!want && m.Type == labels.MatchNotEqual:
		if l := vals[m.Value]; len(l) > 0 {
			return [][]*memSeries{l}
		}
		return nil
	case want && m.Type == labels.MatchRegexp:
		// An alternation of literals ("a|b|c") is looked up, not scanned.
		if set := m.SetMatches(); len(set) > 0 {
			var out [][]*memSeries
			for _, v := range set {
				if l := vals[v]; len(l) > 0 {
					out = append(out, l)
				}
			}
			return out
		}
	}
	var out [][]*memSeries
	for v, l := range vals {
		if m.Matches(v) == want {
			out = append(out, l)
		}
	}
	return out
}

func byRef(a, b *memSeries) int { return cmpUint(a.ref, b.ref) }

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// union merges ref-sorted lists into one new ref-sorted list without
// duplicates (or returns the only list as is).
func union(lists [][]*memSeries) []*memSeries {
	switch len(lists) {
	case 0:
		return nil
	case 1:
		return lists[0]
	}
	n := 0
	for _, l := range lists {
		n += len(l)
	}
	out := make([]*memSeries, 0, n)
	for _, l := range lists {
		out = append(out, l...)
	}
	slices.SortFunc(out, byRef)
	return slices.Compact(out)
}

// intersect keeps in a (which it may overwrite) the series also in b.
func intersect(a, b []*memSeries) []*memSeries {
	out := a[:0]
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i].ref < b[j].ref:
			i++
		case a[i].ref > b[j].ref:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// subtract keeps in a (which it may overwrite) the series not in b.
func subtract(a, b []*memSeries) []*memSeries {
	out := a[:0]
	j := 0
	for _, x := range a {
		for j < len(b) && b[j].ref < x.ref {
			j++
		}
		if j < len(b) && b[j].ref == x.ref {
			continue
		}
		out = append(out, x)
	}
	return out
}
