package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/strata-paas/strata/agent"
	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/model"
)

// topologyRequestInterval is how often the complete topology is asked for until the member is
// Initialized.
const topologyRequestInterval = 2 * time.Second

// announceStarted waits until the topology shows the member Initialized (or later: a member
// whose agent restarts), then publishes InstanceStartedEvent, as the agent does at its step 6:
// the member is Starting while its module installs.
func announceStarted(ctx context.Context, cfg agent.Config, wait time.Duration, log *slog.Logger) error {
	client, err := bus.New(bus.Options{URLs: cfg.BrokerURLs, Username: cfg.BrokerUsername, Password: cfg.BrokerPassword,
		TLS: cfg.BrokerTLS, RetryMax: 5 * time.Second, Logger: log})
	if err != nil {
		return fmt.Errorf("message broker: %w", err)
	}
	busCtx, stopBus := context.WithCancel(context.WithoutCancel(ctx))
	busDone := make(chan error, 1)
	go func() { busDone <- client.Run(busCtx) }()
	defer func() {
		stopBus()
		<-busDone
	}()

	ready := make(chan struct{}, 1)
	signal := func() {
		select {
		case ready <- struct{}{}:
		default:
		}
	}
	err = client.SubscribeEvents(ctx, "topology/#", func(_ string, e model.Event) {
		switch ev := e.(type) {
		case *model.MemberInitializedEvent:
			if ev.MemberID == cfg.MemberID {
				signal()
			}
		case *model.CompleteTopologyEvent:
			if ev.Topology == nil {
				return
			}
			s := ev.Topology.ServiceMap[cfg.ServiceName]
			if s == nil {
				return
			}
			c := s.ClusterIDClusterMap[cfg.ClusterID]
			if c == nil {
				return
			}
			if m := c.MemberMap[cfg.MemberID]; m != nil {
				switch m.Status() {
				case model.MemberInitialized, model.MemberStarting, model.MemberActive:
					signal()
				}
			}
		}
	})
	if err != nil {
		return fmt.Errorf("subscribe topology: %w", err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	tick := time.NewTicker(topologyRequestInterval)
	defer tick.Stop()
	for initialized := false; !initialized; {
		if err := client.PublishEvent(waitCtx, model.CompleteTopologyRequestEvent{}); err != nil && waitCtx.Err() == nil {
			log.Warn("cannot request the topology", "error", err)
		}
		select {
		case <-ready:
			initialized = true
		case <-tick.C:
		case <-waitCtx.Done():
			return fmt.Errorf("the member was not Initialized within %v", wait)
		}
	}
	err = client.PublishEvent(ctx, model.InstanceStartedEvent{
		ApplicationID: cfg.ApplicationID, ServiceName: cfg.ServiceName, ClusterID: cfg.ClusterID,
		MemberID: cfg.MemberID, ClusterInstanceID: cfg.ClusterInstanceID,
		NetworkPartitionID: cfg.NetworkPartitionID, PartitionID: cfg.PartitionID, GroupID: cfg.GroupID,
	})
	if err == nil {
		flushCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = client.Flush(flushCtx)
		cancel()
	}
	if err != nil {
		return fmt.Errorf("publish InstanceStartedEvent: %w", err)
	}
	log.Info("instance started published")
	return nil
}

// publishLogs sends the install script's output, each line prefixed "install: ", to the member's
// log stream as the agent publishes its log files (agent.LogStream), so it is in the history
// beside the server's log. A failure is logged: the install's outcome does not depend on it.
func publishLogs(ctx context.Context, cfg agent.Config, lines []string, log *slog.Logger) {
	if len(lines) == 0 {
		return
	}
	cfg.Logger = log
	c, err := agent.NewLogClient(cfg)
	if err != nil {
		log.Warn("cannot publish the install log", "error", err)
	}
	if c == nil {
		return
	}
	defer c.Close()
	now := time.Now()
	if cfg.Now != nil {
		now = cfg.Now()
	}
	prefixed := make([]string, len(lines))
	for i, l := range lines {
		prefixed[i] = "install: " + l
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = agent.NewLogStream(&cfg, cfg.ListenAddress, c).Publish(pctx, now, prefixed)
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Warn("cannot publish the install log", "error", err)
	}
}
