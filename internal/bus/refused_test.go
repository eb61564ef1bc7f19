package bus

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/testenv"
)

// TestRefusedConnectionLogsError: a client the broker refuses (CONNACK not authorised) logs an
// ERROR naming the refusal once, not a retry at a lower level, and its Stats say why it is
// disconnected.
func TestRefusedConnectionLogsError(t *testing.T) {
	b := runBroker(t, BrokerOptions{Authenticate: func(user, password string) bool { return user == "strata" && password == "right" }})
	logs := &testenv.Buffer{}
	c := runClient(t, Options{URLs: []string{b.URL()}, Username: "strata", Password: "wrong",
		RetryMin: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	testenv.Eventually(t, wait, "three refused attempts", func() bool { return c.Stats().ConnectFailures >= 3 })
	out := logs.String()
	if n := strings.Count(out, "level=ERROR msg=\"broker refused the connection"); n != 1 {
		t.Errorf("ERROR lines for the refusal = %d, want 1; logs:\n%s", n, out)
	}
	if strings.Contains(out, "retrying\" urls") && strings.Contains(out, "level=WARN msg=\"cannot connect") {
		t.Errorf("a refusal is logged as a retry; logs:\n%s", out)
	}
	if st := c.Stats(); st.State != Disconnected || !strings.Contains(st.LastError, "not Authorized") && !strings.Contains(st.LastError, "bad user name") {
		t.Errorf("Stats = %+v, want disconnected with the refusal as LastError", st)
	}
}
