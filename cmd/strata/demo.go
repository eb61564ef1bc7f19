package main

// `strata up --demo`: the product's first command. It deploys the demo cartridge of
// examples/demo on the local driver (every member a real `strata agent` plus `strata
// demo-server`), applies the demo policies, drives HTTP load through the load balancer in waves
// and prints, every second, the load, the CEP's latest summaries, the members by state and every
// autoscaler decision with its reason.
//
// Data flow of the demo, on top of `strata up`'s:
//
//	runDemo ──AddCartridge/AddNetworkPartition/CreateCluster──> controller ──local driver──> members
//	        ──Store.Update(examples/demo/policies)──> policy store ──> autoscaler (RegisterCluster)
//	load workers ──HTTP──> LB proxy port ──> members (demo-server)
//	cep.Engine.Subscribe ──> latest summaries ─┐
//	controller.Members, autoscaler.Decisions ──┴─> printer (every second) ──> out
//
// Goroutines: runDemo's (phases), the printer, and one per load worker. demoState.mu guards what
// the printer reads; the CEP's subscriber only stores the latest summary under it.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/strata-paas/strata/autoscaler"
	"github.com/strata-paas/strata/cep"
	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/controller/local"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

// errDemoDone ends `strata up --demo --demo-exit` once the demo is over; up returns nil for it.
var errDemoDone = errors.New("demo finished")

// The demo's cluster: one application "demo" with the cartridge under the alias "web".
const (
	demoApp      = "demo"
	demoAlias    = "web"
	demoInstance = "web-1"
	demoMin      = 1
	demoMax      = 4
)

// demoConfig is what the --demo flags say.
type demoConfig struct {
	enabled   bool
	exit      bool
	dir       string
	waves     string // durations of the low, high and low waves
	workers   string // concurrent requests in the low and high waves
	proxyPort int    // 0: the cartridge's
	port      int    // 0: the cartridge's
}

func (c *demoConfig) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.enabled, "demo", false, "deploy the demo cartridge on the local driver, apply examples/demo policies, drive load in waves and show the autoscaler at work (short CEP window, health and monitor intervals)")
	fs.BoolVar(&c.exit, "demo-exit", false, "with --demo: stop the platform once the demo is over (default: keep running until Ctrl-C)")
	fs.StringVar(&c.dir, "demo-dir", filepath.Join("examples", "demo"), "with --demo: the directory holding cartridge.json and policies/")
	fs.StringVar(&c.waves, "demo-waves", "30s,60s,60s", "with --demo: durations of the low, high and low load waves")
	fs.StringVar(&c.workers, "demo-workers", "2,12", "with --demo: concurrent requests in the low and the high waves")
	fs.IntVar(&c.proxyPort, "demo-proxy-port", 0, "with --demo: the load balancer's port for the demo cartridge (0: the cartridge's proxyPort)")
	fs.IntVar(&c.port, "demo-port", 0, "with --demo: the members' port (0: the cartridge's port)")
}

// Timings --demo gives the flags the user did not set: summaries every 10 s instead of every
// minute, a monitor tick every 5 s, silent members faulty after 30 s, and a member asked to clean
// up terminated after 30 s even if its agent never answers (30 min otherwise).
var demoTimings = map[string]string{
	"cep-window":       "10s",
	"fault-timeout":    "30s",
	"fault-grace":      "30s",
	"monitor-interval": "5s",
	"graceful-timeout": "30s",
	"log-level":        "warn", // the demo's own lines are the show; warnings and errors still appear
}

// applyDemoTimings sets demoTimings on the flags of fs that the command line did not set.
func applyDemoTimings(fs *flag.FlagSet) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for name, v := range demoTimings {
		if set[name] || fs.Lookup(name) == nil {
			continue
		}
		if err := fs.Set(name, v); err != nil {
			return fmt.Errorf("--demo: --%s %s: %w", name, v, err)
		}
	}
	return nil
}

// lbStatsInterval is the load balancer's in-flight publishing interval: with --demo five samples
// per CEP window (the CEP needs three for a second derivative), otherwise the default.
func (c *upConfig) lbStatsInterval() time.Duration {
	if !c.demo.enabled {
		return 0
	}
	return demoSampleInterval(c.cep.window)
}

func demoSampleInterval(window time.Duration) time.Duration {
	return max(window/5, 200*time.Millisecond)
}

