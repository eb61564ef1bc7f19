package bus

import (
	"strconv"
	"testing"
)

// TestPublishUrgentOvertakesTheOutbox: a message published with PublishUrgent goes out ahead of
// the messages queued before it and behind an earlier urgent one, and never ahead of a message
// published after it; both FIFOs are counted in Stats.Outbox and drained by Flush (issue 17: a
// complete-topology answer waited behind ~9 500 queued messages).
func TestPublishUrgentOvertakesTheOutbox(t *testing.T) {
	t.Parallel()
	for name, start := range brokers(t) {
		t.Run(name, func(t *testing.T) {
			url := start(t)
			pub, subReady := heldClient(t, Options{URLs: []string{url}})
			ctx := ctxT(t)
			// Queued before the sender runs: 100 ordinary messages, then two urgent ones.
			for i := range 100 {
				if err := pub.Publish(ctx, "strata-test/urgent", []byte(strconv.Itoa(i)), 1); err != nil {
					t.Fatal(err)
				}
			}
			for _, p := range []string{"u1", "u2"} {
				if err := pub.PublishUrgent(ctx, "strata-test/urgent", []byte(p), 1); err != nil {
					t.Fatal(err)
				}
			}
			if st := pub.Stats(); st.Outbox != 102 {
				t.Errorf("outbox %d, want 102", st.Outbox)
			}
			handler, ch := collector(200)
			sub := runClient(t, Options{URLs: []string{url}})
			if err := sub.Subscribe(ctx, "strata-test/urgent", handler); err != nil {
				t.Fatal(err)
			}
			sub.waitFor(t, Connected)
			subReady()
			if err := pub.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			// Once connected, an urgent message goes behind what is in flight but no later
			// than anything published after it.
			if err := pub.PublishUrgent(ctx, "strata-test/urgent", []byte("u3"), 1); err != nil {
				t.Fatal(err)
			}
			if err := pub.Publish(ctx, "strata-test/urgent", []byte("last"), 1); err != nil {
				t.Fatal(err)
			}
			if err := pub.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range take(t, ch, 104) {
				got = append(got, r.payload)
			}
			if got[0] != "u1" || got[1] != "u2" {
				t.Errorf("first messages %v, want the urgent ones u1 u2", got[:2])
			}
			for i := range 100 {
				if got[2+i] != strconv.Itoa(i) {
					t.Fatalf("message %d is %q, want %d in order: %v", 2+i, got[2+i], i, got)
				}
			}
			if got[102] != "u3" || got[103] != "last" {
				t.Errorf("last messages %v, want u3 then last", got[102:])
			}
			if st := pub.Stats(); st.Outbox != 0 || st.Sent != 104 {
				t.Errorf("stats %+v, want an empty outbox and 104 sent", st)
			}
		})
	}
}
