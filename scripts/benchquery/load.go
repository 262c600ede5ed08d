package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// writeTarget is a remote-write 1.0 receiver.
type writeTarget struct {
	url    string
	token  string // bearer token, "" for none; never printed
	client *http.Client
}

// loadResult is how one system took the load.
type loadResult struct {
	acked    time.Duration // first request sent to last one answered
	failed   int           // requests refused for good
	firstErr string
	retries  int64
}

// sendAll posts every body to t with senders requests in flight, in order:
// requests are handed out in sending order, and request r is only sent
// once request r-groups (the same series' previous slice) was answered, so
// each series reaches the receiver in time order, as Prometheus without an
// out-of-order window requires. A request answered 5xx or 429, or not at
// all, is retried a few times; one refused with another 4xx is counted as
// failed and the load goes on, so the report can say how much is missing.
func sendAll(ctx context.Context, t writeTarget, bodies [][]byte, groups, senders int) loadResult {
	done := make([]chan struct{}, len(bodies))
	for i := range done {
		done[i] = make(chan struct{})
	}
	next := make(chan int)
	var (
		mu      sync.Mutex
		res     loadResult
		retries atomic.Int64
		wg      sync.WaitGroup
	)
	start := time.Now()
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range next {
				if r >= groups {
					select {
					case <-done[r-groups]:
					case <-ctx.Done():
					}
				}
				err := postWithRetry(ctx, t, bodies[r], &retries)
				close(done[r])
				if err != nil {
					mu.Lock()
					res.failed++
					if res.firstErr == "" {
						res.firstErr = fmt.Sprintf("request %d: %v", r, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for r := range bodies {
		select {
		case next <- r:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
	res.acked = time.Since(start)
	res.retries = retries.Load()
	if err := ctx.Err(); err != nil && res.firstErr == "" {
		res.firstErr = err.Error()
		res.failed = -1
	}
	return res
}

// errPermanent marks an answer that retrying cannot change.
var errPermanent = errors.New("refused")

func postWithRetry(ctx context.Context, t writeTarget, body []byte, retries *atomic.Int64) error {
	backoff := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := post(ctx, t, body)
		if err == nil || errors.Is(err, errPermanent) || attempt == 5 || ctx.Err() != nil {
			return err
		}
		retries.Add(1)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

// post sends one remote-write request as Prometheus does.
func post(ctx context.Context, t writeTarget, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("remote write: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	req.Header.Set("User-Agent", "lightmetrics-benchquery")
	if t.token != "" {
		req.Header.Set("Authorization", "Bearer "+t.token)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return fmt.Errorf("remote write: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("remote write: %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests {
		return fmt.Errorf("%w: %w", errPermanent, err)
	}
	return err
}