// demoDeps is what runDemo needs of the running platform.
type demoDeps struct {
	cfg        demoConfig
	controller *controller.Controller
	driver     controller.Driver // the local driver: stops the demo's members after ctx ended
	scaler     *autoscaler.Autoscaler
	policies   *policies.Store
	cep        *cep.Engine
	window     time.Duration // the CEP window
	lbHost     string
	log        *slog.Logger
}

// demoPlan is the demo's files, read and checked before anything is created.
type demoPlan struct {
	cartridge  model.Cartridge
	set        *policies.Set
	np         model.NetworkPartition
	autoscale  string
	deployment string
	proxyPort  int
	waves      []demoWave
}

type demoWave struct {
	name    string
	d       time.Duration
	workers int
}

func loadDemo(cfg demoConfig) (*demoPlan, error) {
	var p demoPlan
	path := filepath.Join(cfg.dir, "cartridge.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--demo-dir: %w (run from the repository root or pass --demo-dir)", err)
	}
	if err := json.Unmarshal(b, &p.cartridge); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ct := &p.cartridge
	if len(ct.PortMapping) != 1 {
		return nil, fmt.Errorf("%s: the demo cartridge needs exactly one port mapping", path)
	}
	if cfg.port != 0 {
		ct.PortMapping[0].Port = model.Int(cfg.port)
	}
	if cfg.proxyPort != 0 {
		ct.PortMapping[0].ProxyPort = model.Int(cfg.proxyPort)
	}
	p.proxyPort = int(ct.PortMapping[0].ProxyPort)
	if err := ct.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if p.set, err = policies.LoadDir(filepath.Join(cfg.dir, "policies")); err != nil {
		return nil, err
	}
	as, dps := p.set.AutoscalingPolicies(), p.set.DeploymentPolicies()
	if len(as) != 1 || len(dps) != 1 || len(dps[0].NetworkPartitions) != 1 {
		return nil, fmt.Errorf("%s: want one autoscaling policy and one deployment policy with one network partition", filepath.Join(cfg.dir, "policies"))
	}
	p.autoscale, p.deployment = as[0].ID, dps[0].ID
	np, ok := p.set.NetworkPartition(dps[0].NetworkPartitions[0].ID)
	if !ok {
		return nil, fmt.Errorf("network partition %s of %s: not found", dps[0].NetworkPartitions[0].ID, p.deployment)
	}
	p.np = model.NetworkPartition{ID: np.ID, Provider: np.Provider}
	for _, pp := range np.Properties {
		p.np.Properties = append(p.np.Properties, model.NameValue{Name: pp.Name, Value: model.String(pp.Value)})
	}
	for _, part := range np.Partitions {
		mp := model.Partition{ID: part.ID, Description: part.Description}
		for _, pp := range part.Properties {
			mp.Property = append(mp.Property, model.NameValue{Name: pp.Name, Value: model.String(pp.Value)})
		}
		p.np.Partitions = append(p.np.Partitions, mp)
	}
	if p.waves, err = parseWaves(cfg.waves, cfg.workers); err != nil {
		return nil, err
	}
	return &p, nil
}

// parseWaves reads "low,high,low" durations and "low,high" worker counts.
func parseWaves(waves, workers string) ([]demoWave, error) {
	ds := strings.Split(waves, ",")
	if len(ds) != 3 {
		return nil, fmt.Errorf("--demo-waves %q: want three durations (low, high, low)", waves)
	}
	ws := strings.Split(workers, ",")
	if len(ws) != 2 {
		return nil, fmt.Errorf("--demo-workers %q: want two counts (low, high)", workers)
	}
	var n [2]int
	for i, w := range ws {
		v, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || v < 0 || v > 1000 {
			return nil, fmt.Errorf("--demo-workers %q: want counts from 0 to 1000", workers)
		}
		n[i] = v
	}
	out := make([]demoWave, 3)
	for i, s := range ds {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("--demo-waves %q: want three positive durations", waves)
		}
		out[i] = demoWave{name: "low", d: d, workers: n[0]}
		if i == 1 {
			out[i] = demoWave{name: "high", d: d, workers: n[1]}
		}
	}
	return out, nil
}

