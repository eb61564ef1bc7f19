package bus

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-paas/strata/internal/testenv"
)

// TestSlowConsumerDelaysOnlyItself: a consumer whose handler blocks does not delay another
// consumer of the same client (issue 17: every in-process component shared one ordered handler
// chain, so the load balancer's slow rebuilds stalled the controller and topology requests); its
// own messages wait in its queue, in order, with the depth in Stats.
func TestSlowConsumerDelaysOnlyItself(t *testing.T) {
	t.Parallel()
	url := runBroker(t, BrokerOptions{}).URL()
	sub := runClient(t, Options{URLs: []string{url}})
	ctx := ctxT(t)
	release := make(chan struct{})
	slowCh := make(chan received, 100)
	slow := func(topic string, payload []byte) {
		<-release
		slowCh <- received{topic, string(payload)}
	}
	if err := sub.Consumer("slow").Subscribe(ctx, "strata-test/#", slow); err != nil {
		t.Fatal(err)
	}
	fast, fastCh := collector(100)
	if err := sub.Consumer("fast").Subscribe(ctx, "strata-test/#", fast); err != nil {
		t.Fatal(err)
	}
	sub.waitFor(t, Connected)

	pub := runClient(t, Options{URLs: []string{url}})
	const n = 10
	var want []received
	for i := range n {
		want = append(want, received{"strata-test/m", fmt.Sprint(i)})
		if err := pub.Publish(ctx, "strata-test/m", []byte(fmt.Sprint(i)), 1); err != nil {
			t.Fatal(err)
		}
	}
	// The fast consumer gets every message while the slow one is still in its first.
	if diff := cmp.Diff(want, take(t, fastCh, n), cmp.AllowUnexported(received{})); diff != "" {
		t.Errorf("fast consumer (-want +got):\n%s", diff)
	}
	if got := sub.Stats().Queues["slow"].Depth; got != n {
		t.Errorf("slow consumer's queue depth = %d, want %d", got, n)
	}
	close(release)
	if diff := cmp.Diff(want, take(t, slowCh, n), cmp.AllowUnexported(received{})); diff != "" {
		t.Errorf("slow consumer (-want +got):\n%s", diff)
	}
}

// TestQueueFullWaitsForRoom: a full queue holds the receiving back (nothing is dropped) and
// counts it.
func TestQueueFullWaitsForRoom(t *testing.T) {
	t.Parallel()
	url := runBroker(t, BrokerOptions{}).URL()
	sub := runClient(t, Options{URLs: []string{url}, QueueLimit: 2})
	ctx := ctxT(t)
	release := make(chan struct{})
	h, ch := collector(100)
	if err := sub.Consumer("slow").Subscribe(ctx, "strata-test/#", func(topic string, payload []byte) {
		<-release
		h(topic, payload)
	}); err != nil {
		t.Fatal(err)
	}
	sub.waitFor(t, Connected)
	pub := runClient(t, Options{URLs: []string{url}})
	const n = 5
	for i := range n {
		if err := pub.Publish(ctx, "strata-test/m", []byte(fmt.Sprint(i)), 1); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, wait, "the queue to be full", func() bool { return sub.Stats().Queues["slow"].Full > 0 })
	close(release)
	got := take(t, ch, n)
	for i, r := range got {
		if r.payload != fmt.Sprint(i) {
			t.Fatalf("messages out of order or lost: %v", got)
		}
	}
}
