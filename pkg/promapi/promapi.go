// Package promapi serves the Prometheus HTTP query API over any
// storage.Queryable, evaluating PromQL with the Prometheus promql engine, so
// that Grafana's Prometheus data source and promtool work against
// Lightmetrics.
//
// Endpoints: /api/v1/query, /api/v1/query_range, /api/v1/series,
// /api/v1/labels and /api/v1/label/<name>/values (GET and form POST), plus
// /api/v1/status/buildinfo, /api/v1/metadata and /api/v1/query_exemplars,
// which Grafana calls and which answer minimal valid documents. Responses
// and errors have Prometheus's JSON shape and status codes.
//
// The handler does no authentication: the caller wraps it.
package promapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
)

// Defaults for zero Options fields, those of the [query] section.
const (
	DefaultMaxSamples    = 50_000_000
	DefaultTimeout       = 2 * time.Minute
	DefaultLookbackDelta = 5 * time.Minute
	DefaultMaxSeries     = 100_000
	DefaultMaxConcurrent = 20
	// DefaultVersion is the Prometheus version reported by buildinfo:
	// clients such as Grafana pick API features by it, and the engine
	// here is Prometheus 3's.
	DefaultVersion = "3.0.0"
)

// Options configure a Handler.
type Options struct {
	// MaxSamples caps the samples one query may hold in memory; over it the
	// query fails with errorType "execution" (422).
	MaxSamples int
	// Timeout caps a query's evaluation; over it the query fails with
	// errorType "timeout" (503). A request's timeout parameter can only
	// shorten it.
	Timeout time.Duration
	// LookbackDelta is how far back an instant selector looks for a sample.
	LookbackDelta time.Duration
	// MaxSeries caps the results of /series, /labels and /label/<n>/values;
	// longer results are truncated with a warning. Negative: no cap.
	MaxSeries int
	// MaxConcurrent caps the queries evaluated at once; others wait (within
	// their timeout).
	MaxConcurrent int
	// Logger receives internal errors; nil discards.
	Logger *slog.Logger
	// Registerer, when set, gets lightmetrics_query_requests_total and
	// lightmetrics_query_request_duration_seconds.
	Registerer prometheus.Registerer
	// Version is reported by /api/v1/status/buildinfo; DefaultVersion when
	// empty. Revision, if set, too.
	Version, Revision string
	// Now gives the default evaluation time of instant queries; time.Now
	// when nil.
	Now func() time.Time
}

// Patterns returns the http.ServeMux patterns the handler serves, for
// mounting it beside other handlers under /api/v1/.
func Patterns() []string {
	return []string{
		"/api/v1/query",
		"/api/v1/query_range",
		"/api/v1/series",
		"/api/v1/labels",
		"/api/v1/label/{name}/values",
		"/api/v1/status/buildinfo",
		"/api/v1/metadata",
		"/api/v1/query_exemplars",
	}
}

// Handler serves the query API. It is safe for concurrent use.
type Handler struct {
	q       storage.Queryable
	engine  *promql.Engine
	parser  parser.Parser
	opts    Options
	mux     *http.ServeMux
	slots   chan struct{}
	metrics *metrics
	bufs    sync.Pool
}

// New returns a handler over q. It fails only when registering its metrics
// fails.
func New(q storage.Queryable, o Options) (*Handler, error) {
	if o.MaxSamples <= 0 {
		o.MaxSamples = DefaultMaxSamples
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.LookbackDelta <= 0 {
		o.LookbackDelta = DefaultLookbackDelta
	}
	if o.MaxSeries == 0 {
		o.MaxSeries = DefaultMaxSeries
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = DefaultMaxConcurrent
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Version == "" {
		o.Version = DefaultVersion
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, fmt.Errorf("promapi: %w", err)
	}
	p := parser.NewParser(parser.Options{})
	h := &Handler{
		q: q,
		engine: promql.NewEngine(promql.EngineOpts{
			Logger:               o.Logger,
			MaxSamples:           o.MaxSamples,
			Timeout:              o.Timeout,
			LookbackDelta:        o.LookbackDelta,
			EnableAtModifier:     true,
			EnableNegativeOffset: true,
			// A subquery without a step evaluates every minute, the
			// default evaluation_interval of Prometheus.
			NoStepSubqueryIntervalFn: func(int64) int64 { return time.Minute.Milliseconds() },
			Parser:                   p,
		}),
		parser:  p,
		opts:    o,
		mux:     http.NewServeMux(),
		slots:   make(chan struct{}, o.MaxConcurrent),
		metrics: m,
	}
	h.route("/api/v1/query", "query", h.query)
	h.route("/api/v1/query_range", "query_range", h.queryRange)
	h.route("/api/v1/series", "series", h.series)
	h.route("/api/v1/labels", "labels", h.labelNames)
	h.route("/api/v1/label/{name}/values", "label_values", h.labelValues)
	h.route("/api/v1/status/buildinfo", "buildinfo", h.buildInfo)
	h.route("/api/v1/metadata", "metadata", h.metadata)
	h.route("/api/v1/query_exemplars", "query_exemplars", h.queryExemplars)
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.write(w, "other", time.Now(), nil, &apiError{typ: errNotFound, err: errors.New("no such endpoint")})
	})
	return h, nil
}