// runDemo runs the demo on the platform of deps and prints it to out. It returns errDemoDone
// after the demo with --demo-exit; otherwise it waits for ctx to end. Either way the demo's
// members are stopped before it returns.
func runDemo(ctx context.Context, d demoDeps, out io.Writer) error {
	plan, err := loadDemo(d.cfg)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	select {
	case <-d.controller.Ready():
	case <-ctx.Done():
		return nil
	}
	clusterID := model.ClusterID(demoApp, demoAlias, plan.cartridge.Type)
	st := &demoState{start: time.Now(), clusterID: clusterID}
	pr := &demoPrinter{out: out, st: st, d: d, seen: map[string]bool{}, names: map[string]string{}}

	if err := deployDemo(ctx, d, plan, exe, clusterID); err != nil {
		return err
	}
	defer stopDemo(d, clusterID)
	d.cep.Subscribe(st.summary)

	lbURL := "http://" + net.JoinHostPort(orLoopback(d.lbHost), strconv.Itoa(plan.proxyPort)) + "/"
	pr.printf("strata demo: cartridge %s on the local driver, cluster %s (min %d, max %d)\n", plan.cartridge.Type, clusterID, demoMin, demoMax)
	pr.printf("  policies %s and %s from %s; load through the load balancer at %s\n", plan.autoscale, plan.deployment, filepath.Join(d.cfg.dir, "policies"), lbURL)
	pr.printf("  waves: %s; CEP window %s, health every %s\n", describeWaves(plan.waves), d.window, demoSampleInterval(d.window))

	load := newDemoLoad(lbURL, plan.waves)
	pctx, stopPrinter := context.WithCancel(ctx)
	printerDone := make(chan struct{})
	go func() { defer close(printerDone); pr.run(pctx, load) }()
	finish := func() { stopPrinter(); <-printerDone }

	// Phase 1: the first member.
	st.setPhase("starting")
	if err := waitDemo(ctx, 3*time.Minute, func() bool { return countStatus(d.controller.Members(clusterID), model.MemberActive) > 0 }); err != nil {
		finish()
		return demoEnd(ctx, fmt.Errorf("demo: no member became Active: %w", err))
	}
	if err := waitDemo(ctx, 30*time.Second, func() bool { return load.probe(ctx) == nil }); err != nil {
		finish()
		return demoEnd(ctx, fmt.Errorf("demo: the load balancer does not route to the member (%s): %w", lbURL, err))
	}

	// Phase 2: the waves.
	var wg sync.WaitGroup
	lctx, stopLoad := context.WithCancel(ctx)
	load.start(lctx, &wg)
	for _, w := range plan.waves {
		st.setPhase(w.name)
		load.setWorkers(w.workers)
		select {
		case <-ctx.Done():
		case <-time.After(w.d):
		}
	}
	load.setWorkers(0)
	stopLoad()
	wg.Wait()

	// Phase 3: idle until the cluster is back at min (or it is clearly not coming back).
	st.setPhase("idle")
	_ = waitDemo(ctx, 2*time.Minute, func() bool {
		return st.scaledOut() && len(d.controller.Members(clusterID)) <= demoMin
	})
	time.Sleep(1100 * time.Millisecond) // one more status line
	finish()
	if ctx.Err() != nil {
		return nil
	}
	pr.summary(load)
	if d.cfg.exit {
		return errDemoDone
	}
	pr.printf("strata demo: over; the platform keeps running (Ctrl-C stops it and the demo's members)\n")
	<-ctx.Done()
	return nil
}

// demoEnd returns err, or nil when ctx ended (Ctrl-C is not a demo failure).
func demoEnd(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func orLoopback(host string) string {
	if host == "" || host == "0.0.0.0" || host == "::" {
		return "127.0.0.1"
	}
	return host
}

func describeWaves(ws []demoWave) string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = fmt.Sprintf("%s %s (%d workers)", w.name, w.d, w.workers)
	}
	return strings.Join(parts, ", ")
}

