package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/model"
)

// agentEnv, when set, makes the test binary a topology agent: "URL USER PASSWORD" of the broker.
//
// The harness asks for complete topologies from a process of its own, as an agent in a member
// does: what the agent reads (two copies of 94 MB at 100 000 members: paho reads the packet,
// then copies the payload out) then counts against that process, not against the platform's
// peak RSS, which the harness measures in its own process.
const agentEnv = "STRATA_BENCH_TOPOLOGY_AGENT"

func TestMain(m *testing.M) {
	if spec := os.Getenv(agentEnv); spec != "" {
		if err := runTopologyAgent(spec, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "topology agent:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runTopologyAgent connects to the broker and, for each line read from in, asks for a complete
// topology and writes "SIZE NANOSECONDS" to out: the size of the CompleteTopologyEvent that came
// and how long after the request. It takes complete topologies only while it asks for one: each
// one costs its connection 94 MB of writing at 100 000 members, with every periodic sync.
func runTopologyAgent(spec string, in io.Reader, out io.Writer) error {
	f := strings.Fields(spec)
	if len(f) != 3 {
		return fmt.Errorf("%s is %q, want URL USER PASSWORD", agentEnv, spec)
	}
	c, err := bus.New(bus.Options{URLs: f[:1], Username: f[1], Password: f[2], ClientID: "scale-topology-agent"})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = c.Run(ctx) }()
	topic := model.TopicOf(&model.CompleteTopologyEvent{})
	sizes := make(chan int, 16)
	lines := bufio.NewScanner(in)
	for lines.Scan() {
		for len(sizes) > 0 { // one that came late to the last request
			<-sizes
		}
		if err := c.Subscribe(ctx, topic, func(_ string, b []byte) {
			select {
			case sizes <- len(b):
			default:
			}
		}); err != nil {
			return err
		}
		start := time.Now()
		if err := c.PublishEvent(ctx, &model.CompleteTopologyRequestEvent{}); err != nil {
			return err
		}
		select {
		case size := <-sizes:
			fmt.Fprintln(out, size, int64(time.Since(start)))
		case <-time.After(5 * time.Minute):
			return fmt.Errorf("no CompleteTopologyEvent within 5 minutes of a request")
		}
		if err := c.Unsubscribe(ctx, topic); err != nil {
			return err
		}
	}
	return lines.Err()
}

// topologyAgent is a running topology agent process.
type topologyAgent struct {
	in  io.WriteCloser
	out *bufio.Scanner
}

// startTopologyAgent starts this test binary as a topology agent for brokerURL, stopped when
// the test ends.
func startTopologyAgent(t *testing.T, brokerURL, user, password string) *topologyAgent {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), agentEnv+"="+brokerURL+" "+user+" "+password)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close() // the agent ends at the end of its input
		if err := cmd.Wait(); err != nil {
			t.Errorf("topology agent: %v", err)
		}
	})
	return &topologyAgent{in: in, out: bufio.NewScanner(out)}
}

// ask asks the agent for a complete topology and returns its size and how long it took to come.
func (a *topologyAgent) ask(t *testing.T) (time.Duration, int) {
	t.Helper()
	if _, err := io.WriteString(a.in, "ask\n"); err != nil {
		t.Fatalf("topology agent: %v", err)
	}
	if !a.out.Scan() {
		t.Fatalf("topology agent ended: %v", a.out.Err())
	}
	var size int
	var ns int64
	if _, err := fmt.Sscan(a.out.Text(), &size, &ns); err != nil {
		t.Fatalf("topology agent answered %q: %v", a.out.Text(), err)
	}
	return time.Duration(ns), size
}
