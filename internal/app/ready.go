package app

import (
	"fmt"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/history"
	"github.com/strata-paas/strata/internal/bus"
)

// readiness is what GET /readyz checks: strata up's own bus client is connected, the history
// store writes (ClickHouse answers), the controller runs. Each entry is "ok" or the reason.
func readiness(client *bus.Client, brokers []string, store interface{ Stats() history.Stats }, ctrl *controller.Controller) func() map[string]string {
	return func() map[string]string {
		checks := map[string]string{"broker": "ok", "history": "ok", "controller": "ok"}
		if st := client.Stats(); st.State != bus.Connected {
			checks["broker"] = fmt.Sprintf("not connected to %v", brokers)
			if st.LastError != "" {
				checks["broker"] += ": " + st.LastError
			}
		}
		if st := store.Stats(); !st.Healthy {
			checks["history"] = fmt.Sprintf("the last write to the history store failed; %d bytes spooled, %d rows queued", st.SpoolBytes, st.Queued)
		}
		if !ctrl.Running() {
			checks["controller"] = "not running"
		}
		return checks
	}
}