// deployDemo registers the cartridge and the network partition, applies the policies, creates
// the cluster (a previous demo's cluster is removed first, so every demo starts from one member)
// and registers it with the autoscaler.
func deployDemo(ctx context.Context, d demoDeps, plan *demoPlan, exe, clusterID string) error {
	if err := d.controller.AddCartridge(ctx, plan.cartridge); errors.Is(err, controller.ErrExists) {
		err = d.controller.UpdateCartridge(ctx, plan.cartridge)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := d.controller.AddNetworkPartition(ctx, plan.np); errors.Is(err, controller.ErrExists) {
		if err = d.controller.UpdateNetworkPartition(ctx, plan.np); err != nil && !errors.Is(err, controller.ErrInUse) {
			return fmt.Errorf("demo: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if _, err := d.policies.Update(func(s *policies.Set) (*policies.Set, error) {
		return s.With(ctx, plan.set.All()...)
	}); err != nil {
		return fmt.Errorf("demo: apply %s: %w", filepath.Join(d.cfg.dir, "policies"), err)
	}
	if _, err := d.controller.Cluster(clusterID); err == nil {
		if err := d.controller.RemoveCluster(ctx, clusterID); err != nil {
			return fmt.Errorf("demo: remove the previous demo's cluster: %w", err)
		}
	}
	health := strconv.FormatFloat(demoSampleInterval(d.window).Seconds(), 'f', -1, 64)
	err := d.controller.CreateCluster(ctx, controller.ClusterSpec{
		ClusterID: clusterID, ServiceName: plan.cartridge.Type, AppID: demoApp, Alias: demoAlias,
		AutoscalePolicy: plan.autoscale, DeploymentPolicy: plan.deployment,
		Payload: model.Payload{
			{Key: "STRATA_BIN", Value: exe},                 // the cartridge's command runs "$STRATA_BIN" demo-server
			{Key: "stats.notifier.interval", Value: health}, // the agents' health interval, in seconds
			{Key: "port.check.interval", Value: "1"},        // activate within a second of the port opening
		},
	})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return d.scaler.RegisterCluster(autoscaler.ClusterSpec{
		ClusterID: clusterID, InstanceID: demoInstance, NetworkPartition: plan.np.ID,
		ServiceName: plan.cartridge.Type, ApplicationID: demoApp, TenantID: "-1234",
		Min: demoMin, Max: demoMax, AutoscalePolicy: plan.autoscale, DeploymentPolicy: plan.deployment,
	})
}

// stopDemo stops the demo's members. The platform may be stopping (Ctrl-C), so it does not go
// through the controller's API: it forgets the cluster in the autoscaler and has the driver stop
// every member's processes; a later `strata up` reconciles the controller's state.
func stopDemo(d demoDeps, clusterID string) {
	d.scaler.RemoveCluster(clusterID)
	ctx, cancel := context.WithTimeout(context.Background(), 2*local.DefaultGracePeriod)
	defer cancel()
	var wg sync.WaitGroup
	for _, m := range d.controller.Members(clusterID) {
		if m.InstanceID == "" {
			continue
		}
		wg.Go(func() {
			if err := d.driver.Terminate(ctx, m.InstanceID); err != nil && !errors.Is(err, controller.ErrInstanceNotFound) {
				d.log.Warn("demo: stop member", "member_id", m.MemberID, "err", err)
			}
		})
	}
	wg.Wait()
}

// waitDemo polls cond every 250 ms until it holds, ctx ends or within passes.
func waitDemo(ctx context.Context, within time.Duration, cond func() bool) error {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return nil
}

func countStatus(ms []model.Member, s model.MemberStatus) int {
	n := 0
	for i := range ms {
		if ms[i].Status() == s {
			n++
		}
	}
	return n
}

// demoState is what the phases and the CEP's subscriber tell the printer.
type demoState struct {
	start     time.Time
	clusterID string

	mu        sync.Mutex
	phase     string
	summaries map[model.SummaryKind]model.Summary // the latest cluster-level summaries
	maxActive int
	outAt     time.Duration // first scale-up decision, since start
	inAt      time.Duration // last scale-down decision that brought the cluster back to min
	upDelta   int
	downDelta int
}

func (s *demoState) setPhase(p string) {
	s.mu.Lock()
	s.phase = p
	s.mu.Unlock()
}

// summary is the CEP subscriber: it keeps the latest cluster-level summary of each kind.
func (s *demoState) summary(sum model.Summary) {
	if sum.ClusterID != s.clusterID || sum.Kind.MemberLevel() {
		return
	}
	s.mu.Lock()
	if s.summaries == nil {
		s.summaries = map[model.SummaryKind]model.Summary{}
	}
	s.summaries[sum.Kind] = sum
	s.mu.Unlock()
}

func (s *demoState) scaledOut() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxActive > demoMin
}

// demoLoad is the load generator: a fixed pool of workers, of which the first n send requests
// back to back (a closed loop: about n requests in flight).
type demoLoad struct {
	url     string
	client  *http.Client
	max     int
	workers atomic.Int64
	ok      atomic.Int64
	errs    atomic.Int64
	lat     atomic.Int64 // total latency of ok requests, ns
	lastErr atomic.Value // string
	served  sync.Map     // member -> *atomic.Int64
}

func newDemoLoad(url string, waves []demoWave) *demoLoad {
	n := 0
	for _, w := range waves {
		n = max(n, w.workers)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: n + 1, IdleConnTimeout: 30 * time.Second}
	return &demoLoad{url: url, max: n, client: &http.Client{Transport: tr, Timeout: 15 * time.Second}}
}

func (l *demoLoad) setWorkers(n int) { l.workers.Store(int64(n)) }

// probe sends one request and reports whether it was served.
func (l *demoLoad) probe(ctx context.Context) error {
	_, err := l.get(ctx)
	return err
}

func (l *demoLoad) get(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.url, nil)
	if err != nil {
		return "", err
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return "", err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s", resp.Status)
	}
	return resp.Header.Get(demoMemberHeader), nil
}

