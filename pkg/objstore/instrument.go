package objstore

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Instrument counts b's requests by operation and outcome (ok, not_found,
// exists, error), their latency, and the bytes written and read, on reg. A
// nil reg gets a private registry, never the global one. Instrumenting
// several buckets on one registry adds them up in the same series.
func Instrument(b Bucket, reg prometheus.Registerer) Bucket {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	return &instrumented{b: b,
		requests: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lightmetrics_objstore_requests_total",
			Help: "Object-store requests by operation and outcome (ok, not_found, exists, error).",
		}, []string{"op", "outcome"})),
		seconds: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lightmetrics_objstore_request_duration_seconds",
			Help: "Object-store request latency by operation.",
			// 1 ms to ~16 s: a local MinIO answers in milliseconds, a
			// store that is down hits the request timeout.
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"op"})),
		written: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lightmetrics_objstore_bytes_written_total",
			Help: "Bytes written to the object store by successful puts and creates.",
		})),
		read: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lightmetrics_objstore_bytes_read_total",
			Help: "Bytes read from the object store by successful gets.",
		})),
	}
}

// register registers c on reg, or returns the collector already registered
// under the same description, so a second Instrument on one registry
// shares the series instead of panicking.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		// Only a programming error (a clashing metric of another type)
		// gets here: fail as MustRegister would.
		panic(err)
	}
	return c
}

type instrumented struct {
	b             Bucket
	requests      *prometheus.CounterVec
	seconds       *prometheus.HistogramVec
	written, read prometheus.Counter
}

func (m *instrumented) done(op string, start time.Time, err error) {
	outcome := "ok"
	switch {
	case errors.Is(err, ErrNotExist):
		outcome = "not_found"
	case errors.Is(err, ErrExists):
		outcome = "exists"
	case err != nil:
		outcome = "error"
	}
	m.requests.WithLabelValues(op, outcome).Inc()
	m.seconds.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

func (m *instrumented) String() string { return m.b.String() }

func (m *instrumented) Put(ctx context.Context, key string, data []byte) (ObjectInfo, error) {
	start := time.Now()
	info, err := m.b.Put(ctx, key, data)
	m.done("put", start, err)
	if err == nil {
		m.written.Add(float64(len(data)))
	}
	return info, err
}

func (m *instrumented) Create(ctx context.Context, key string, data []byte) (ObjectInfo, error) {
	start := time.Now()
	info, err := m.b.Create(ctx, key, data)
	m.done("create", start, err)
	if err == nil {
		m.written.Add(float64(len(data)))
	}
	return info, err
}

func (m *instrumented) Get(ctx context.Context, key string, maxBytes int64) ([]byte, error) {
	start := time.Now()
	data, err := m.b.Get(ctx, key, maxBytes)
	m.done("get", start, err)
	if err == nil {
		m.read.Add(float64(len(data)))
	}
	return data, err
}

func (m *instrumented) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	start := time.Now()
	info, err := m.b.Stat(ctx, key)
	m.done("stat", start, err)
	return info, err
}

// List's duration includes the time fn takes: the listing and the caller's
// work interleave page by page and cannot be told apart from outside.
func (m *instrumented) List(ctx context.Context, prefix, startAfter string, fn func(ObjectInfo) error) error {
	start := time.Now()
	var fnErr error
	err := m.b.List(ctx, prefix, startAfter, func(info ObjectInfo) error {
		fnErr = fn(info)
		return fnErr
	})
	outcome := err
	if err != nil && err == fnErr {
		// The caller stopped the listing; the store did nothing wrong.
		outcome = nil
	}
	m.done("list", start, outcome)
	return err
}

func (m *instrumented) Dirs(ctx context.Context, prefix string) ([]string, error) {
	start := time.Now()
	dirs, err := m.b.Dirs(ctx, prefix)
	m.done("dirs", start, err)
	return dirs, err
}

func (m *instrumented) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := m.b.Delete(ctx, key)
	m.done("delete", start, err)
	return err
}
