package app

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/strata-paas/strata/internal/testenv"
)

// TestWrongPasswordFloodKeepsValidUsers is issue 15's "under 1,000 concurrent wrong passwords a
// valid request took 8.5 s": 1,000 requests with the admin's name and a wrong password are sent
// at once, on connections opened beforehand, from the same source as the admin's own requests.
// The attacker gets 429s with Retry-After, and the admin's requests made from that moment on
// answer 200 within 1 s at the 99th percentile: a verified credential is remembered, so a valid
// user never waits for the password checks the attacker causes.
func TestWrongPasswordFloodKeepsValidUsers(t *testing.T) {
	t.Parallel()
	s := start(t, testOptions(t))
	url := "http://" + s.app.Addrs().API.String() + "/api/session"
	valid := &http.Client{Timeout: time.Minute}
	if code, body := call(t, valid, http.MethodGet, url, ""); code != http.StatusOK {
		t.Fatalf("GET /api/session as the admin: %d %s", code, body)
	}

	// Each attacker is one goroutine on one connection, writing the request and reading the
	// answer by hand: net/http's client would add two goroutines per connection to this process,
	// which the platform shares.
	const attackers = 1000
	auth := base64.StdEncoding.EncodeToString([]byte("admin:wrong-password"))
	request := []byte("GET /api/session HTTP/1.1\r\nHost: strata\r\nAuthorization: Basic " + auth + "\r\n\r\n")
	var (
		mu         sync.Mutex
		codes      = map[int]int{}
		retryAfter int
		took       []time.Duration
	)
	// One burst of the attack: 1,000 requests at once. Valid requests are made one after the
	// other from the moment it is sent until it is answered (the throttled answers come at once;
	// the few attempts checked wait for bcrypt). A burst answered before 20 valid requests were
	// made is followed by another, so that the percentile has enough samples, all under attack.
	burst := func() {
		conns := make([]net.Conn, attackers)
		for i := range conns {
			c, err := net.Dial("tcp", s.app.Addrs().API.String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			conns[i] = c
		}
		var wg sync.WaitGroup
		release := make(chan struct{})
		for _, c := range conns {
			wg.Go(func() {
				<-release
				_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
				var resp *http.Response
				_, err := c.Write(request)
				if err == nil {
					resp, err = http.ReadResponse(bufio.NewReader(c), nil)
				}
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					codes[-1]++
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				codes[resp.StatusCode]++
				if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "" {
					retryAfter++
				}
			})
		}
		attackOver := make(chan struct{})
		go func() { wg.Wait(); close(attackOver) }()
		close(release)
		for len(took) < 200 {
			select {
			case <-attackOver:
			default:
				began := time.Now()
				if code, body := call(t, valid, http.MethodGet, url, ""); code != http.StatusOK {
					t.Errorf("GET /api/session as the admin during the attack: %d %s", code, body)
				}
				took = append(took, time.Since(began))
				continue
			}
			break
		}
		<-attackOver
	}
	for round := 0; len(took) < 20; round++ {
		if round == 10 {
			t.Fatalf("only %d valid requests during 10 bursts of the attack: too few for a p99", len(took))
		}
		burst()
	}
	slices.Sort(took)
	p99 := took[(len(took)*99+99)/100-1] // nearest rank
	t.Logf("%d valid requests during the attack: median %v, p99 %v, slowest %v; attacker's answers %v (-1: none)",
		len(took), took[len(took)/2], p99, took[len(took)-1], codes)
	// The bound is 1 s. The race detector makes every request several times slower, so
	// under it the bound only guards against the old behaviour (8.5 s and worse); `make test`
	// runs this test once more without the race detector, against 1 s.
	bound := time.Second
	if testenv.Race {
		bound = 5 * time.Second
	}
	if p99 > bound {
		t.Errorf("p99 of valid requests during the attack = %v, want <= %v", p99, bound)
	}
	if codes[http.StatusTooManyRequests] == 0 || retryAfter != codes[http.StatusTooManyRequests] {
		t.Errorf("attacker's answers %v, %d with Retry-After: want 429s, each with Retry-After", codes, retryAfter)
	}
	if codes[http.StatusOK] != 0 || codes[-1] != 0 {
		t.Errorf("attacker's answers %v: none may succeed or go unanswered", codes)
	}
}

// TestThriftIdleConnectionClosed is issue 15's "idle Thrift connections never time out": a
// connection to either data-bridge service that sends nothing is closed after
// --thrift-idle-timeout, and counted.
func TestThriftIdleConnectionClosed(t *testing.T) {
	t.Parallel()
	o := testOptions(t)
	o.CEP.Limits.IdleTimeout = 300 * time.Millisecond
	s := start(t, o)
	dial := map[string]func() (net.Conn, error){
		"plain": func() (net.Conn, error) { return net.Dial("tcp", s.app.Addrs().Thrift.String()) },
		"TLS, after the handshake": func() (net.Conn, error) {
			return tls.Dial("tcp", s.app.Addrs().ThriftTLS.String(), &tls.Config{InsecureSkipVerify: true}) // the data dir's self-signed certificate
		},
	}
	for name, d := range dial {
		c, err := d()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer c.Close()
		began := time.Now()
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err = io.Copy(io.Discard, c)
		if err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("%s: the idle connection was not closed: %v", name, err)
		}
		t.Logf("%s: idle connection closed after %v", name, time.Since(began).Round(time.Millisecond))
	}
	m := scrape(t, s)
	if got := m["strata_databridge_idle_closed_total"]; got != 2 {
		t.Errorf("strata_databridge_idle_closed_total = %v, want 2", got)
	}
}

