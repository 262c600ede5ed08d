package uplink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Queue is what Drain needs of the agent's local queue. Scan visits records
// with seq >= from in ascending order; Delete removes acknowledged records;
// MoveAside takes a refused record out of the way, keeping it for inspection.
type Queue interface {
	Scan(ctx context.Context, from uint64, fn func(seq uint64, data []byte) error) error
	Delete(ctx context.Context, seqs ...uint64) error
	MoveAside(ctx context.Context, seq uint64, reason string) error
}

// Report says what one Drain did.
type Report struct {
	Sent           int      // acknowledged as accepted
	Duplicates     int      // acknowledged as already stored
	MovedAside     int      // refused for good and moved aside
	MovedAsideSeqs []uint64 // their sequence numbers, ascending
	Retries        int      // attempts beyond the first, over all batches
	Bytes          int64    // encoded bytes of the acknowledged batches
	// LastError is the most recent failure seen, including ones a retry
	// overcame and refusals that moved a batch aside; nil when none.
	LastError error
}

const (
	// scanChunk bounds how many records are copied out of the queue per
	// Scan. Sending happens outside Scan so no read transaction stays open
	// across network round trips.
	scanChunk      = 16
	scanChunkBytes = 8 << 20
	// finalDeleteTimeout bounds recording acks after ctx has ended: without
	// it those batches would be sent again (harmless, answered duplicate).
	finalDeleteTimeout = 5 * time.Second
)

var errChunkFull = errors.New("uplink: chunk full")

type record struct {
	seq  uint64
	data []byte
}

// Drain sends the queued batches oldest first. A batch leaves the queue only
// after a collector acknowledged it (accepted or duplicate) with its own
// sequence number. A permanent refusal moves the batch aside with the status
// and the collector's reason, and Drain goes on with the next one. A
// transient failure is retried with exponential backoff and jitter (longer
// when the collector asks with Retry-After) up to MaxAttempts times or until
// ctx ends; then Drain returns the error and the batch stays queued. A setup
// failure (wrong token, wrong URL) returns at once, data kept. It returns nil
// once the queue has been emptied as far as it could see.
func (c *Client) Drain(ctx context.Context, q Queue) (rep Report, err error) {
	var acked []uint64
	flush := func(ctx context.Context) error {
		if len(acked) == 0 {
			return nil
		}
		if err := q.Delete(ctx, acked...); err != nil {
			return fmt.Errorf("uplink: drain: delete acknowledged %d..%d: %w", acked[0], acked[len(acked)-1], err)
		}
		acked = acked[:0]
		return nil
	}
	defer func() {
		// Acknowledged batches are recorded even when the drain stops early.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalDeleteTimeout)
		defer cancel()
		if ferr := flush(dctx); ferr != nil && err == nil {
			err = ferr
		}
	}()

	var from uint64
	for {
		chunk, err := scanFrom(ctx, q, from)
		if err != nil {
			return rep, err
		}
		if len(chunk) == 0 {
			return rep, nil
		}
		for _, r := range chunk {
			from = r.seq + 1
			ack, err := c.deliver(ctx, q, r, &rep)
			if err != nil {
				return rep, err
			}
			if ack != nil {
				acked = append(acked, r.seq)
			}
		}
		if err := flush(ctx); err != nil {
			return rep, err
		}
	}
}

// scanFrom copies up to one chunk of records with seq >= from out of q.
func scanFrom(ctx context.Context, q Queue, from uint64) ([]record, error) {
	var out []record
	size := 0
	err := q.Scan(ctx, from, func(seq uint64, data []byte) error {
		if seq < from {
			return nil // tolerate a queue that starts earlier than asked
		}
		out = append(out, record{seq: seq, data: bytes.Clone(data)})
		size += len(data)
		if len(out) >= scanChunk || size >= scanChunkBytes {
			return errChunkFull
		}
		return nil
	})
	if err != nil && !errors.Is(err, errChunkFull) {
		return nil, fmt.Errorf("uplink: drain: scan queue from %d: %w", from, err)
	}
	return out, nil
}

// deliver gets one record acknowledged or moved aside. It returns the ack
// when the record may be deleted, nil when it was moved aside, and an error
// when the drain must stop with the record kept.
func (c *Client) deliver(ctx context.Context, q Queue, r record, rep *Report) (*Ack, error) {
	for attempt := 1; ; attempt++ {
		ack, err := c.Send(ctx, r.data)
		if err == nil && ack.Seq != r.seq {
			// Deleting on someone else's ack could drop a batch the
			// collector never stored; treat it as a failed attempt.
			err = &TransientError{Err: fmt.Errorf("ack names seq %d, sent seq %d", ack.Seq, r.seq)}
		}
		if err == nil {
			if ack.Status == StatusDuplicate {
				rep.Duplicates++
			} else {
				rep.Sent++
			}
			rep.Bytes += int64(len(r.data))
			return &ack, nil
		}
		err = fmt.Errorf("uplink: send seq %d: %w", r.seq, err)
		rep.LastError = err

		switch {
		case ctx.Err() != nil:
			return nil, err
		case IsPermanent(err):
			var p *PermanentError
			errors.As(err, &p)
			reason := statusReason(p.StatusCode, p.Reason)
			if merr := q.MoveAside(ctx, r.seq, reason); merr != nil {
				return nil, fmt.Errorf("uplink: move seq %d aside (%s): %w", r.seq, reason, merr)
			}
			rep.MovedAside++
			rep.MovedAsideSeqs = append(rep.MovedAsideSeqs, r.seq)
			c.log.Warn("batch refused, moved aside", "seq", r.seq, "status", p.StatusCode, "reason", p.Reason, "endpoint", p.Endpoint)
			return nil, nil
		case IsSetup(err):
			return nil, err
		}
		// Transient (or unknown, which is treated as transient: the data stays).
		if c.maxAttempts > 0 && attempt >= c.maxAttempts {
			return nil, fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
		}
		delay := c.delay(attempt)
		if ra := retryAfter(err); ra > delay {
			delay = ra
		}
		c.log.Info("send failed, will retry", "seq", r.seq, "attempt", attempt, "delay", delay, "err", err)
		if serr := c.sleep(ctx, delay); serr != nil {
			return nil, fmt.Errorf("%w (stopped waiting to retry: %w)", err, serr)
		}
		rep.Retries++
	}
}

// delay is the backoff before attempt+1: Initial·Multiplier^(attempt-1),
// capped at Max, then moved by up to ±Jitter.
func (c *Client) delay(attempt int) time.Duration {
	b := c.backoff
	d := float64(b.Initial) * math.Pow(b.Multiplier, float64(attempt-1))
	if d > float64(b.Max) || math.IsInf(d, 0) || math.IsNaN(d) {
		d = float64(b.Max)
	}
	if b.Jitter > 0 {
		d *= 1 + b.Jitter*(2*rand.Float64()-1)
	}
	return time.Duration(d)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
