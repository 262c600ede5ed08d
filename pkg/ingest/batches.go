package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/lightmetrics/lightmetrics/pkg/codec"
	"github.com/lightmetrics/lightmetrics/pkg/limits"
)

// serveBatch handles POST /v1/batches for an authenticated agent: read the
// body within its cap, check whose batch it is from the header alone,
// decode within the caps, validate the limits, and make it durable.
func (h *Handler) serveBatch(w http.ResponseWriter, r *http.Request, agentID string) (int, *refusal) {
	code, rf := h.serveBatchBody(w, r, agentID)
	if rf != nil {
		rf.agentID = agentID
	}
	return code, rf
}

func (h *Handler) serveBatchBody(w http.ResponseWriter, r *http.Request, agentID string) (int, *refusal) {
	data, rf := h.readBody(w, r)
	if rf != nil {
		return 0, rf
	}
	hdr, err := codec.PeekHeader(data)
	if err != nil {
		return 0, &refusal{status: http.StatusBadRequest, reason: reasonMalformed, msg: "malformed batch: " + err.Error()}
	}
	if hdr.AgentID != agentID {
		// Naming the batch's agent is safe (it came from the client) and
		// tells the operator which config is crossed.
		return 0, &refusal{status: http.StatusForbidden, reason: reasonForbidden,
			msg: fmt.Sprintf("token does not belong to agent %q", hdr.AgentID)}
	}
	ctx := r.Context()
	if h.dup != nil {
		// Answer a re-sent batch without decoding it; any error here just
		// means we find out at Append.
		if ok, err := h.dup.Durable(ctx, agentID, hdr.Seq); err == nil && ok {
			h.m.batches.WithLabelValues("duplicate").Inc()
			writeJSON(w, http.StatusOK, ackBody{AgentID: agentID, Seq: hdr.Seq, Status: "duplicate"})
			return http.StatusOK, nil
		}
	}
	b, err := h.dec.Decode(data)
	if err != nil {
		return 0, h.decodeRefusal(err)
	}
	if b.AgentID != hdr.AgentID || b.Seq != hdr.Seq {
		return 0, &refusal{status: http.StatusBadRequest, reason: reasonMalformed, msg: "malformed batch: decoded identity differs from its header"}
	}
	if err := h.lim.Validate(b); err != nil {
		return 0, validateRefusal(err)
	}
	res, rf := h.store(ctx, Record{
		AgentID:    agentID,
		Seq:        hdr.Seq,
		Kind:       KindBatch,
		Data:       data,
		Batch:      b,
		ReceivedNs: h.now().UnixNano(),
	})
	if rf != nil {
		return 0, rf
	}
	status := "accepted"
	if res.Duplicate {
		status = "duplicate"
	}
	writeJSON(w, http.StatusOK, ackBody{AgentID: agentID, Seq: hdr.Seq, Status: status})
	return http.StatusOK, nil
}

// store hands rec to the Appender and counts the outcome. Any error means
// the record may not be durable, so the client must retry: 503, never an ack.
func (h *Handler) store(ctx context.Context, rec Record) (Result, *refusal) {
	res, err := h.app.Append(ctx, rec)
	if errors.Is(err, ErrNotSupported) {
		return res, &refusal{status: http.StatusNotImplemented, reason: "not_supported", msg: err.Error()}
	}
	if err != nil {
		what := "storage error"
		if errors.Is(err, ErrUnavailable) {
			what = "storage unavailable"
		}
		return res, &refusal{status: http.StatusServiceUnavailable, reason: reasonUnavailable, retry: true,
			msg: fmt.Sprintf("%s %d not stored (%s), retry later: %v", rec.Kind, rec.Seq, what, err)}
	}
	if res.Duplicate {
		h.m.batches.WithLabelValues("duplicate").Inc()
	} else {
		h.m.batches.WithLabelValues("accepted").Inc()
		h.m.samples.Add(float64(rec.Batch.SampleCount()))
		h.m.logs.Add(float64(len(rec.Batch.Logs)))
		h.m.alerts.Add(float64(len(rec.Batch.Alerts)))
	}
	h.log.Debug("ingest record stored", slog.String("kind", rec.Kind.String()), slog.String("agent_id", rec.AgentID),
		slog.Uint64("seq", rec.Seq), slog.Bool("duplicate", res.Duplicate), slog.Uint64("spool_seq", res.SpoolSeq))
	return res, nil
}

// capKeys maps a codec cap to the config key it derives from and the status
// to answer when a body breaks it: 413 for size caps, 422 for count caps.
func (h *Handler) capKey(capName string) (key string, status int) {
	switch capName {
	case "MaxSeries":
		return "max_series_per_batch", http.StatusUnprocessableEntity
	case "MaxLabels":
		return "max_labels_per_series", http.StatusUnprocessableEntity
	case "MaxLogs":
		return "max_logs_per_batch", http.StatusUnprocessableEntity
	case "MaxAlerts":
		return "max_alerts_per_batch", http.StatusUnprocessableEntity
	case "MaxStringBytes":
		return h.stringLimitKey, http.StatusUnprocessableEntity
	case "MaxSamples", "MaxDecodedBytes":
		// The sample cap is derived from max_decoded_bytes: it bounds the
		// memory decoded samples take, so it is reported as that key.
		return "max_decoded_bytes", http.StatusRequestEntityTooLarge
	case "MaxEncodedBytes":
		return "max_body_bytes", http.StatusRequestEntityTooLarge
	default:
		return capName, http.StatusUnprocessableEntity
	}
}

// decodeRefusal turns a codec error into the answer: a broken cap names its
// config key, anything else is malformed input.
func (h *Handler) decodeRefusal(err error) *refusal {
	var ce *codec.CapError
	if errors.As(err, &ce) {
		key, status := h.capKey(ce.Cap)
		msg := fmt.Sprintf("batch exceeds %s: %d, limit %d", key, ce.Value, ce.Max)
		if ce.Cap == "MaxStringBytes" {
			// The decoder has one cap for every string, so all we know is
			// that this string is over every string limit.
			msg = fmt.Sprintf("batch has a string of %d bytes, over every string limit (the largest is %s = %d)", ce.Value, key, ce.Max)
		}
		return limitRefusal(status, key, ce.Value, ce.Max, msg)
	}
	return &refusal{status: http.StatusBadRequest, reason: reasonMalformed, msg: "malformed batch: " + err.Error()}
}

// validateRefusal turns a limits.Validate error into a 422 naming the key.
func validateRefusal(err error) *refusal {
	var v *limits.Violation
	if errors.As(err, &v) {
		if v.Value == 0 && v.Max == 0 {
			// A structural rule (metric_name, duplicate_label, ...): no
			// numbers to report.
			return &refusal{status: http.StatusUnprocessableEntity, reason: v.Limit, limit: v.Limit, msg: v.Error()}
		}
		return limitRefusal(http.StatusUnprocessableEntity, v.Limit, v.Value, v.Max, v.Error())
	}
	return &refusal{status: http.StatusUnprocessableEntity, reason: "limits", limit: "limits", msg: err.Error()}
}