// ServeHTTP routes an API request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// errorType is the errorType field of an error response.
type errorType string

const (
	errBadData   errorType = "bad_data"
	errExec      errorType = "execution"
	errTimeout   errorType = "timeout"
	errCanceled  errorType = "canceled"
	errInternal  errorType = "internal"
	errNotFound  errorType = "not_found"
	statusClosed           = 499 // client closed the connection, nginx's code
)

type apiError struct {
	typ  errorType
	err  error
	code int // overrides the type's status when set
}

func (e *apiError) status() int {
	if e.code != 0 {
		return e.code
	}
	switch e.typ {
	case errBadData:
		return http.StatusBadRequest
	case errExec:
		return http.StatusUnprocessableEntity
	case errCanceled:
		return statusClosed
	case errTimeout:
		return http.StatusServiceUnavailable
	case errNotFound:
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

func badParam(name string, err error) *apiError {
	return &apiError{typ: errBadData, err: fmt.Errorf("invalid parameter %q: %w", name, err)}
}

// engineError maps a query's failure to an API error as Prometheus does.
func engineError(err error) *apiError {
	var (
		canceled promql.ErrQueryCanceled
		timeout  promql.ErrQueryTimeout
		storeErr promql.ErrStorage
	)
	switch {
	case errors.As(err, &canceled):
		return &apiError{typ: errCanceled, err: err}
	case errors.As(err, &timeout), errors.Is(err, context.DeadlineExceeded):
		// A deadline the storage noticed first is a timeout too.
		return &apiError{typ: errTimeout, err: err}
	case errors.As(err, &storeErr):
		return &apiError{typ: errInternal, err: err}
	case errors.Is(err, context.Canceled):
		return &apiError{typ: errCanceled, err: err}
	}
	return &apiError{typ: errExec, err: err}
}

// response is what an endpoint produced: a writer of the data field, the
// annotations to report, and a release to call once the response is
// written (queries hold pooled memory until then).
type response struct {
	data     func([]byte) []byte
	warnings annotations.Annotations
	query    string
	release  func()
}

type endpoint func(r *http.Request) (*response, *apiError)

func (h *Handler) route(pattern, name string, f endpoint) {
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			h.write(w, name, start, nil, &apiError{typ: errBadData, code: http.StatusMethodNotAllowed,
				err: fmt.Errorf("method %s not allowed", r.Method)})
			return
		}
		if err := r.ParseForm(); err != nil {
			h.write(w, name, start, nil, &apiError{typ: errBadData, err: fmt.Errorf("error parsing form values: %w", err)})
			return
		}
		resp, apiErr := f(r)
		h.write(w, name, start, resp, apiErr)
	})
}

