package segment

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The key layout under the configured prefix. It is part of the product's
// contract (docs/admin-guide.md): operators write lifecycle rules against it.
const (
	// BatchesDir holds landed segments, by receive hour, then collector.
	BatchesDir = "v1/batches/"
	// ManifestDir holds the s3_manifest accepted entries, one object per
	// (kind, agent, seq), created with If-None-Match: *.
	ManifestDir = "v1/manifest/"
	// CollectorsDir holds each collector's small landing index.
	CollectorsDir = "v1/collectors/"
)

// seqDigits zero-pads sequence numbers so key order is numeric order.
const seqDigits = 20

func formatSeq(v uint64) string {
	s := strconv.FormatUint(v, 10)
	return strings.Repeat("0", seqDigits-len(s)) + s
}

// BatchKey names the segment holding spool records first..last of a
// collector; receivedNs is the first record's receive time, which picks the
// hour directory. Every input is fixed once the records are, so landing the
// same range again writes the same key.
func BatchKey(collector string, receivedNs int64, first, last uint64) string {
	t := time.Unix(0, receivedNs).UTC()
	return fmt.Sprintf("%s%04d/%02d/%02d/%02d/%s/%s-%s%s", BatchesDir,
		t.Year(), t.Month(), t.Day(), t.Hour(), collector, formatSeq(first), formatSeq(last), Ext)
}

// ParseBatchKey returns the collector and spool range of a segment key.
func ParseBatchKey(key string) (collector string, first, last uint64, err error) {
	rest, ok := strings.CutPrefix(key, BatchesDir)
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 6 {
		return "", 0, 0, fmt.Errorf("segment: %q is not a batch key", key)
	}
	name, ok := strings.CutSuffix(parts[5], Ext)
	a, b, ok2 := strings.Cut(name, "-")
	if !ok || !ok2 {
		return "", 0, 0, fmt.Errorf("segment: %q is not a batch key", key)
	}
	if first, err = strconv.ParseUint(a, 10, 64); err == nil {
		last, err = strconv.ParseUint(b, 10, 64)
	}
	if err != nil {
		return "", 0, 0, fmt.Errorf("segment: %q is not a batch key: %w", key, err)
	}
	return parts[4], first, last, nil
}

// ManifestAgentDir is the directory of one agent's manifest entries of a
// kind.
func ManifestAgentDir(kind byte, agentID string) string {
	return ManifestDir + string(kind) + "/" + agentID + "/"
}

// ManifestKey is the accepted-manifest entry of (kind, agent, seq).
func ManifestKey(kind byte, agentID string, seq uint64) string {
	return ManifestAgentDir(kind, agentID) + formatSeq(seq) + Ext
}

// ParseManifestKey is the inverse of ManifestKey.
func ParseManifestKey(key string) (kind byte, agentID string, seq uint64, err error) {
	rest, ok := strings.CutPrefix(key, ManifestDir)
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 3 || len(parts[0]) != 1 || parts[1] == "" {
		return 0, "", 0, fmt.Errorf("segment: %q is not a manifest key", key)
	}
	name, ok := strings.CutSuffix(parts[2], Ext)
	if !ok {
		return 0, "", 0, fmt.Errorf("segment: %q is not a manifest key", key)
	}
	if seq, err = strconv.ParseUint(name, 10, 64); err != nil {
		return 0, "", 0, fmt.Errorf("segment: %q is not a manifest key: %w", key, err)
	}
	return parts[0][0], parts[1], seq, nil
}

// CollectorIndexKey is a collector's landing index object.
func CollectorIndexKey(collector string) string {
	return CollectorsDir + collector + ".json"
}