func (l *demoLoad) start(ctx context.Context, wg *sync.WaitGroup) {
	for i := range l.max {
		wg.Go(func() { l.worker(ctx, i) })
	}
}

func (l *demoLoad) worker(ctx context.Context, i int) {
	for ctx.Err() == nil {
		if int64(i) >= l.workers.Load() {
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		t0 := time.Now()
		member, err := l.get(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			l.errs.Add(1)
			l.lastErr.Store(err.Error())
			time.Sleep(100 * time.Millisecond) // no hot loop on a refused connection
			continue
		}
		l.ok.Add(1)
		l.lat.Add(int64(time.Since(t0)))
		c, _ := l.served.LoadOrStore(member, new(atomic.Int64))
		c.(*atomic.Int64).Add(1)
	}
}

// demoPrinter writes the demo's lines to out, from one goroutine at a time.
type demoPrinter struct {
	out  io.Writer
	st   *demoState
	d    demoDeps
	mu   sync.Mutex
	seen map[string]bool // decisions printed

	names   map[string]string // member id -> address, for short lines
	skipped int               // monitor ticks without fresh metrics and without action, not printed
}

// name is a member's address, or its id when the address is not known yet.
func (p *demoPrinter) name(memberID string) string {
	if ip := p.names[memberID]; ip != "" {
		return ip
	}
	return memberID
}

func (p *demoPrinter) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, format, args...)
}

// run prints the status line every second, preceded by the decisions made since the last one.
func (p *demoPrinter) run(ctx context.Context, load *demoLoad) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var lastOK, lastErr, lastLat int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.decisions()
		ok, errs, lat := load.ok.Load(), load.errs.Load(), load.lat.Load()
		dOK, dErr := ok-lastOK, errs-lastErr
		ms := 0.0
		if dOK > 0 {
			ms = float64(lat-lastLat) / float64(dOK) / 1e6
		}
		lastOK, lastErr, lastLat = ok, errs, lat
		members := p.d.controller.Members(p.st.clusterID)
		for i := range members {
			if ip := members[i].DefaultPrivateIP; ip != "" {
				p.names[members[i].MemberID] = ip
			}
		}
		active := countStatus(members, model.MemberActive)
		p.st.mu.Lock()
		p.st.maxActive = max(p.st.maxActive, active)
		phase, sums := p.st.phase, p.st.summaries
		line := fmt.Sprintf("%s %-8s %2d workers %3d req/s %2d err %4.0f ms | %s | %s\n",
			p.elapsed(time.Now()), phase, load.workers.Load(), dOK, dErr, ms, summaryText(sums), memberText(members))
		p.st.mu.Unlock()
		p.printf("%s", line)
		if dErr > 0 {
			if e, _ := load.lastErr.Load().(string); e != "" {
				p.printf("         last error: %s\n", e)
			}
		}
	}
}

func (p *demoPrinter) elapsed(t time.Time) string {
	return fmt.Sprintf("[%4.0fs]", t.Sub(p.st.start).Seconds())
}

