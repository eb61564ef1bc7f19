package app

import (
	"context"

	"github.com/strata-paas/strata/history"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/manager"
)

// historyStore is what the platform does with the history store --clickhouse selects (history's
// Memory or ClickHouse): it gives the recording side to the CEP, the controller and the
// autoscaler and the queries to the manager, each of which declares the part it uses; it runs and
// closes the store, and reads its statistics for /readyz and /metrics.
type historyStore interface {
	historyRecorder
	manager.History
	Run(ctx context.Context) error
	Close() error
	Stats() history.Stats
}

// historyRecorder is the recording side of a history store.
type historyRecorder interface {
	RecordHealth(samples ...model.HealthSample) bool
	RecordSummary(s model.Summary) bool
	RecordLog(e model.LogEntry) bool
	RecordLifecycle(r model.LifecycleRecord) bool
	RecordDecision(d model.Decision) bool
}

// openHistory opens the backend o.DSN selects: ClickHouse when it is set, else the embedded,
// bounded Memory store.
func openHistory(ctx context.Context, o history.Options) (historyStore, error) {
	if o.DSN == "" {
		return history.NewMemory(o), nil
	}
	return history.NewClickHouse(ctx, o)
}
