package bus

import (
	"testing"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/strata-paas/strata/internal/testenv"
)

// TestBrokerSubscribed: the embedded broker says whether a topic has a subscriber, through the
// exact topic, a wildcard or a shared subscription, and no longer once it is unsubscribed.
func TestBrokerSubscribed(t *testing.T) {
	t.Parallel()
	b := runBroker(t, BrokerOptions{})
	const topic = "summarized-health-stats"
	c, err := mqttClient(t, b.URL(), "strata-subscribed-test", "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	answered(t, c.Subscribe("topology/#", 1, nil))
	if b.Subscribed(topic) {
		t.Fatalf("Subscribed(%q) with only topology/# subscribed", topic)
	}
	for _, filter := range []string{topic, "summarized-health-stats/#", "#", "+", "$share/g/summarized-health-stats"} {
		answered(t, c.Subscribe(filter, 1, nil))
		testenv.Eventually(t, wait, "Subscribed after subscribing "+filter, func() bool { return b.Subscribed(topic) })
		answered(t, c.Unsubscribe(filter))
		testenv.Eventually(t, wait, "not Subscribed after unsubscribing "+filter, func() bool { return !b.Subscribed(topic) })
	}
}

// TestBrokerSubscriptions: the embedded broker counts the subscriptions it granted per topic,
// through the exact topic, a wildcard or a shared subscription, a resubscription counting again,
// and not those of other topics.
func TestBrokerSubscriptions(t *testing.T) {
	t.Parallel()
	b := runBroker(t, BrokerOptions{})
	const topic = "topology/CompleteTopologyEvent"
	c, err := mqttClient(t, b.URL(), "strata-subscriptions-test", "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := b.Subscriptions(topic); n != 0 {
		t.Fatalf("Subscriptions(%q) = %d before any subscription", topic, n)
	}
	answered(t, c.Subscribe("summarized-health-stats", 1, nil))
	answered(t, c.Subscribe("topology/MemberActivatedEvent", 1, nil))
	want := uint64(0)
	for _, filter := range []string{topic, "topology/#", "#", "topology/+", "$share/g/topology/#", topic} {
		answered(t, c.Subscribe(filter, 1, nil))
		want++
		testenv.Eventually(t, wait, "Subscriptions counts "+filter, func() bool { return b.Subscriptions(topic) == want })
	}
	answered(t, c.Unsubscribe(topic))
	// A later grant (counted with the earlier #): once it counts, the count above is settled.
	answered(t, c.Subscribe("other/topic", 1, nil))
	testenv.Eventually(t, wait, "the last grant counted", func() bool { return b.Subscriptions("other/topic") == 2 })
	if n := b.Subscriptions(topic); n != want {
		t.Errorf("Subscriptions(%q) = %d after an unsubscription and another topic's grant, want %d", topic, n, want)
	}
}

// answered waits for tok and fails the test on a timeout or an error.
func answered(t *testing.T, tok mqtt.Token) {
	t.Helper()
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("no answer or %v", tok.Error())
	}
}
