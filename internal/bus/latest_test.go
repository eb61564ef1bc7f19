package bus

import (
	"fmt"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// TestPublishLatestSupersedes: a health summary waiting in the outbox is replaced, in its place,
// by a newer one of the same member and kind, so a publisher faster than the broker keeps one
// message per value and the subscriber gets the newest (issue 17: summaries the bus could not
// take piled up and were lost). Once handed to the connection a message is no longer replaced.
func TestPublishLatestSupersedes(t *testing.T) {
	t.Parallel()
	url := runBroker(t, BrokerOptions{}).URL()
	pub, subReady := heldClient(t, Options{URLs: []string{url}})
	ctx := ctxT(t)
	summary := func(member string, kind model.SummaryKind, v float64) model.Summary {
		return model.Summary{Kind: kind, ClusterID: "c1", ClusterInstanceID: "c1-1", NetworkPartitionID: "np", PartitionID: "p",
			MemberID: member, Value: v, Timestamp: 1}
	}
	// Three rounds for two members and two kinds while the sender waits: 12 summaries, 4 values.
	for round := range 3 {
		for _, m := range []string{"m1", "m2"} {
			for _, k := range []model.SummaryKind{model.MemberAverageLoadAverage, model.MemberAverageMemoryConsumption} {
				if err := pub.PublishEvent(ctx, summary(m, k, float64(round))); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := pub.PublishEvent(ctx, &model.MemberActivatedEvent{MemberID: fmt.Sprint("a", round)}); err != nil {
			t.Fatal(err)
		}
	}
	if st := pub.Stats(); st.Outbox != 4+3 || st.Superseded != 8 {
		t.Errorf("outbox %d, superseded %d; want 7 and 8", st.Outbox, st.Superseded)
	}
	got := make(chan string, 100)
	sub := runClient(t, Options{URLs: []string{url}})
	if err := sub.SubscribeEvents(ctx, "#", func(_ string, e model.Event) {
		switch ev := e.(type) {
		case *model.Summary:
			got <- fmt.Sprintf("%s/%d=%v", ev.MemberID, ev.Kind, ev.Value)
		case *model.MemberActivatedEvent:
			got <- ev.MemberID
		}
	}); err != nil {
		t.Fatal(err)
	}
	sub.waitFor(t, Connected)
	subReady()
	if err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Each summary kept the place of the first of its key, with the newest value.
	k1, k2 := model.MemberAverageLoadAverage, model.MemberAverageMemoryConsumption
	want := []string{fmt.Sprintf("m1/%d=2", k1), fmt.Sprintf("m1/%d=2", k2), fmt.Sprintf("m2/%d=2", k1), fmt.Sprintf("m2/%d=2", k2), "a0", "a1", "a2"}
	for i, w := range want {
		select {
		case g := <-got:
			if g != w {
				t.Errorf("message %d = %s, want %s", i, g, w)
			}
		case <-time.After(wait):
			t.Fatalf("message %d did not come", i)
		}
	}
	// Sent: the next summary of the same key is a new message.
	if err := pub.PublishEvent(ctx, summary("m1", k1, 3)); err != nil {
		t.Fatal(err)
	}
	if err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-got:
		if w := fmt.Sprintf("m1/%d=3", k1); g != w {
			t.Errorf("after the flush got %s, want %s", g, w)
		}
	case <-time.After(wait):
		t.Fatal("the summary after the flush did not come")
	}
	if st := pub.Stats(); st.Superseded != 8 || st.Sent != 8 {
		t.Errorf("superseded %d, sent %d; want 8 and 8", st.Superseded, st.Sent)
	}
}

// TestPublishLatestUnderFlow: keyed and ordinary messages published while the outbox drains and
// compacts: every ordinary message arrives once, in order; each key's values arrive in increasing
// order and its last value arrives.
func TestPublishLatestUnderFlow(t *testing.T) {
	t.Parallel()
	url := runBroker(t, BrokerOptions{}).URL()
	pub := runClient(t, Options{URLs: []string{url}, OutboxLimit: 2000})
	sub := runClient(t, Options{URLs: []string{url}})
	ctx := ctxT(t)
	const n, keys = 5000, 5
	type msg struct {
		topic   string
		payload string
	}
	got := make(chan msg, 2*n)
	if err := sub.Subscribe(ctx, "strata-test/flow/#", func(topic string, p []byte) { got <- msg{topic, string(p)} }); err != nil {
		t.Fatal(err)
	}
	sub.waitFor(t, Connected)
	pub.waitFor(t, Connected)
	for i := range n {
		if err := pub.Publish(ctx, "strata-test/flow/seq", []byte(fmt.Sprint(i)), 1); err != nil {
			t.Fatal(err)
		}
		k := i % keys
		if err := pub.PublishLatest(ctx, fmt.Sprint(k), fmt.Sprint("strata-test/flow/key", k), []byte(fmt.Sprint(i)), 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	next := 0
	last := map[string]int{}
	timeout := time.After(wait)
	for next < n || len(last) < keys || func() bool {
		for k := range keys {
			if last[fmt.Sprint("strata-test/flow/key", k)] != n-keys+k {
				return true
			}
		}
		return false
	}() {
		select {
		case m := <-got:
			var v int
			fmt.Sscan(m.payload, &v)
			if m.topic == "strata-test/flow/seq" {
				if v != next {
					t.Fatalf("ordinary message %d arrived when %d was due", v, next)
				}
				next++
				continue
			}
			if prev, ok := last[m.topic]; ok && v <= prev {
				t.Fatalf("%s: value %d after %d", m.topic, v, prev)
			}
			last[m.topic] = v
		case <-timeout:
			t.Fatalf("got %d of %d ordinary messages, last values %v", next, n, last)
		}
	}
	t.Logf("superseded %d of %d keyed messages", pub.Stats().Superseded, n)
}