func (h *Handler) write(w http.ResponseWriter, name string, start time.Time, resp *response, apiErr *apiError) {
	bp, _ := h.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	b := (*bp)[:0]
	code := http.StatusOK
	if apiErr != nil {
		code = apiErr.status()
		b = appendError(b, string(apiErr.typ), apiErr.err.Error())
		if apiErr.typ == errInternal {
			h.opts.Logger.Error("query API: internal error", "endpoint", name, "err", apiErr.err)
		}
	} else {
		warns, infos := resp.warnings.AsStrings(resp.query, 10, 10)
		b = appendSuccess(b, resp.data, warns, infos)
	}
	if resp != nil && resp.release != nil {
		resp.release()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	if _, err := w.Write(b); err != nil {
		h.opts.Logger.Debug("query API: write response", "endpoint", name, "err", err)
	}
	// Keep small buffers for reuse; let a huge one go.
	if cap(b) <= 1<<20 {
		*bp = b
		h.bufs.Put(bp)
	}
	h.metrics.observe(name, code, start)
}

// acquire waits for a query slot within ctx.
func (h *Handler) acquire(ctx context.Context) (func(), *apiError) {
	select {
	case h.slots <- struct{}{}:
		return func() { <-h.slots }, nil
	case <-ctx.Done():
		return nil, engineError(ctx.Err())
	}
}

// queryContext bounds a query by Options.Timeout, from the request's
// arrival, so that waiting for a slot counts too, and by the request's
// timeout parameter, which can only shorten it.
func (h *Handler) queryContext(r *http.Request) (context.Context, context.CancelFunc, *apiError) {
	d := h.opts.Timeout
	if v := r.FormValue("timeout"); v != "" {
		td, err := parseDuration(v)
		if err != nil {
			return nil, nil, badParam("timeout", err)
		}
		if td <= 0 {
			return nil, nil, badParam("timeout", fmt.Errorf("timeout must be positive, got %s", td))
		}
		d = min(d, td)
	}
	ctx, cancel := context.WithTimeout(r.Context(), d)
	return ctx, cancel, nil
}

func queryOpts(r *http.Request) (promql.QueryOpts, *apiError) {
	var lookback time.Duration
	if v := r.FormValue("lookback_delta"); v != "" {
		d, err := parseDuration(v)
		if err != nil {
			return nil, &apiError{typ: errBadData, err: fmt.Errorf("error parsing lookback delta duration: %w", err)}
		}
		lookback = d
	}
	return promql.NewPrometheusQueryOpts(false, lookback, nil), nil
}

func (h *Handler) query(r *http.Request) (*response, *apiError) {
	limit, err := parseLimit(r.FormValue("limit"))
	if err != nil {
		return nil, badParam("limit", err)
	}
	ts, err := parseTimeParam(r, "time", h.opts.Now())
	if err == nil {
		err = checkEvalTime(ts)
	}
	if err != nil {
		return nil, badParam("time", err)
	}
	return h.run(r, limit, func(ctx context.Context, opts promql.QueryOpts, qs string) (promql.Query, error) {
		return h.engine.NewInstantQuery(ctx, h.q, opts, qs, ts)
	})
}

func (h *Handler) queryRange(r *http.Request) (*response, *apiError) {
	limit, err := parseLimit(r.FormValue("limit"))
	if err != nil {
		return nil, badParam("limit", err)
	}
	start, err := parseTime(r.FormValue("start"))
	if err == nil {
		err = checkEvalTime(start)
	}
	if err != nil {
		return nil, badParam("start", err)
	}
	end, err := parseTime(r.FormValue("end"))
	if err == nil {
		err = checkEvalTime(end)
	}
	if err != nil {
		return nil, badParam("end", err)
	}
	if end.Before(start) {
		return nil, badParam("end", errors.New("end timestamp must not be before start time"))
	}
	step, err := parseDuration(r.FormValue("step"))
	if err != nil {
		return nil, badParam("step", err)
	}
	if step <= 0 {
		return nil, badParam("step", errors.New("zero or negative query resolution step widths are not accepted. Try a positive integer"))
	}
	// The engine steps in whole milliseconds: a finer step is 0 to it, and
	// it divides by the step (a runtime panic, logged with its stack).
	if step < time.Millisecond {
		return nil, badParam("step", errors.New("query resolution step widths below 1ms are not accepted"))
	}
	// Counted in milliseconds as the engine steps: end.Sub(start) stops at
	// 292 years, and the engine's range spans 584.
	if (end.UnixNano()/1e6-start.UnixNano()/1e6)/step.Milliseconds() > maxPoints {
		return nil, &apiError{typ: errBadData, err: errors.New("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")}
	}
	return h.run(r, limit, func(ctx context.Context, opts promql.QueryOpts, qs string) (promql.Query, error) {
		return h.engine.NewRangeQuery(ctx, h.q, opts, qs, start, end, step)
	})
}

// run builds, executes and renders a query; limit > 0 truncates a vector or
// matrix result with a warning.
func (h *Handler) run(r *http.Request, limit int, build func(context.Context, promql.QueryOpts, string) (promql.Query, error)) (*response, *apiError) {
	ctx, cancel, apiErr := h.queryContext(r)
	if apiErr != nil {
		return nil, apiErr
	}
	defer cancel()
	opts, apiErr := queryOpts(r)
	if apiErr != nil {
		return nil, apiErr
	}
	qs := r.FormValue("query")
	qry, err := build(ctx, opts, qs)
	if err != nil {
		return nil, badParam("query", err)
	}
	release, apiErr := h.acquire(ctx)
	if apiErr != nil {
		qry.Close()
		return nil, apiErr
	}
	res := qry.Exec(ctx)
	release()
	if res.Err != nil {
		qry.Close()
		return nil, engineError(res.Err)
	}
	warnings := res.Warnings
	if limit > 0 {
		truncated := false
		switch v := res.Value.(type) {
		case promql.Matrix:
			if len(v) > limit {
				res.Value, truncated = v[:limit], true
			}
		case promql.Vector:
			if len(v) > limit {
				res.Value, truncated = v[:limit], true
			}
		}
		if truncated {
			warnings = warnings.Add(errors.New("results truncated due to limit"))
		}
	}
	value := res.Value
	return &response{
		data:     func(b []byte) []byte { return appendQueryData(b, value) },
		warnings: warnings,
		query:    qs,
		release:  qry.Close,
	}, nil
}

// listLimit combines the request's limit with MaxSeries. It returns the
// cap (0: none) and the warning to give when a result is cut to it.
func (h *Handler) listLimit(r *http.Request) (int, string, *apiError) {
	limit, err := parseLimit(r.FormValue("limit"))
	if err != nil {
		return 0, "", badParam("limit", err)
	}
	if max := h.opts.MaxSeries; max > 0 && (limit == 0 || limit > max) {
		return max, fmt.Sprintf("results truncated to the server's limit of %d", max), nil
	}
	return limit, "results truncated due to limit", nil
}

// hintLimit asks storage for one more than the cap, to tell whether the
// result was cut.
func hintLimit(limit int) int {
	if limit > 0 {
		return limit + 1
	}
	return 0
}

func (h *Handler) rangeParams(r *http.Request) (start, end time.Time, apiErr *apiError) {
	start, err := parseTimeParam(r, "start", minTime)
	if err != nil {
		return start, end, badParam("start", err)
	}
	end, err = parseTimeParam(r, "end", maxTime)
	if err != nil {
		return start, end, badParam("end", err)
	}
	return start, end, nil
}

func (h *Handler) series(r *http.Request) (*response, *apiError) {
	if len(r.Form["match[]"]) == 0 {
		return nil, &apiError{typ: errBadData, err: errors.New("no match[] parameter provided")}
	}
	limit, truncMsg, apiErr := h.listLimit(r)
	if apiErr != nil {
		return nil, apiErr
	}
	start, end, apiErr := h.rangeParams(r)
	if apiErr != nil {
		return nil, apiErr
	}
	sets, err := h.parseMatchers(r.Form["match[]"])
	if err != nil {
		return nil, badParam("match[]", err)
	}
	q, err := h.q.Querier(timestamp.FromTime(start), timestamp.FromTime(end))
	if err != nil {
		return nil, engineError(err)
	}
	defer q.Close()
	ctx := r.Context()
	hints := &storage.SelectHints{
		Start: timestamp.FromTime(start),
		End:   timestamp.FromTime(end),
		Func:  "series", // labels only, no samples
		Limit: hintLimit(limit),
	}
	var set storage.SeriesSet
	if len(sets) == 1 {
		set = q.Select(ctx, false, hints, sets[0]...)
	} else {
		all := make([]storage.SeriesSet, 0, len(sets))
		for _, ms := range sets {
			// Merging needs each set sorted.
			all = append(all, q.Select(ctx, true, hints, ms...))
		}
		set = storage.NewMergeSeriesSet(all, 0, storage.ChainedSeriesMerge)
	}
	var found []labels.Labels
	warnings := set.Warnings()
	for set.Next() {
		if limit > 0 && len(found) == limit {
			warnings.Add(errors.New(truncMsg))
			break
		}
		found = append(found, set.At().Labels())
	}
	if err := set.Err(); err != nil {
		return nil, engineError(err)
	}
	return &response{
		data: func(b []byte) []byte {
			b = append(b, '[')
			for i, ls := range found {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendLabels(b, ls)
			}
			return append(b, ']')
		},
		warnings: warnings,
	}, nil
}

func (h *Handler) labelNames(r *http.Request) (*response, *apiError) {
	return h.labelList(r, func(ctx context.Context, q storage.Querier, hints *storage.LabelHints, ms []*labels.Matcher) ([]string, annotations.Annotations, error) {
		return q.LabelNames(ctx, hints, ms...)
	})
}

func (h *Handler) labelValues(r *http.Request) (*response, *apiError) {
	name := r.PathValue("name")
	// Names that are not valid legacy names come escaped ("U__...").
	if strings.HasPrefix(name, "U__") {
		name = model.UnescapeName(name, model.ValueEncodingEscaping)
	}
	if !model.UTF8Validation.IsValidLabelName(name) {
		return nil, &apiError{typ: errBadData, err: fmt.Errorf("invalid label name: %q", name)}
	}
	return h.labelList(r, func(ctx context.Context, q storage.Querier, hints *storage.LabelHints, ms []*labels.Matcher) ([]string, annotations.Annotations, error) {
		return q.LabelValues(ctx, name, hints, ms...)
	})
}

type labelLister func(ctx context.Context, q storage.Querier, hints *storage.LabelHints, ms []*labels.Matcher) ([]string, annotations.Annotations, error)

// labelList serves /labels and /label/<name>/values: one lookup per match[]
// set (or one without matchers), merged, sorted, capped.
func (h *Handler) labelList(r *http.Request, list labelLister) (*response, *apiError) {
	limit, truncMsg, apiErr := h.listLimit(r)
	if apiErr != nil {
		return nil, apiErr
	}
	start, end, apiErr := h.rangeParams(r)
	if apiErr != nil {
		return nil, apiErr
	}
	sets, err := h.parseMatchers(r.Form["match[]"])
	if err != nil {
		return nil, &apiError{typ: errBadData, err: err}
	}
	if len(sets) == 0 {
		sets = [][]*labels.Matcher{nil}
	}
	q, err := h.q.Querier(timestamp.FromTime(start), timestamp.FromTime(end))
	if err != nil {
		return nil, engineError(err)
	}
	defer q.Close()
	hints := &storage.LabelHints{Limit: hintLimit(limit)}
	var (
		out      []string
		warnings annotations.Annotations
	)
	for _, ms := range sets {
		vals, ws, err := list(r.Context(), q, hints, ms)
		if err != nil {
			return nil, engineError(err)
		}
		warnings.Merge(ws)
		out = append(out, vals...)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
		warnings.Add(errors.New(truncMsg))
	}
	return &response{
		data:     func(b []byte) []byte { return appendStrings(b, out) },
		warnings: warnings,
	}, nil
}

func (h *Handler) buildInfo(*http.Request) (*response, *apiError) {
	fields := [][2]string{
		{"version", h.opts.Version},
		{"revision", h.opts.Revision},
		{"branch", ""},
		{"buildUser", ""},
		{"buildDate", ""},
		{"goVersion", runtime.Version()},
		// No "features": Grafana then treats the source as plain
		// Prometheus (no ruler API).
		{"application", "Lightmetrics"},
	}
	return &response{data: func(b []byte) []byte {
		b = append(b, '{')
		for i, f := range fields {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, f[0])
			b = append(b, ':')
			b = appendString(b, f[1])
		}
		return append(b, '}')
	}}, nil
}

// metadata answers with no metric metadata: the store keeps none.
func (h *Handler) metadata(*http.Request) (*response, *apiError) {
	return &response{data: func(b []byte) []byte { return append(b, "{}"...) }}, nil
}

// queryExemplars answers with no exemplars: the store keeps none.
func (h *Handler) queryExemplars(*http.Request) (*response, *apiError) {
	return &response{data: func(b []byte) []byte { return append(b, "[]"...) }}, nil
}
