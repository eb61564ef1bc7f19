package bus

import (
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// TestBrokerRefusesAnonymous: with default options no client gets in without credentials, not
// even on loopback (local-driver members live on 127.0.0.x).
func TestBrokerRefusesAnonymous(t *testing.T) {
	t.Parallel()
	b, err := NewBroker(BrokerOptions{Listeners: []string{"127.0.0.1:0"}, Authenticate: CheckPassword("strata", "s3cret"), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, b)
	if err := connect(t, b.URL(), "", "", nil); err == nil {
		t.Error("anonymous client accepted on loopback")
	}
	if err := connect(t, b.URL(), "strata", "s3cret", nil); err != nil {
		t.Errorf("valid credentials refused: %v", err)
	}
	if got := b.Stats().AuthRejected; got != 1 {
		t.Errorf("AuthRejected = %d, want 1", got)
	}
}

// serve runs a broker built by the test until the test ends.
func serve(t *testing.T, b *Broker) {
	t.Helper()
	ctx := ctxT(t)
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		b.Close()
		if err := <-done; err != nil {
			t.Errorf("broker Run: %v", err)
		}
	})
}

// aclBroker runs a broker that knows three accounts: the platform ("strata"), one member
// (aclMember) and a REST user without bus access ("admin"). Alive reports the member alive while
// *alive is true.
func aclBroker(t *testing.T, logs *testenv.Buffer, alive *atomic.Bool) *Broker {
	t.Helper()
	identify := func(_, user, password string) (Identity, bool) {
		switch {
		case user == "strata" && password == "internal":
			return Identity{Role: RoleInternal, Name: user}, true
		case user == "member."+aclMember && password == "member":
			return Identity{Role: RoleMember, Name: user, MemberID: aclMember, ClusterID: aclCluster}, true
		case user == "admin" && password == "admin":
			return Identity{Name: user}, true
		}
		return Identity{}, false
	}
	return runBroker(t, BrokerOptions{Identify: identify, Alive: func(Identity) bool { return alive.Load() },
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
}

// mqttClient connects paho with credentials and a client id, and optionally a will.
func mqttClient(t *testing.T, url, clientID, user, pass string, will func(*mqtt.ClientOptions)) (mqtt.Client, error) {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(clientID).SetUsername(user).SetPassword(pass).
		SetConnectTimeout(5 * time.Second).SetAutoReconnect(false).SetProtocolVersion(4).SetCleanSession(true)
	if will != nil {
		will(o)
	}
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(wait) {
		t.Fatalf("connect %s: no answer", url)
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, nil
}

func publishQoS1(t *testing.T, c mqtt.Client, topic string, body []byte) {
	t.Helper()
	tok := c.Publish(topic, 1, false, body)
	if !tok.WaitTimeout(wait) {
		t.Fatalf("publish %s: no PUBACK", topic)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
}

// TestBrokerMemberACL: a member's credential publishing another member's
// InstanceReadyToShutdownEvent is refused (acknowledged, not delivered), counted and logged once;
// the member's connection stays and its own status goes through. Its subscriptions are limited
// to what an agent reads, and an account without bus access can do nothing.
func TestBrokerMemberACL(t *testing.T) {
	t.Parallel()
	logs := &testenv.Buffer{}
	var alive atomic.Bool
	alive.Store(true)
	b := aclBroker(t, logs, &alive)
	platform := runClient(t, Options{URLs: []string{b.URL()}, ClientID: "strata-up", Username: "strata", Password: "internal"})
	platform.waitFor(t, Connected)
	h, got := collector(16)
	if err := platform.Subscribe(ctxT(t), "instance/status/#", h); err != nil {
		t.Fatal(err)
	}

	m, err := mqttClient(t, b.URL(), "agent-1", "member."+aclMember, "member", nil)
	if err != nil {
		t.Fatalf("member refused: %v", err)
	}
	other := statusBody(t, model.InstanceReadyToShutdownEvent{ServiceName: "php", ClusterID: aclCluster, MemberID: aclOther})
	publishQoS1(t, m, "instance/status/InstanceReadyToShutdownEvent", other)
	publishQoS1(t, m, "instance/status/InstanceMaintenanceModeEvent", other)
	publishQoS1(t, m, "topology/MemberTerminatedEvent", []byte(`{"memberId":"`+aclOther+`"}`))
	own := statusBody(t, model.InstanceStartedEvent{ServiceName: "php", ClusterID: aclCluster, MemberID: aclMember})
	publishQoS1(t, m, "instance/status/InstanceStartedEvent", own)
	select {
	case r := <-got:
		if r.topic != "instance/status/InstanceStartedEvent" || !strings.Contains(r.payload, aclMember) {
			t.Errorf("delivered %s %s, want only the member's own InstanceStartedEvent", r.topic, r.payload)
		}
	case <-time.After(wait):
		t.Fatal("the member's own status was not delivered")
	}
	select {
	case r := <-got:
		t.Errorf("refused publication delivered: %s %s", r.topic, r.payload)
	default:
	}
	if !m.IsConnectionOpen() {
		t.Error("the member was disconnected for a refused publication")
	}
	if st := b.Stats(); st.PublishRefused != 3 {
		t.Errorf("PublishRefused = %d, want 3", st.PublishRefused)
	}

	tok := m.SubscribeMultiple(map[string]byte{"topology/#": 1, "#": 1, "$SYS/#": 0}, nil)
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	res := tok.(*mqtt.SubscribeToken).Result()
	if res["topology/#"] != 1 || res["#"] != 0x80 || res["$SYS/#"] != 0x80 {
		t.Errorf("SUBACK codes %v, want topology/# granted, # and $SYS/# refused (0x80)", res)
	}
	if st := b.Stats(); st.SubscribeRefused != 2 {
		t.Errorf("SubscribeRefused = %d, want 2", st.SubscribeRefused)
	}
	if n := strings.Count(logs.String(), "broker refused a client's request"); n != 1 {
		t.Errorf("%d refusal lines for one client, want 1; logs:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "memberId is not the credential's member") {
		t.Errorf("the log does not give the reason; logs:\n%s", logs)
	}

	admin, err := mqttClient(t, b.URL(), "rest-admin", "admin", "admin", nil)
	if err != nil {
		t.Fatalf("admin refused at connect: %v", err)
	}
	stok := admin.Subscribe("topology/#", 0, nil)
	if !stok.WaitTimeout(wait) || stok.(*mqtt.SubscribeToken).Result()["topology/#"] != 0x80 {
		t.Errorf("an account without bus access subscribed: %v", stok.(*mqtt.SubscribeToken).Result())
	}

	// Once the member is gone, its credential publishes nothing and the client is dropped.
	alive.Store(false)
	m.Publish("instance/status/InstanceActivatedEvent", 1, false,
		statusBody(t, model.InstanceActivatedEvent{ServiceName: "php", ClusterID: aclCluster, MemberID: aclMember}))
	testenv.Eventually(t, wait, "the revoked member disconnected", func() bool { return !m.IsConnectionOpen() })
	select {
	case r := <-got:
		t.Errorf("a revoked member's publication delivered: %s", r.topic)
	case <-time.After(100 * time.Millisecond):
	}
}

// TestBrokerConnectChecks: a member's will must be one it may publish, and it may not take over
// the platform's client id (which would disconnect the platform's client).
func TestBrokerConnectChecks(t *testing.T) {
	t.Parallel()
	logs := &testenv.Buffer{}
	var alive atomic.Bool
	alive.Store(true)
	b := aclBroker(t, logs, &alive)
	platform := runClient(t, Options{URLs: []string{b.URL()}, ClientID: "strata-up", Username: "strata", Password: "internal"})
	platform.waitFor(t, Connected)

	other := statusBody(t, model.InstanceReadyToShutdownEvent{ServiceName: "php", ClusterID: aclCluster, MemberID: aclOther})
	_, err := mqttClient(t, b.URL(), "agent-will", "member."+aclMember, "member", func(o *mqtt.ClientOptions) {
		o.SetBinaryWill("instance/status/InstanceReadyToShutdownEvent", other, 1, false)
	})
	if err == nil {
		t.Error("a member's will with another member's status was accepted")
	}
	if _, err := mqttClient(t, b.URL(), "strata-up", "member."+aclMember, "member", nil); err == nil {
		t.Error("a member took over the platform's client id")
	}
	if st := platform.Stats(); st.State != Connected || st.Connects != 1 {
		t.Errorf("platform client %+v, want connected once", st)
	}
	// Nor the id of the broker's own inline client, through which the process publishes: the
	// process took the publications of a client with that id for its own, and never got them.
	if _, err := mqttClient(t, b.URL(), mochi.InlineClientId, "member."+aclMember, "member", nil); err == nil {
		t.Error("a member took over the broker's inline client id")
	}
	own := statusBody(t, model.InstanceReadyToShutdownEvent{ServiceName: "php", ClusterID: aclCluster, MemberID: aclMember})
	if _, err := mqttClient(t, b.URL(), "agent-will", "member."+aclMember, "member", func(o *mqtt.ClientOptions) {
		o.SetBinaryWill("instance/status/InstanceReadyToShutdownEvent", own, 1, false)
	}); err != nil {
		t.Errorf("a member's will with its own status refused: %v", err)
	}
}

// TestBrokerDisconnectIdentity: Disconnect ends the connections of the identities it matches and
// leaves the others.
func TestBrokerDisconnectIdentity(t *testing.T) {
	t.Parallel()
	var alive atomic.Bool
	alive.Store(true)
	b := aclBroker(t, &testenv.Buffer{}, &alive)
	platform := runClient(t, Options{URLs: []string{b.URL()}, ClientID: "strata-up", Username: "strata", Password: "internal"})
	platform.waitFor(t, Connected)
	m, err := mqttClient(t, b.URL(), "agent-1", "member."+aclMember, "member", nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := b.Disconnect(func(id Identity) bool { return id.Role == RoleMember && id.MemberID == aclMember }); n != 1 {
		t.Errorf("Disconnect = %d, want 1", n)
	}
	testenv.Eventually(t, wait, "the member disconnected", func() bool { return !m.IsConnectionOpen() })
	if st := platform.Stats(); st.State != Connected || st.Connects != 1 {
		t.Errorf("platform client %+v, want still connected", st)
	}
}

// TestPersistentSessionKeepsWhatCameWhileAway: a client of a persistent session
// (CleanSession=false) gets, when it comes back, the QoS 1 messages published while it was away:
// up to AwayKept of them, and no Complete* event (a complete topology is 94 MB at 100 000
// members). The broker decided each delivery by the identity of the client's connection, which a
// client that is away does not have, and so dropped every message kept for a session.
func TestPersistentSessionKeepsWhatCameWhileAway(t *testing.T) {
	t.Parallel()
	var alive atomic.Bool
	alive.Store(true)
	b := aclBroker(t, &testenv.Buffer{}, &alive)
	got := make(chan string, 2*AwayKept)
	persistent := func(o *mqtt.ClientOptions) {
		o.SetCleanSession(false).SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { got <- m.Topic() })
	}
	user := "member." + aclMember
	m, err := mqttClient(t, b.URL(), "agent-1", user, "member", persistent)
	if err != nil {
		t.Fatal(err)
	}
	answered(t, m.Subscribe("topology/#", 1, nil))
	m.Disconnect(100)
	testenv.Eventually(t, wait, "the member's client to be gone", func() bool { return b.Stats().ClientsConnected == 0 })

	platform, err := mqttClient(t, b.URL(), "strata-up", "strata", "internal", nil)
	if err != nil {
		t.Fatal(err)
	}
	publishQoS1(t, platform, "topology/CompleteTopologyEvent", []byte(`{}`))
	for range AwayKept + 2 {
		publishQoS1(t, platform, "topology/MemberActivatedEvent", []byte(`{"memberId":"m1"}`))
	}
	// mochi acknowledges a publication before it delivers it.
	testenv.Eventually(t, wait, "AwayDropped to be 3: the complete topology and the two messages over AwayKept", func() bool {
		return b.Stats().AwayDropped == 3
	})
	if _, err := mqttClient(t, b.URL(), "agent-1", user, "member", persistent); err != nil {
		t.Fatal(err)
	}
	for i := range AwayKept {
		select {
		case topic := <-got:
			if topic != "topology/MemberActivatedEvent" {
				t.Fatalf("message %d for the member is on %s, want topology/MemberActivatedEvent", i, topic)
			}
		case <-time.After(wait):
			t.Fatalf("the member's session kept %d messages of %d published while its client was away", i, AwayKept)
		}
	}
}
