package cep

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// historyRetry is how long the history loop waits before it offers a failed summary batch again.
const historyRetry = time.Second

// historyFlush bounds the last hand-off to the Recorder when Run ends.
const historyFlush = 5 * time.Second

// historyChunk bounds the summaries of one RecordSummaries call: the pending summaries become
// model.Summary values a chunk at a time, in one reused slice (480 KB), not a window at once.
const historyChunk = 4096

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
	pend []pending
	sums []model.Summary // one chunk of pend, handed to the Recorder
	raw  []model.HealthSample
	logs []model.LogEntry
}

// drain offers everything queued to the Recorder once. It reports false when the summaries could
// not be handed over (they are queued again, ahead of newer ones).
func (h *historyState) drain(ctx context.Context) bool {
	e := h.e
	ok := true
	h.pend = e.hist.take(h.pend)
	defer func() { h.pend = released(h.pend) }()
	for todo := h.pend; len(todo) > 0; {
		part, n := chunk(todo, historyChunk)
		h.sums = appendSummaries(h.sums[:0], part)
		err := e.opt.Recorder.RecordSummaries(ctx, h.sums)
		clear(h.sums)
		if err != nil {
			e.errs.history.Add(1)
			accepted := 0
			if re, isRefused := errors.AsType[*RefusedError](err); isRefused {
				accepted = min(max(re.Accepted, 0), n)
			}
			rest := without(todo, accepted)
			e.log.Warn("cannot record the summaries", "summaries", weight(todo), "retried", weight(rest), "err", err)
			e.hist.putBack(rest)
			ok = false
			break
		}
		todo = todo[len(part):]
	}

	clear(h.raw)
	e.mu.Lock()
	h.raw, e.raw = e.raw, h.raw[:0]
	e.mu.Unlock()
	if len(h.raw) > 0 {
		if err := e.opt.Recorder.RecordHealth(ctx, h.raw); err != nil {
			e.errs.history.Add(1)
			e.mu.Lock()
			e.rawShed += uint64(refused(err, len(h.raw)))
			e.mu.Unlock()
			e.log.Warn("cannot record the health events", "events", len(h.raw), "err", err)
		}
	}

	h.logs = e.logs.take(h.logs)
	if len(h.logs) > 0 {
		if err := e.opt.Recorder.RecordLogs(ctx, h.logs); err != nil {
			e.errs.history.Add(1)
			e.logs.mu.Lock()
			e.logs.shed += uint64(refused(err, len(h.logs)))
			e.logs.mu.Unlock()
			e.log.Warn("cannot record the log lines", "lines", len(h.logs), "err", err)
		}
	}
	return ok
}

// RefusedError is the error a Recorder returns when it took only part of a batch. For summaries,
// the first Accepted were taken and the rest are offered again later; for raw samples and log
// lines, Refused were dropped (and are counted as shed).
type RefusedError struct {
	Accepted, Refused int
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("cep: history refused %d of %d", e.Refused, e.Accepted+e.Refused)
}

// refused is how many values of a batch of n a failed Recorder call dropped.
func refused(err error, n int) int {
	if re, ok := errors.AsType[*RefusedError](err); ok {
		return min(max(re.Refused, 0), n)
	}
	return n
}

// historyWriter is what the engine needs from a history store (history.Memory and
// history.ClickHouse have it): calls that do not block, copy what they keep and return false when
// they refuse a value.
type historyWriter interface {
	RecordHealth(samples ...model.HealthSample) bool
	RecordSummary(s model.Summary) bool
	RecordLog(e model.LogEntry) bool
}

// HistoryRecorder adapts a history store to Recorder. A refused summary is taken for back-pressure
// (the store's queue is full) and offered again: the engine only emits summaries that a store's
// validation accepts (known kind, finite value, current timestamp). Refused raw samples and log
// lines are counted as shed.
func HistoryRecorder(h historyWriter) Recorder { return historyRecorder{h} }

type historyRecorder struct{ h historyWriter }

func (r historyRecorder) RecordHealth(_ context.Context, batch []model.HealthSample) error {
	n := 0
	for i := range batch {
		// batch[i:i+1], not batch[i]: a single value passed to the variadic method through the
		// interface would be copied into a new slice, one allocation per raw sample.
		if !r.h.RecordHealth(batch[i : i+1]...) {
			n++
		}
	}
	if n > 0 {
		return &RefusedError{Accepted: len(batch) - n, Refused: n}
	}
	return nil
}

func (r historyRecorder) RecordSummaries(_ context.Context, batch []model.Summary) error {
	for i := range batch {
		if !r.h.RecordSummary(batch[i]) {
			return &RefusedError{Accepted: i, Refused: len(batch) - i}
		}
	}
	return nil
}

func (r historyRecorder) RecordLogs(_ context.Context, batch []model.LogEntry) error {
	n := 0
	for i := range batch {
		if !r.h.RecordLog(batch[i]) {
			n++
		}
	}
	if n > 0 {
		return &RefusedError{Accepted: len(batch) - n, Refused: n}
	}
	return nil
}
