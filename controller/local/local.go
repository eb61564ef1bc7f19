package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/strata-paas/strata/controller"
)

// Type is the IaaS type this driver serves: a cartridge's iaasProvider entry and a network
// partition's provider name it.
const Type = "local"

// PropertyCommand is the iaasProvider property that holds a cartridge's server command, run with
// /bin/sh -c.
const PropertyCommand = "command"

// PropertyExtensions is the iaasProvider property naming a directory of agent extension scripts
// (<Event>.sh) for the cartridge's members.
const PropertyExtensions = "extensions"

// PropertyAgent is the iaasProvider property naming a cartridge's own agent command, run with
// /bin/sh -c in the member's directory instead of `strata agent` (e.g. the Stratos Python agent,
// or any agent that reads a Stratos agent.conf and launch-params).
const PropertyAgent = "agent"

// MarkerEnv is set in the environment of every process of a member to the member id; adoption
// checks it in /proc/<pid>/environ, so a recycled pid is never mistaken for a member.
const MarkerEnv = "STRATA_LOCAL_MEMBER"

// EnvMemberDir is the member's directory, in the environment of the member's processes besides
// the payload's keys (Payload.Env), model.EnvMemberIP (the member's loopback address) and, for an
// agent command, model.EnvAgentConf and model.EnvLaunchParams.
const EnvMemberDir = "STRATA_MEMBER_DIR"

// Defaults of Options.
const (
	DefaultGracePeriod  = 10 * time.Second
	DefaultPollInterval = time.Second
	DefaultFirstIP      = "127.0.0.2"
	DefaultLastIP       = "127.0.255.254"
)

// Options configure a Driver.
type Options struct {
	// DataDir holds one directory per member (DataDir/<instance id>/); a relative path is made
	// absolute. Required.
	DataDir string
	// Executable is the strata binary the agent runs from; default os.Executable().
	Executable string
	// AgentArgs builds the agent's arguments from the paths of its agent.conf and launch-params;
	// default: agent --conf <conf> --payload <payload>.
	AgentArgs func(conf, payload string) []string
	// AgentConf is added to every member's agent.conf under [agent] (key = value lines), e.g.
	// mb.urls or timings; its keys replace those the driver writes.
	AgentConf string
	// AgentCommand, when set, is the agent of every cartridge that does not name one
	// (PropertyAgent): run with /bin/sh -c instead of Executable and AgentArgs.
	AgentCommand string
	// Env is added to the environment of the agent and of the server command.
	Env []string
	// GracePeriod is how long Terminate waits after SIGTERM before SIGKILL.
	GracePeriod time.Duration
	// PollInterval is how often adopted processes (whose parent is gone) are checked for life.
	PollInterval time.Duration
	// FirstIP and LastIP bound the loopback addresses given to members (default 127.0.0.2 to
	// 127.0.255.254; every 127/8 address reaches the loopback interface on Linux).
	FirstIP, LastIP string
	// Logger receives the driver's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock of exit reports; default time.Now.
	Now func() time.Time
}

// Driver runs every member as a local process group: `strata agent` (the group leader) and the
// cartridge's server command. It implements controller.Driver and controller.Watcher.
type Driver struct {
	opts  Options
	log   *slog.Logger
	first netip.Addr
	last  netip.Addr
	exits controller.Reports[controller.Exit] // for Watch

	mu      sync.Mutex // guards everything below
	members map[string]*member
	ips     map[netip.Addr]string // address -> instance id
	stops   int                   // ended members whose groups are being stopped; Watch waits for them
	stopped *sync.Cond            // on mu: signalled when stops drops to 0
}

var (
	_ controller.Driver  = (*Driver)(nil)
	_ controller.Watcher = (*Driver)(nil)
)

// record is member.json in the member's directory.
type record struct {
	InstanceID  string       `json:"instanceId"`
	MemberID    string       `json:"memberId"`
	PrivateIP   string       `json:"privateIp"`
	Pgid        int          `json:"pgid"`
	Processes   []procRecord `json:"processes"`
	StartedUnix int64        `json:"startedUnix"`
}

type procRecord struct {
	Role      string `json:"role"` // "agent" or "server"
	Pid       int    `json:"pid"`
	StartTime uint64 `json:"startTime"` // /proc/<pid>/stat field 22, against pid reuse
}

// member is a running member. Fields other than rec and dir are guarded by Driver.mu.
type member struct {
	rec         record
	dir         string
	ip          netip.Addr
	adopted     bool          // started by an earlier driver: polled, not waited for
	done        chan struct{} // closed when every process this driver started has been waited for
	terminating bool
	gone        bool // its exit has been handled
}

// New checks the options, creates DataDir, and adopts the members a previous driver left
// running (verified through /proc); directories of members that are gone are moved aside.
func New(o Options) (*Driver, error) {
	if o.DataDir == "" {
		return nil, errors.New("local: no DataDir")
	}
	// The agent runs in the member's directory and gets the paths of its files: they must not be
	// relative to this process's working directory.
	abs, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, fmt.Errorf("local: data dir: %w", err)
	}
	o.DataDir = abs
	if o.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("local: executable: %w", err)
		}
		o.Executable = exe
	}
	if o.AgentArgs == nil {
		o.AgentArgs = func(conf, payload string) []string {
			return []string{"agent", "--conf", conf, "--payload", payload}
		}
	}
	if o.GracePeriod <= 0 {
		o.GracePeriod = DefaultGracePeriod
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.FirstIP == "" {
		o.FirstIP = DefaultFirstIP
	}
	if o.LastIP == "" {
		o.LastIP = DefaultLastIP
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	first, err1 := netip.ParseAddr(o.FirstIP)
	last, err2 := netip.ParseAddr(o.LastIP)
	if err := errors.Join(err1, err2); err != nil || !first.Is4() || !last.Is4() || last.Less(first) {
		return nil, fmt.Errorf("local: bad address range %s-%s: %w", o.FirstIP, o.LastIP, err)
	}
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("local: data dir: %w", err)
	}
	d := &Driver{
		opts: o, log: o.Logger.With("component", "local_driver"), first: first, last: last,
		members: map[string]*member{}, ips: map[netip.Addr]string{},
	}
	d.stopped = sync.NewCond(&d.mu)
	if err := d.adopt(); err != nil {
		return nil, err
	}
	return d, nil
}

// instanceID turns a member id into a directory name.
func instanceID(memberID string) string {
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, memberID)
}

// allocIPLocked returns the lowest free address of the range, or the hint when it is free.
func (d *Driver) allocIPLocked(hint string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(hint); err == nil && a.IsLoopback() {
		if _, used := d.ips[a]; !used {
			return a, nil
		}
	}
	for a := d.first; !d.last.Less(a); a = a.Next() {
		if b := a.As4(); b[3] == 0 || b[3] == 255 {
			continue
		}
		if _, used := d.ips[a]; !used {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("local: no free loopback address in %s-%s", d.first, d.last)
}

// List returns the running members, including those adopted from an earlier driver.
func (d *Driver) List(ctx context.Context) ([]controller.Started, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]controller.Started, 0, len(d.members))
	for id, m := range d.members {
		if m.terminating {
			continue
		}
		out = append(out, controller.Started{InstanceID: id, MemberID: m.rec.MemberID, PrivateIPs: []string{m.rec.PrivateIP}})
	}
	return out, nil
}
