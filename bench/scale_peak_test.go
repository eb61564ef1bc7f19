package bench

import (
	"flag"
	"os"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"testing"
	"time"
)

var scalePeak = flag.String("scale.peakprofile", "", "sample TestScale's RSS every 250 ms and, each time it passes its last peak by 64 MB, write a heap profile to this file and log the Go runtime's memory classes: which phase sets the peak RSS, and what it is made of")

// peakSampler follows the process's RSS for -scale.peakprofile; phase names what the harness is
// doing, for the log.
type peakSampler struct {
	t     *testing.T
	mu    sync.Mutex
	phase string
	stop  chan struct{}
	done  chan struct{}
}

// samplePeaks starts the sampler when -scale.peakprofile is set (nil otherwise; its methods
// accept nil). The test's cleanup stops it.
func samplePeaks(t *testing.T) *peakSampler {
	if *scalePeak == "" {
		return nil
	}
	p := &peakSampler{t: t, phase: "start", stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	t.Cleanup(func() { close(p.stop); <-p.done })
	return p
}

// in notes the phase the harness enters.
func (p *peakSampler) in(phase string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.phase = phase
	p.mu.Unlock()
}

// memClasses are the runtime/metrics the sampler logs at a peak.
var memClasses = []string{
	"/memory/classes/heap/objects:bytes",  // live and not yet swept objects
	"/memory/classes/heap/unused:bytes",   // in spans, free
	"/memory/classes/heap/free:bytes",     // free spans not returned to the OS
	"/memory/classes/heap/released:bytes", // returned to the OS
	"/gc/heap/goal:bytes",
	"/gc/heap/live:bytes", // marked live by the last GC
}

func (p *peakSampler) run() {
	defer close(p.done)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	samples := make([]metrics.Sample, len(memClasses))
	for i, name := range memClasses {
		samples[i].Name = name
	}
	var logged int64
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		rss := procStatus(p.t, "VmRSS:")
		if rss < logged+64<<20 {
			continue
		}
		logged = rss
		metrics.Read(samples)
		f, err := os.Create(*scalePeak)
		if err == nil {
			err = pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
		p.mu.Lock()
		phase := p.phase
		p.mu.Unlock()
		p.t.Logf("RSS peak %s in %s (anonymous %s): heap objects %s, unused %s, free %s, released %s, goal %s, live at the last GC %s; heap profile: %v",
			mb(uint64(rss)), phase, mb(uint64(procStatus(p.t, "RssAnon:"))), mb(samples[0].Value.Uint64()), mb(samples[1].Value.Uint64()),
			mb(samples[2].Value.Uint64()), mb(samples[3].Value.Uint64()), mb(samples[4].Value.Uint64()), mb(samples[5].Value.Uint64()), err)
	}
}