// decisions prints the decisions not printed yet, one line each.
func (p *demoPrinter) decisions() {
	for _, dec := range p.d.scaler.Decisions(p.st.clusterID, 64) {
		if p.seen[dec.ID] {
			continue
		}
		p.seen[dec.ID] = true
		if t, err := autoscaler.DecodeTrace(dec); err == nil && dec.Action == autoscaler.ActionNone && dec.Delta == 0 &&
			t.Limit == autoscaler.LimitNoFreshMetrics && len(t.Steps) == 0 {
			p.skipped++ // a monitor tick between two CEP windows: nothing to say
			continue
		}
		p.st.mu.Lock()
		switch {
		case dec.Action == autoscaler.ActionScaleUp && dec.Delta > 0:
			if p.st.outAt == 0 {
				p.st.outAt = dec.Time.Sub(p.st.start)
			}
			p.st.upDelta += dec.Delta
		case dec.Action == autoscaler.ActionScaleDown && dec.Delta < 0:
			p.st.downDelta -= dec.Delta
			if dec.NonTerminated+dec.Delta <= demoMin {
				p.st.inAt = dec.Time.Sub(p.st.start)
			}
		}
		p.st.mu.Unlock()
		p.printf("%s decision %s\n", p.elapsed(dec.Time), decisionLine(dec, p.name))
	}
}

// decisionLine is a decision on one line: the action, the counts, the reason and, when the
// scaling rule ran, the requests in flight and the rules that changed something.
func decisionLine(d model.Decision, name func(memberID string) string) string {
	var b strings.Builder
	b.WriteString(d.Action)
	if d.Delta != 0 {
		fmt.Fprintf(&b, " %+d", d.Delta)
	}
	fmt.Fprintf(&b, " (active %d, required %d): %s", d.Active, d.Required, d.Reason)
	t, err := autoscaler.DecodeTrace(d)
	if err != nil || len(d.Trace) == 0 {
		return b.String()
	}
	if t.ScalingRun {
		f := t.Families[0]
		fmt.Fprintf(&b, "; rif avg %.2f grad %+.2f -> predicted %.2f / threshold %g -> %d", f.Average, f.Gradient, f.Predicted, f.Threshold, f.Required)
		for _, r := range t.Rules {
			if !r.Changed {
				continue
			}
			if r.IsBool {
				fmt.Fprintf(&b, "; rule %s: %s = %t", r.Name, r.Target, r.Verdict)
			} else {
				fmt.Fprintf(&b, "; rule %s: %s = %g", r.Name, r.Target, r.Value)
			}
		}
		if t.Stabilized != 0 {
			fmt.Fprintf(&b, "; stabilization window: %d", t.Stabilized)
		}
		if t.Final.ScaleDown && t.ScaleDownRequests > 0 && d.Delta == 0 {
			fmt.Fprintf(&b, "; scale-down requests %d", t.ScaleDownRequests)
		}
	}
	for i := 0; i < len(t.Steps); {
		s := t.Steps[i]
		n := 1
		for i+n < len(t.Steps) && s.Member == "" && t.Steps[i+n] == s {
			n++
		}
		i += n
		b.WriteString("; ")
		if s.Check != s.Action {
			b.WriteString(s.Check + ": ")
		}
		b.WriteString(s.Action)
		if n > 1 {
			fmt.Fprintf(&b, " x%d", n)
		}
		if s.Member != "" {
			b.WriteString(" " + name(s.Member))
		}
	}
	if t.Limit != "" && d.Delta == 0 {
		fmt.Fprintf(&b, " [%s]", t.Limit)
	}
	return b.String()
}

// summaryText is the latest cluster-level averages and gradients of the three families.
func summaryText(s map[model.SummaryKind]model.Summary) string {
	f := func(avg, grad model.SummaryKind, unit string) string {
		a, ok := s[avg]
		if !ok {
			return "-"
		}
		g := s[grad].Value
		if math.IsNaN(g) {
			g = 0
		}
		return fmt.Sprintf("%.1f%s (%+.2f/s)", a.Value, unit, g) // the gradient is per second
	}
	avg := func(k model.SummaryKind) string {
		if a, ok := s[k]; ok {
			return fmt.Sprintf("%.0f%%", a.Value)
		}
		return "-"
	}
	return "rif " + f(model.AverageRequestsInFlight, model.GradientOfRequestsInFlight, "") +
		" mc " + avg(model.AverageMemoryConsumption) + " la " + avg(model.AverageLoadAverage)
}

var statusOrder = []model.MemberStatus{model.MemberCreated, model.MemberInitialized, model.MemberStarting,
	model.MemberActive, model.MemberInMaintenance, model.MemberReadyToShutDown, model.MemberSuspended, model.MemberTerminated}

