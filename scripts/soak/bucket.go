package main

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/lightmetrics/lightmetrics/pkg/codec"
	"github.com/lightmetrics/lightmetrics/pkg/objstore"
	"github.com/lightmetrics/lightmetrics/pkg/segment"
)

type agentSeq struct {
	agent string
	seq   uint64
}

// stored is what one collector group holds in the bucket: how many times
// each (agent, seq) is there, read back object by object.
type stored struct {
	count   map[agentSeq]int
	objects int
	// problems are objects or records that are wrong in themselves: they
	// do not decode, a record's body is not the batch its identity names,
	// a simulated batch's seq stamp differs, two segments of a collector
	// cover overlapping spool ranges.
	problems []string
}

func (s *stored) problem(format string, args ...any) {
	if len(s.problems) < 20 {
		s.problems = append(s.problems, fmt.Sprintf(format, args...))
	}
}

// byAgent groups the stored sequence numbers per agent.
func (s *stored) byAgent() map[string]map[uint64]int {
	out := map[string]map[uint64]int{}
	for k, n := range s.count {
		if out[k.agent] == nil {
			out[k.agent] = map[uint64]int{}
		}
		out[k.agent][k.seq] += n
	}
	return out
}

// readManifest lists the accepted manifest (one object per acknowledged
// (agent, seq) of the s3_manifest group) and reads every entry back.
func readManifest(ctx context.Context, b objstore.Bucket) (*stored, error) {
	s := &stored{count: map[agentSeq]int{}}
	var keys []string
	err := b.List(ctx, segment.ManifestDir, "", func(info objstore.ObjectInfo) error {
		keys = append(keys, info.Key)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list manifest: %w", err)
	}
	s.objects = len(keys)
	// The followers read the manifest agent by agent; a second listing that
	// way must find the same entries as the recursive one.
	if n, err := countPerAgent(ctx, b); err != nil {
		return nil, err
	} else if n != len(keys) {
		s.problem("listings disagree: %d entries listed recursively, %d agent by agent", len(keys), n)
	}
	var mu sync.Mutex
	err = readAll(ctx, b, keys, func(key string, data []byte, dec *codec.Decoder) {
		kind, agent, seq, perr := segment.ParseManifestKey(key)
		mu.Lock()
		defer mu.Unlock()
		if perr != nil {
			s.problem("manifest key %s: %v", key, perr)
			return
		}
		s.count[agentSeq{agent, seq}]++
		seg, err := segment.Decode(data, segment.DefaultCaps())
		if err != nil {
			s.problem("manifest entry %s does not decode: %v", key, err)
			return
		}
		if len(seg.Records) != 1 || seg.Records[0].Kind != kind || seg.Records[0].AgentID != agent || seg.Records[0].Seq != seq {
			s.problem("manifest entry %s does not hold exactly batch %s/%d", key, agent, seq)
			return
		}
		if msg := checkBody(dec, seg.Records[0]); msg != "" {
			s.problem("manifest entry %s: %s", key, msg)
		}
	})
	return s, err
}

// countPerAgent counts the manifest entries the way the followers list
// them: the agent directories, then each directory.
func countPerAgent(ctx context.Context, b objstore.Bucket) (int, error) {
	n := 0
	for _, kind := range []string{"a", "r"} {
		dirs, err := b.Dirs(ctx, segment.ManifestDir+kind+"/")
		if err != nil {
			return 0, fmt.Errorf("list manifest agents: %w", err)
		}
		for _, d := range dirs {
			if err := b.List(ctx, d, "", func(objstore.ObjectInfo) error { n++; return nil }); err != nil {
				return 0, fmt.Errorf("list %s: %w", d, err)
			}
		}
	}
	return n, nil
}

// readSegments lists the landed segments of a local_spool group and counts
// every record in them.
func readSegments(ctx context.Context, b objstore.Bucket) (*stored, error) {
	s := &stored{count: map[agentSeq]int{}}
	var keys []string
	err := b.List(ctx, segment.BatchesDir, "", func(info objstore.ObjectInfo) error {
		keys = append(keys, info.Key)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	s.objects = len(keys)
	type span struct{ first, last uint64 }
	spans := map[string][]span{}
	var mu sync.Mutex
	err = readAll(ctx, b, keys, func(key string, data []byte, dec *codec.Decoder) {
		c, first, last, perr := segment.ParseBatchKey(key)
		seg, err := segment.Decode(data, segment.DefaultCaps())
		mu.Lock()
		defer mu.Unlock()
		if perr != nil {
			s.problem("segment key %s: %v", key, perr)
			return
		}
		spans[c] = append(spans[c], span{first, last})
		if err != nil {
			s.problem("segment %s does not decode: %v", key, err)
			return
		}
		for _, r := range seg.Records {
			s.count[agentSeq{r.AgentID, r.Seq}]++
			if r.SpoolSeq < first || r.SpoolSeq > last {
				s.problem("segment %s holds spool seq %d outside its key's range", key, r.SpoolSeq)
			}
			if msg := checkBody(dec, r); msg != "" {
				s.problem("segment %s record %s/%d: %s", key, r.AgentID, r.Seq, msg)
			}
		}
	})
	for c, ss := range spans {
		sort.Slice(ss, func(i, j int) bool { return ss[i].first < ss[j].first })
		for i := 1; i < len(ss); i++ {
			if ss[i].first <= ss[i-1].last {
				s.problem("collector %s: segments %d-%d and %d-%d overlap", c, ss[i-1].first, ss[i-1].last, ss[i].first, ss[i].last)
			}
		}
	}
	return s, err
}

// checkBody decodes a stored body and checks it is the batch its record
// names, and for simulated agents that its seq stamp agrees.
func checkBody(dec *codec.Decoder, r segment.Record) string {
	b, err := dec.Decode(r.Body)
	if err != nil {
		return "body does not decode: " + err.Error()
	}
	if b.AgentID != r.AgentID || b.Seq != r.Seq {
		return fmt.Sprintf("body is batch %s/%d", b.AgentID, b.Seq)
	}
	for _, sr := range b.Series {
		if sr.Name == seqSeries && (len(sr.Samples) != 1 || sr.Samples[0].Value != float64(r.Seq)) {
			return fmt.Sprintf("seq stamp %v differs from seq", sr.Samples)
		}
	}
	return ""
}

// readAll GETs keys with bounded concurrency, one decoder per worker. It
// returns the first error and stops handing out keys after it.
func readAll(ctx context.Context, b objstore.Bucket, keys []string, fn func(key string, data []byte, dec *codec.Decoder)) error {
	const workers = 16
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan string)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dec, err := codec.NewDecoder(codec.DefaultCaps())
			if err != nil {
				fail(err)
				return
			}
			defer dec.Close()
			for k := range ch {
				data, err := b.Get(ctx, k, 0)
				if err != nil {
					fail(fmt.Errorf("get %s: %w", k, err))
					continue
				}
				fn(k, data, dec)
			}
		}()
	}
feed:
	for _, k := range keys {
		select {
		case ch <- k:
		case <-ctx.Done():
			break feed
		}
	}
	close(ch)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return firstErr
}
