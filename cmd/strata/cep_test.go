package main

import (
	"context"
	"crypto/tls"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/databridge"
	"github.com/strata-paas/strata/internal/model"
)

// A TLS Thrift publisher with the admin's credentials feeds the CEP inside `strata up`; the
// summaries reach the bus in the §1.4 envelope.
func TestUpSummarizesThriftHealth(t *testing.T) {
	t.Parallel()
	a, args := upArgs(t)
	args = append(args, "--cep-window", "2s")
	p := startUp(t, []string{"STRATA_ADMIN_PASSWORD=s3cret-pass"}, args...)
	p.waitHTTP(t, "http://"+a.api+"/healthz")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	raw := watchSummaries(ctx, t, a.mqtt, "cep-test")

	// A wrong password is refused at connect.
	bad, err := databridge.NewClient(databridge.ClientOptions{URLs: []string{"ssl://" + a.thriftTLS},
		TLS: &tls.Config{InsecureSkipVerify: true}, Username: "admin", Password: "wrong-password"})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.Define(ctx, databridge.HealthStream()); err == nil {
		t.Error("connect with a wrong password succeeded")
	}

	client, err := databridge.NewClient(databridge.ClientOptions{URLs: []string{"ssl://" + a.thriftTLS},
		TLS: &tls.Config{InsecureSkipVerify: true}, Username: "admin", Password: "s3cret-pass"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sample := model.HealthSample{ClusterID: "app.php.php.domain", ClusterInstanceID: "app-1", NetworkPartitionID: "np1",
		MemberID: "m1", PartitionID: "p1", Metric: model.MetricLoadAverage}
	deadline := time.Now().Add(45 * time.Second)
	for time.Now().Before(deadline) {
		sample.Value, sample.Timestamp = 42, time.Now().UnixMilli()
		if err := client.Publish(ctx, databridge.HealthEvent(sample)); err != nil {
			t.Fatalf("publish: %v", err)
		}
		select {
		case body := <-raw:
			if !strings.HasPrefix(body, `{"org.apache.stratos.messaging.event.health.stat.`) {
				t.Fatalf("summary not in the §1.4 envelope: %s", body)
			}
			if strings.Contains(body, "AverageLoadAverageEvent") && strings.Contains(body, `"clusterId":"app.php.php.domain"`) {
				if !strings.Contains(body, `"value":"42"`) && !strings.Contains(body, `"value":"42.0"`) {
					t.Errorf("average of 42s = %s", body)
				}
				return
			}
		case <-time.After(500 * time.Millisecond):
		}
	}
	t.Fatal("no AverageLoadAverageEvent for the published cluster within 45 s")
}

// watchSummaries subscribes to the CEP's summaries on the broker at mqtt and returns them as
// they arrive, as JSON text (the channel holds 64; more are dropped).
func watchSummaries(ctx context.Context, t *testing.T, mqtt, clientID string) <-chan string {
	t.Helper()
	sub, err := bus.New(bus.Options{URLs: []string{"tcp://" + mqtt}, ClientID: clientID})
	if err != nil {
		t.Fatal(err)
	}
	raw := make(chan string, 64)
	if err := sub.Subscribe(ctx, model.SummaryTopic+"/#", func(_ string, b []byte) {
		select {
		case raw <- string(b):
		default:
		}
	}); err != nil {
		t.Fatal(err)
	}
	go func() { _ = sub.Run(ctx) }()
	return raw
}

// usageFlags is a command's flags as its -h output lists them: name -> the flag's lines (type,
// usage and default).
func usageFlags(t *testing.T, run func([]string, io.Writer, io.Writer) int) map[string]string {
	t.Helper()
	var out strings.Builder
	if code := run([]string{"-h"}, io.Discard, &out); code != 2 {
		t.Fatalf("-h exits %d, want 2", code)
	}
	flags := map[string]string{}
	name := ""
	for _, l := range strings.Split(out.String(), "\n") {
		if rest, ok := strings.CutPrefix(l, "  -"); ok {
			name, _, _ = strings.Cut(rest, " ")
		}
		if name != "" {
			flags[name] += l + "\n"
		}
	}
	return flags
}

// TestCEPTakesUpsThriftFlags: `strata cep` runs the same Thrift receiver as `strata up` and
// takes every one of its --thrift* flags, with the same meaning and default (it lacked the
// connection and frame limits).
func TestCEPTakesUpsThriftFlags(t *testing.T) {
	up, cep := usageFlags(t, runUp), usageFlags(t, runCEP)
	n := 0
	for name, lines := range up {
		if !strings.HasPrefix(name, "thrift") {
			continue
		}
		n++
		if cep[name] != lines {
			t.Errorf("strata cep's -%s:\n%s\nstrata up's:\n%s", name, cep[name], lines)
		}
	}
	if n < 7 {
		t.Errorf("strata up lists %d --thrift* flags, want at least 7 (addresses, legacy TLS, limits)", n)
	}
}