// memberText is the members by state, each state with its members' addresses.
func memberText(ms []model.Member) string {
	if len(ms) == 0 {
		return "none"
	}
	by := map[model.MemberStatus][]string{}
	for i := range ms {
		ip := ms[i].DefaultPrivateIP
		if ip == "" {
			ip = "?"
		}
		by[ms[i].Status()] = append(by[ms[i].Status()], ip)
	}
	var parts []string
	for _, s := range statusOrder {
		if ips := by[s]; len(ips) > 0 {
			slices.Sort(ips)
			parts = append(parts, fmt.Sprintf("%d %s [%s]", len(ips), s, strings.Join(ips, " ")))
		}
	}
	return strings.Join(parts, ", ")
}

// summary prints what the demo showed.
func (p *demoPrinter) summary(load *demoLoad) {
	p.st.mu.Lock()
	maxActive, outAt, inAt, up, down := p.st.maxActive, p.st.outAt, p.st.inAt, p.st.upDelta, p.st.downDelta
	p.st.mu.Unlock()
	var served []string
	load.served.Range(func(k, v any) bool {
		served = append(served, fmt.Sprintf("%s %d", p.name(k.(string)), v.(*atomic.Int64).Load()))
		return true
	})
	slices.Sort(served)
	p.printf("strata demo: summary\n")
	p.printf("  requests: %d served, %d errors; by member: %s\n", load.ok.Load(), load.errs.Load(), strings.Join(served, ", "))
	p.printf("  max members reached: %d Active (min %d, max %d); %d monitor ticks without fresh metrics not shown\n", maxActive, demoMin, demoMax, p.skipped)
	if outAt > 0 {
		p.printf("  scaled out at %s (%d members started by scale-up decisions)\n", outAt.Round(time.Second), up)
	} else {
		p.printf("  did not scale out\n")
	}
	if inAt > 0 {
		p.printf("  scaled back in to %d at %s (%d members terminated by scale-down decisions)\n", demoMin, inAt.Round(time.Second), down)
	} else {
		p.printf("  did not scale back in to %d (%d members terminated by scale-down decisions)\n", demoMin, down)
	}
}

// demoMemberHeader names the member that served a request.
const demoMemberHeader = "X-Strata-Member"

// runDemoServer is `strata demo-server`: the demo cartridge's server. Every request burns CPU
// for --burn, then waits --wait (a backend call), then answers with a page naming its member.
func runDemoServer(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("strata demo-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve on (the local driver gives each member its own: $STRATA_MEMBER_IP)")
	burn := fs.Duration("burn", 20*time.Millisecond, "CPU time burnt per request")
	wait := fs.Duration("wait", 0, "time waited per request after burning, as for a backend call")
	member := fs.String("member", os.Getenv(model.PayloadMemberID), "the member id shown on the page (default: $MEMBER_ID from the payload)")
	root := fs.String("root", "", "serve the files under this directory instead of the demo page, as a php-style cartridge serves its checked-out artifacts (e.g. \"$APPLICATION_PATH\"); dot files are not served")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *member == "" {
		*member, _ = os.Hostname()
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "strata demo-server: %v\n", err)
		return 1
	}
	var served atomic.Int64
	var files http.Handler
	if *root != "" {
		files = http.FileServer(http.Dir(*root))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		burnCPU(*burn)
		select {
		case <-time.After(*wait):
		case <-r.Context().Done():
			return
		}
		n := served.Add(1)
		w.Header().Set(demoMemberHeader, *member)
		if files != nil {
			if strings.Contains(r.URL.Path, "/.") { // .git and other dot files stay private
				http.NotFound(w, r)
				return
			}
			files.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>Strata demo</title><h1>Served by member %s</h1><p>%s, request %d, %s</p>\n",
			*member, ln.Addr(), n, time.Since(t0).Round(time.Millisecond))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "strata demo-server: member %s on %s (burn %s, wait %s)\n", *member, ln.Addr(), *burn, *wait)
	select {
	case err := <-done:
		fmt.Fprintf(stderr, "strata demo-server: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	fmt.Fprintf(stdout, "strata demo-server: stopped after %d requests\n", served.Load())
	return 0
}

// burnCPU spins for d of wall-clock time.
func burnCPU(d time.Duration) {
	x := 1.0
	for t0 := time.Now(); time.Since(t0) < d; {
		for range 1000 {
			x = math.Sqrt(x + 1.0001)
		}
	}
	burnSink.Store(math.Float64bits(x))
}

var burnSink atomic.Uint64
