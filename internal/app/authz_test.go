package app

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/strata-paas/strata/internal/databridge"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// brokerURL is the platform's embedded broker as a client on this machine reaches it.
func brokerURL(s *started) string {
	port := s.app.Addrs().MQTT.(*net.TCPAddr).Port
	return "tcp://127.0.0.1:" + strconv.Itoa(port)
}

// mqttConnect connects paho (MQTT 3.1.1) and returns the client or the CONNACK error.
func mqttConnect(t *testing.T, url, clientID, user, password string) (mqtt.Client, error) {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(clientID).SetProtocolVersion(4).
		SetConnectTimeout(5 * time.Second).SetAutoReconnect(false)
	if user != "" {
		o.SetUsername(user).SetPassword(password)
	}
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(20 * time.Second) {
		t.Fatalf("connect %s: no answer", url)
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, nil
}

// metric reads one counter from /metrics; -1 when it is missing.
func metric(t *testing.T, s *started, name string) float64 {
	t.Helper()
	if v, ok := scrape(t, s)[name]; ok {
		return v
	}
	return -1
}

// TestBrokerOnAllInterfaces: with --mqtt-listen 0.0.0.0:<port> the platform's own client logs in
// with the internal credential, so topology flows and a mock application goes Active; an
// anonymous client is refused even on loopback, and so is a REST account.
func TestBrokerOnAllInterfaces(t *testing.T) {
	t.Parallel()
	o := testOptions(t)
	o.MQTTListen = "0.0.0.0:0"
	s := start(t, o)
	deployMock(t, s, 1)
	url := brokerURL(s)
	if _, err := mqttConnect(t, url, "anonymous-1", "", ""); err == nil {
		t.Error("an anonymous client connected on loopback")
	}
	if _, err := mqttConnect(t, url, "rest-admin", "admin", adminPassword); err == nil {
		t.Error("the REST admin connected to the broker")
	}
	if got := metric(t, s, "strata_broker_auth_rejected_total"); got != 2 {
		t.Errorf("strata_broker_auth_rejected_total = %v, want 2", got)
	}
	// An account the operator grants the bus role gets in.
	client := &http.Client{Timeout: 30 * time.Second}
	user := `{"userName":"monitor","role":"bus","credential":"monitor-secret-1"}`
	if code, body := call(t, client, http.MethodPost, "http://"+s.app.Addrs().API.String()+"/api/users", user); code != http.StatusCreated {
		t.Fatalf("create the bus account = %d %s", code, body)
	}
	if _, err := mqttConnect(t, url, "monitor", "monitor", "monitor-secret-1"); err != nil {
		t.Errorf("the bus account was refused: %v", err)
	}
}

// TestMemberCredentialScope: a member's own broker credential (MB_USERNAME/MB_PASSWORD of its
// payload) publishing another member's InstanceMaintenanceModeEvent and
// InstanceReadyToShutdownEvent is refused and counted, and that member keeps running; the same
// member's CEP credential publishing for another cluster is dropped and counted; a tenant's user
// is refused by the data bridge.
func TestMemberCredentialScope(t *testing.T) {
	t.Parallel()
	s := start(t, testOptions(t))
	members := deployMock(t, s, 2)
	attacker, victim := members[0], members[1]
	p, ok := s.app.Mock().Payload(attacker.MemberID)
	if !ok {
		t.Fatalf("no payload for %s", attacker.MemberID)
	}
	get := func(k string) string { v, _ := p.Get(k); return v }
	if get(model.PayloadMBUsername) == "" || get(model.PayloadCEPUsername) == "" {
		t.Fatalf("payload has no broker credential: %v", p)
	}

	c, err := mqttConnect(t, brokerURL(s), "attacker", get(model.PayloadMBUsername), get(model.PayloadMBPassword))
	if err != nil {
		t.Fatalf("the member's credential was refused: %v", err)
	}
	for _, e := range []model.Event{
		model.InstanceMaintenanceModeEvent{ServiceName: victim.ServiceName, ClusterID: victim.ClusterID, MemberID: victim.MemberID,
			ClusterInstanceID: victim.ClusterInstanceID, NetworkPartitionID: victim.NetworkPartitionID, PartitionID: victim.PartitionID},
		model.InstanceReadyToShutdownEvent{ServiceName: victim.ServiceName, ClusterID: victim.ClusterID, MemberID: victim.MemberID,
			ClusterInstanceID: victim.ClusterInstanceID, NetworkPartitionID: victim.NetworkPartitionID, PartitionID: victim.PartitionID},
	} {
		body, err := model.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		// The broker decides before it acknowledges: once PUBACK is back, the message is either
		// on its way to the controller or dropped.
		tok := c.Publish(model.TopicOf(e), 1, false, body)
		if !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", model.TopicOf(e), tok.Error())
		}
	}
	// A message published after them by the platform reaches the controller after them; by
	// then the victim would have left Active.
	if err := s.app.Bus().PublishEvent(context.Background(), model.CompleteTopologyRequestEvent{}); err != nil {
		t.Fatal(err)
	}
	if err := s.app.Bus().Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := metric(t, s, "strata_broker_publish_refused_total"); got != 2 {
		t.Errorf("strata_broker_publish_refused_total = %v, want 2", got)
	}
	if m, err := s.app.Controller().Member(victim.MemberID); err != nil || m.Status() != model.MemberActive {
		t.Errorf("victim %s: %v %v, want still Active", victim.MemberID, m.Status(), err)
	}

	// The data bridge.
	thrift := "ssl://" + s.app.Addrs().ThriftTLS.String()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 10 * time.Second}
	tenant := `{"admin":"boss","adminPassword":"boss-secret-1","tenantDomain":"t1.com","email":"boss@t1.com","firstName":"B","lastName":"O"}`
	if code, body := call(t, client, http.MethodPost, "http://"+s.app.Addrs().API.String()+"/api/tenants", tenant); code != http.StatusCreated {
		t.Fatalf("create tenant = %d %s", code, body)
	}
	tenantUser, err := databridge.NewClient(databridge.ClientOptions{URLs: []string{thrift},
		TLS: &tls.Config{InsecureSkipVerify: true}, Username: "boss@t1.com", Password: "boss-secret-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer tenantUser.Close()
	superSample := model.HealthSample{ClusterID: mockCluster, ClusterInstanceID: victim.ClusterInstanceID,
		NetworkPartitionID: victim.NetworkPartitionID, MemberID: victim.MemberID, PartitionID: victim.PartitionID,
		Metric: model.MetricMemoryConsumption, Value: 99, Timestamp: time.Now().UnixMilli()}
	if err := tenantUser.Publish(ctx, databridge.HealthEvent(superSample)); !errors.Is(err, databridge.ErrAuthentication) {
		t.Errorf("tenant t1's user publishing to the data bridge: %v, want ErrAuthentication", err)
	}

	member, err := databridge.NewClient(databridge.ClientOptions{URLs: []string{thrift},
		TLS: &tls.Config{InsecureSkipVerify: true}, Username: get(model.PayloadCEPUsername), Password: get(model.PayloadCEPPassword)})
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	other := superSample
	other.ClusterID, other.MemberID = "other-app.php.php.domain", "other-app.php.php.domain"+model.NewUUID()
	if err := member.Publish(ctx, databridge.HealthEvent(other)); err != nil {
		t.Fatalf("member publishing: %v", err)
	}
	testenv.Eventually(t, 20*time.Second, "the other cluster's event counted as out of scope", func() bool {
		return metric(t, s, "strata_databridge_out_of_scope_events_total") == 1
	})
	own := superSample
	own.MemberID, own.ClusterInstanceID = attacker.MemberID, attacker.ClusterInstanceID
	if err := member.Publish(ctx, databridge.HealthEvent(own)); err != nil {
		t.Fatalf("member publishing its own sample: %v", err)
	}
	if got := metric(t, s, "strata_databridge_out_of_scope_events_total"); got != 1 {
		t.Errorf("strata_databridge_out_of_scope_events_total = %v after the member's own sample, want 1", got)
	}

	// Terminated, the member's credential stops working: its client is disconnected and cannot
	// log in again.
	if err := s.app.Controller().TerminateMember(ctx, attacker.MemberID, true); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "the terminated member's client disconnected", func() bool { return !c.IsConnectionOpen() })
	if _, err := mqttConnect(t, brokerURL(s), "attacker-2", get(model.PayloadMBUsername), get(model.PayloadMBPassword)); err == nil {
		t.Error("a terminated member's credential logged in")
	}
	testenv.Eventually(t, 20*time.Second, "the terminated member's data-bridge session ended", func() bool {
		return member.Publish(ctx, databridge.HealthEvent(own)) != nil
	})
}

// TestAllowAnonymous: --mqtt-allow-anonymous lets an anonymous client in on loopback and says so
// at WARN when the platform starts; the key of the credentials is generated 0600.
func TestAllowAnonymous(t *testing.T) {
	t.Parallel()
	o := testOptions(t)
	logs := &testenv.Buffer{}
	o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	o.MQTTAllowAnonymous = true
	s := start(t, o)
	if _, err := mqttConnect(t, brokerURL(s), "legacy", "", ""); err != nil {
		t.Errorf("anonymous client refused with MQTTAllowAnonymous: %v", err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "--mqtt-allow-anonymous") {
		t.Errorf("no WARN about anonymous clients at start; logs:\n%s", logs)
	}
	info, err := os.Stat(filepath.Join(o.DataDir, busKeyFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("bus.key: %v %v, want mode 0600", info, err)
	}
}