// scrape reads the platform's /metrics.
func scrape(t *testing.T, s *started) map[string]float64 {
	t.Helper()
	_, body := call(t, http.DefaultClient, http.MethodGet, "http://"+s.app.Addrs().API.String()+"/metrics", "")
	return testenv.ParseMetrics(t, body)
}

// TestMQTTLoginsThrottled: wrong passwords at the embedded broker are throttled like those on
// the REST API: past the user name's attempts, CONNACK refuses without a password check, and
// the throttle is counted.
func TestMQTTLoginsThrottled(t *testing.T) {
	t.Parallel()
	o := testOptions(t)
	o.Limits.LoginUserBurst, o.Limits.LoginRefill = 3, time.Hour
	s := start(t, o)
	for i := range 5 {
		opts := mqtt.NewClientOptions().AddBroker("tcp://" + s.app.Addrs().MQTT.String()).
			SetClientID("guesser").SetUsername("admin").SetPassword("wrong-password").
			SetAutoReconnect(false).SetConnectRetry(false).SetProtocolVersion(4) // no fallback to 3.1: one attempt each
		c := mqtt.NewClient(opts)
		tok := c.Connect()
		if !tok.WaitTimeout(time.Minute) {
			t.Fatalf("attempt %d with a wrong password: no CONNACK within a minute", i)
		}
		if tok.Error() == nil {
			t.Fatalf("attempt %d with a wrong password was accepted", i)
		}
	}
	m := scrape(t, s)
	if m["strata_logins_failed_total"] != 3 || m["strata_logins_throttled_total"] != 2 {
		t.Errorf("failed %v, throttled %v; want 3 and 2", m["strata_logins_failed_total"], m["strata_logins_throttled_total"])
	}
}

// TestGCPercent: the platform collects at DefaultGCPercent unless GOGC sets the collector's
// target, which it then keeps (issue 17: the resident set at 100 000 members). Not parallel: it
// changes the environment and the process's collector.
func TestGCPercent(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })
	gogc, set := os.LookupEnv("GOGC")
	t.Cleanup(func() {
		if set {
			os.Setenv("GOGC", gogc)
		} else {
			os.Unsetenv("GOGC")
		}
	})
	os.Unsetenv("GOGC")
	SetDefaultGCPercent()
	if got := debug.SetGCPercent(100); got != DefaultGCPercent {
		t.Errorf("without GOGC the collector's percent is %d, want %d", got, DefaultGCPercent)
	}
	os.Setenv("GOGC", "100")
	SetDefaultGCPercent()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC=100 the collector's percent is %d, want the environment's 100", got)
	}
}
