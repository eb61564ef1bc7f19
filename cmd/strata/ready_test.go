package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/testenv"
)

// readyz reads GET /readyz: its status code and the checks of its body.
func readyz(t *testing.T, api string) (int, map[string]string) {
	t.Helper()
	code, body, _ := get(t, "http://"+api+"/readyz", "", "")
	var r struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("GET /readyz = %d %q: %v", code, body, err)
	}
	return code, r.Checks
}

// TestUpReadyzFollowsTheBroker: with --broker on a real Mosquitto, /readyz is 200 while strata
// up's client is connected, 503 naming the broker while Mosquitto is stopped, and 200 again once
// it is back; /healthz stays 200 throughout.
func TestUpReadyzFollowsTheBroker(t *testing.T) {
	t.Parallel()
	mosq := testenv.StartMosquitto(t)
	a, args := upArgs(t)
	p := startUp(t, []string{"STRATA_ADMIN_PASSWORD=s3cret-pass"}, append(args, "--broker", mosq.URL())...)
	p.waitHTTP(t, "http://"+a.api+"/healthz")
	ready := func(want int) func() bool {
		return func() bool { code, _ := readyz(t, a.api); return code == want }
	}
	testenv.Eventually(t, 30*time.Second, "/readyz 200 on a healthy strata up", ready(200))

	mosq.Stop()
	testenv.Eventually(t, 30*time.Second, "/readyz 503 with the broker stopped", ready(503))
	if _, checks := readyz(t, a.api); checks["broker"] == "ok" || !strings.Contains(checks["broker"], mosq.URL()) || checks["history"] != "ok" {
		t.Errorf("/readyz checks with the broker stopped = %v, want the broker named as failing", checks)
	}
	if code, _, _ := get(t, "http://"+a.api+"/healthz", "", ""); code != 200 {
		t.Errorf("/healthz with the broker stopped = %d, want 200 (liveness)", code)
	}

	mosq.Start()
	testenv.Eventually(t, 60*time.Second, "/readyz 200 once the broker is back", ready(200))
}

// TestUpRefusedBusClientLogsError: when the broker (--broker, a Mosquitto that lets nobody in)
// refuses strata up's own client (wrong credentials), strata up logs an ERROR saying so and
// /readyz names the refusal.
func TestUpRefusedBusClientLogsError(t *testing.T) {
	t.Parallel()
	mosq := testenv.StartMosquittoWith(t, "allow_anonymous false\n")
	a, args := upArgs(t)
	args = append(args, "--broker", mosq.URL())
	p := startUp(t, []string{"STRATA_ADMIN_PASSWORD=s3cret-pass", "STRATA_BROKER_USERNAME=strata", "STRATA_BROKER_PASSWORD=wrong"}, args...)
	p.waitHTTP(t, "http://"+a.api+"/healthz")
	testenv.Eventually(t, 30*time.Second, "an ERROR for the refused bus client", func() bool {
		return strings.Contains(p.out.String(), `level=ERROR msg="broker refused the connection`)
	})
	code, checks := readyz(t, a.api)
	if code != 503 || !strings.Contains(checks["broker"], "not Authorized") && !strings.Contains(checks["broker"], "bad user name") {
		t.Errorf("/readyz = %d %v, want 503 naming the refusal", code, checks)
	}
}
