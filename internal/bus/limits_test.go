package bus

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// streamPublish writes a QoS 0 PUBLISH of size bytes of payload from a small buffer, so that the
// test itself never holds the payload; it returns the write error, if the broker cut it short.
func streamPublish(c net.Conn, topic string, size int) error {
	hdr := mqttLength([]byte{0x30}, 2+len(topic)+size)
	if _, err := c.Write(mqttString(hdr, topic)); err != nil {
		return err
	}
	chunk := make([]byte, 64<<10)
	for size > 0 {
		n := min(size, len(chunk))
		if _, err := c.Write(chunk[:n]); err != nil {
			return err
		}
		size -= n
	}
	return nil
}

// closedByPeer waits until the broker ends the connection (EOF or reset) and says whether it did.
func closedByPeer(c net.Conn, within time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// rssKB is the process's resident set size from /proc/self/status.
func rssKB(t *testing.T) int {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// TestLargePublishRefused is issue 15's "three anonymous 100 MB publishes took RSS from 45 MB to
// 1.74 GB": a client that is not the platform's own publishes 10 MB three times. The broker
// closes the connection at the packet's header, before reading its body, delivers nothing, and
// the process's RSS grows less than 20 MB.
func TestLargePublishRefused(t *testing.T) {
	b := runBroker(t, BrokerOptions{Authenticate: func(user, password string) bool {
		return user == "member" && password == "member-password"
	}, AllowAnonymous: true}) // the subscriber connects anonymously
	h, got := collector(1)
	sub := runClient(t, Options{URLs: []string{b.URL()}})
	if err := sub.Subscribe(ctxT(t), "strata-test/big", h); err != nil {
		t.Fatal(err)
	}
	sub.waitFor(t, Connected)
	runtime.GC()
	before := rssKB(t)
	for i := range 3 {
		c := connectAs(t, b.Addrs()[0].String(), "big-"+strconv.Itoa(i), "member", "member-password")
		werr := streamPublish(c, "strata-test/big", 10<<20)
		if !closedByPeer(c, 2*time.Second) {
			t.Errorf("publish %d of 10 MB: the broker kept the connection open (write error %v)", i, werr)
		}
		c.Close()
	}
	select {
	case m := <-got:
		t.Errorf("a 10 MB publish was delivered (%d bytes)", len(m.payload))
	case <-time.After(200 * time.Millisecond):
	}
	grown := rssKB(t) - before
	t.Logf("RSS grew by %d kB over three refused 10 MB publishes", grown)
	if grown >= 20<<10 {
		t.Errorf("RSS grew by %d kB over three refused 10 MB publishes, want < 20 MB", grown)
	}
}

// TestPacketLimitByIdentity: the platform's own username gets its larger limit, another client
// keeps the default; both limits count the whole packet, and the refusals are counted.
func TestPacketLimitByIdentity(t *testing.T) {
	b := runBroker(t, BrokerOptions{
		Authenticate:   func(user, password string) bool { return password == user+"-password" },
		AllowAnonymous: true, // the subscriber connects anonymously
		MaxPacketSize:  64 << 10,
		PacketLimit: func(user string) int {
			if user == "strata" {
				return 4 << 20
			}
			return 0
		},
	})
	h, got := collector(4)
	sub := runClient(t, Options{URLs: []string{b.URL()}})
	if err := sub.Subscribe(ctxT(t), "strata-test/sized", h); err != nil {
		t.Fatal(err)
	}
	sub.waitFor(t, Connected)
	addr := b.Addrs()[0].String()
	for _, tt := range []struct {
		name      string
		user      string
		size      int
		delivered bool
	}{
		{name: "member under the default", user: "member", size: 60 << 10, delivered: true},
		{name: "member over the default", user: "member", size: 65 << 10},
		{name: "platform over the default", user: "strata", size: 3 << 20, delivered: true},
		{name: "platform over its own limit", user: "strata", size: 5 << 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := connectAs(t, addr, "sized-"+tt.user, tt.user, tt.user+"-password")
			defer c.Close()
			_ = streamPublish(c, "strata-test/sized", tt.size)
			if !tt.delivered {
				if !closedByPeer(c, 2*time.Second) {
					t.Fatalf("a publish of %d bytes by %s was not refused", tt.size, tt.user)
				}
				return
			}
			select {
			case m := <-got:
				if len(m.payload) != tt.size {
					t.Errorf("delivered %d bytes, want %d", len(m.payload), tt.size)
				}
			case <-time.After(wait):
				t.Fatalf("a publish of %d bytes by %s was not delivered", tt.size, tt.user)
			}
		})
	}
	if st := b.Stats(); st.PacketsTooLarge != 2 {
		t.Errorf("Stats.PacketsTooLarge = %d, want 2", st.PacketsTooLarge)
	}
}

// TestPacketLimitBeforeConnect: a CONNECT over the default limit is refused like any packet.
func TestPacketLimitBeforeConnect(t *testing.T) {
	b := runBroker(t, BrokerOptions{MaxPacketSize: 1 << 10})
	c, err := net.Dial("tcp", b.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write(mqttLength([]byte{0x10}, 1<<20))
	if !closedByPeer(c, 2*time.Second) {
		t.Fatal("a 1 MB CONNECT header was not refused")
	}
}

// TestIdentifySource: the broker tells Identify where a client connects from, which it is given
// with the credentials.
func TestIdentifySource(t *testing.T) {
	got := make(chan string, 4)
	b := runBroker(t, BrokerOptions{Identify: func(source, user, password string) (Identity, bool) {
		got <- source
		return Identity{Role: RoleInternal, Name: user}, password == "right-password"
	}})
	c := connectAs(t, b.Addrs()[0].String(), "from-source", "member", "right-password")
	c.Close()
	if src := <-got; src != "127.0.0.1" {
		t.Errorf("source = %q, want 127.0.0.1", src)
	}
	if st := b.Stats(); st.AuthRejected != 0 {
		t.Errorf("AuthRejected = %d, want 0", st.AuthRejected)
	}
}
