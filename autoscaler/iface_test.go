package autoscaler

import (
	"github.com/strata-paas/strata/history"
	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/policies"
)

// The providers cmd/strata passes in satisfy the consumer-side interfaces as they are (the
// controller needs a small adapter for StartRequest).
var (
	_ eventBus     = (*bus.Client)(nil)
	_ recorder     = (*history.Memory)(nil)
	_ recorder     = (*history.ClickHouse)(nil)
	_ policySource = (*policies.Store)(nil)
)
