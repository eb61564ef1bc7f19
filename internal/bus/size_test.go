package bus

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/testenv"
)

// TestLargeMessage: a message the size of the CompleteTopologyEvent of 100 000 members (about
// 880 B each, 88 MB) passes the embedded broker and the client when the broker's packet limit
// allows it (the platform's own credential gets --mqtt-internal-max-packet, 256 MiB; every other
// client 1 MiB): neither has a limit of its own below MQTT 3.1.1's 256 MB (issue 17). Skipped
// with -short: it moves 96 MB through loopback.
func TestLargeMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 96 MB")
	}
	if testenv.Race {
		t.Skip("moves 96 MB, for seconds under the race detector: make test runs it without")
	}
	url := runBroker(t, BrokerOptions{MaxPacketSize: 256 << 20}).URL()
	sub := runClient(t, Options{URLs: []string{url}})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	got := make(chan []byte, 1)
	if err := sub.Subscribe(ctx, "strata-test/large", func(_ string, payload []byte) { got <- payload }); err != nil {
		t.Fatal(err)
	}
	sub.waitFor(t, Connected)
	pub := runClient(t, Options{URLs: []string{url}})
	payload := bytes.Repeat([]byte("0123456789abcdef"), 96<<20/16)
	if err := pub.Publish(ctx, "strata-test/large", payload, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-got:
		if !bytes.Equal(b, payload) {
			t.Errorf("received %d bytes, not the %d published", len(b), len(payload))
		}
	case <-ctx.Done():
		t.Fatalf("a %d MB message did not arrive (publisher %+v)", len(payload)>>20, pub.Stats())
	}
}
