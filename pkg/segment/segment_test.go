package segment

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func sample() *Segment {
	return &Segment{Collector: "c1-0a1b", Records: []Record{
		{Kind: 'a', AgentID: "web-1", Seq: 7, SpoolSeq: 100, ReceivedNs: 1_700_000_000_123, Body: []byte("body-one")},
		{Kind: 'r', AgentID: "prom", Seq: 1<<63 + 5, SpoolSeq: 101, ReceivedNs: -1, Body: nil},
		{Kind: 'a', AgentID: "", Seq: 0, SpoolSeq: 102, ReceivedNs: 0, Body: bytes.Repeat([]byte{0xff}, 300)},
	}}
}

func TestRoundTrip(t *testing.T) {
	s := sample()
	b := Encode(nil, s)
	if len(b) != EncodedSize(s) {
		t.Fatalf("EncodedSize = %d, Encode wrote %d", EncodedSize(s), len(b))
	}
	got, err := Decode(b, DefaultCaps())
	if err != nil {
		t.Fatal(err)
	}
	if got.Collector != s.Collector || len(got.Records) != len(s.Records) {
		t.Fatalf("decoded %+v", got)
	}
	for i, r := range got.Records {
		w := s.Records[i]
		if r.Kind != w.Kind || r.AgentID != w.AgentID || r.Seq != w.Seq || r.SpoolSeq != w.SpoolSeq ||
			r.ReceivedNs != w.ReceivedNs || !bytes.Equal(r.Body, w.Body) {
			t.Errorf("record %d = %+v, want %+v", i, r, w)
		}
	}
	// Appending to a non-empty buffer must checksum only the segment.
	b2 := Encode([]byte("prefix"), s)
	if _, err := Decode(b2[len("prefix"):], DefaultCaps()); err != nil {
		t.Fatalf("encode after a prefix: %v", err)
	}
}

func TestDecodeRefuses(t *testing.T) {
	good := Encode(nil, sample())
	flip := bytes.Clone(good)
	flip[20] ^= 1
	caps := DefaultCaps()
	small := caps
	small.MaxBodyBytes = 100
	few := caps
	few.MaxRecords = 2
	cases := []struct {
		name string
		in   []byte
		caps Caps
	}{
		{"empty", nil, caps},
		{"short", good[:6], caps},
		{"bad magic", append([]byte("XXXX"), good[4:]...), caps},
		{"bit flip", flip, caps},
		{"truncated", good[:len(good)-10], caps},
		{"body over cap", good, small},
		{"records over cap", good, few},
		{"version", func() []byte { b := bytes.Clone(good); b[4] = 9; return b }(), caps},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Decode(c.in, c.caps); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestKeys(t *testing.T) {
	k := BatchKey("c1", 1_700_000_000_000_000_000, 5, 1234)
	if want := "v1/batches/2023/11/14/22/c1/00000000000000000005-00000000000000001234.lmb"; k != want {
		t.Fatalf("BatchKey = %q, want %q", k, want)
	}
	c, f, l, err := ParseBatchKey(k)
	if err != nil || c != "c1" || f != 5 || l != 1234 {
		t.Fatalf("ParseBatchKey = %q %d %d %v", c, f, l, err)
	}
	m := ManifestKey('a', "web-1", 42)
	kind, agent, seq, err := ParseManifestKey(m)
	if err != nil || kind != 'a' || agent != "web-1" || seq != 42 {
		t.Fatalf("ParseManifestKey(%q) = %c %q %d %v", m, kind, agent, seq, err)
	}
	// Zero padding keeps key order equal to numeric order.
	if !(ManifestKey('a', "x", 9) < ManifestKey('a', "x", 10)) {
		t.Fatal("manifest keys do not sort numerically")
	}
	for _, bad := range []string{"v1/manifest/a/x/12", "v1/manifest/ab/x/1.lmb", "v1/manifest/a//1.lmb", "v1/batches/x.lmb", "v1/manifest/a/x/zz.lmb"} {
		if _, _, _, err := ParseManifestKey(bad); err == nil {
			t.Errorf("ParseManifestKey(%q) accepted", bad)
		}
	}
	if _, _, _, err := ParseBatchKey("v1/batches/2023/11/14/22/c1/5.lmb"); err == nil {
		t.Error("ParseBatchKey accepted a name without a range")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(nil, sample()))
	f.Add(Encode(nil, &Segment{}))
	f.Add([]byte("LMSG\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(b, DefaultCaps())
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error not ErrCorrupt: %v", err)
			}
			return
		}
		// Whatever decodes must encode back to the same bytes.
		if re := Encode(nil, s); !bytes.Equal(re, b) {
			t.Fatalf("re-encode differs: %x vs %x", re, b)
		}
	})
}

// FuzzParseKeys: keys come from bucket listings, which anyone with write
// access to the bucket can fill; parsing must never panic and must
// round-trip what it accepts.
func FuzzParseKeys(f *testing.F) {
	f.Add(ManifestKey('a', "web-1", 42))
	f.Add(BatchKey("c1", 1_700_000_000_000_000_000, 5, 1234))
	f.Add("v1/manifest/a//1.lmb")
	f.Add("v1/batches/2023/11/14/22/c1/5-x.lmb")
	f.Fuzz(func(t *testing.T, key string) {
		if kind, agent, seq, err := ParseManifestKey(key); err == nil {
			k2, a2, s2, err := ParseManifestKey(ManifestKey(kind, agent, seq))
			if err != nil || k2 != kind || a2 != agent || s2 != seq || strings.Contains(agent, "/") {
				t.Fatalf("%q parsed to (%c, %q, %d), which does not round-trip: %v", key, kind, agent, seq, err)
			}
		}
		if c, first, last, err := ParseBatchKey(key); err == nil {
			c2, f2, l2, err := ParseBatchKey(BatchKey(c, 0, first, last))
			if err != nil || c2 != c || f2 != first || l2 != last || strings.Contains(c, "/") {
				t.Fatalf("%q parsed to (%q, %d, %d), which does not round-trip: %v", key, c, first, last, err)
			}
		}
	})
}
