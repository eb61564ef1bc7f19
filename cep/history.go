package cep

import (
	"context"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// historyRetry is how long the history loop waits before it offers a failed summary batch again.
const historyRetry = time.Second

// historyFlush bounds the last hand-off to the Recorder when Run ends.
const historyFlush = 5 * time.Second

// historyLoop hands summaries, raw events and log lines to the Recorder until ctx ends, then
// flushes what is queued within historyFlush. Summaries go first and are retried until they are
// taken; raw events and log lines that arrive while the Recorder is busy wait in bounded buffers
// and are shed (and counted) when those are full.
func (e *Engine) historyLoop(ctx context.Context) {
	h := historyState{e: e, raw: make([]model.HealthSample, 0, min(e.opt.HistoryBuffer, 4096))}
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), historyFlush)
			h.drain(fctx)
			cancel()
			return
		case <-e.hist.ready:
		case <-e.rawWake:
		case <-e.logs.ready:
		}
		if !h.drain(ctx) {
			// A summary batch failed: wait before offering it again.
			t := e.opt.Clock.NewTicker(historyRetry)
			select {
			case <-ctx.Done():
			case <-t.C():
			}
			t.Stop()
			e.hist.signal()
		}
	}
}

// historyState holds the history loop's spare slices.
type historyState struct {
	e    *Engine
	sums []model.Summary
	raw  []model.HealthSample
	logs []model.LogEntry
}

// drain offers everything queued to the Recorder once. It reports false when the summaries could
// not be handed over (they are queued again, ahead of newer ones).
func (h *historyState) drain(ctx context.Context) bool {
	e := h.e
	ok := true
	h.sums = e.hist.take(h.sums)
	if len(h.sums) > 0 {
		if err := e.opt.Recorder.RecordSummaries(ctx, h.sums); err != nil {
			e.errs.history.Add(1)
			e.log.Warn("record_summaries_failed", "summaries", len(h.sums), "err", err)
			e.hist.putBack(h.sums)
			h.sums = nil // now owned by the queue
			ok = false
		}
	}

	clear(h.raw)
	e.mu.Lock()
	h.raw, e.raw = e.raw, h.raw[:0]
	e.mu.Unlock()
	if len(h.raw) > 0 {
		if err := e.opt.Recorder.RecordHealth(ctx, h.raw); err != nil {
			e.errs.history.Add(1)
			e.mu.Lock()
			e.rawShed += uint64(len(h.raw))
			e.mu.Unlock()
			e.log.Warn("record_health_failed", "events", len(h.raw), "err", err)
		}
	}

	h.logs = e.logs.take(h.logs)
	if len(h.logs) > 0 {
		if err := e.opt.Recorder.RecordLogs(ctx, h.logs); err != nil {
			e.errs.history.Add(1)
			e.logs.mu.Lock()
			e.logs.shed += uint64(len(h.logs))
			e.logs.mu.Unlock()
			e.log.Warn("record_logs_failed", "lines", len(h.logs), "err", err)
		}
	}
	return ok
}
