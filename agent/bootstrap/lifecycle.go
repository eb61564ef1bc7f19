package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/strata-paas/strata/agent"
	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/databridge"
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

// publishLogs sends the install script's output to the member's log stream (the agent's
// logs.<tenant>.<alias>.<date>), so it is in the history beside the server's log. A failure is
// logged: the install's outcome does not depend on it.
func publishLogs(ctx context.Context, cfg agent.Config, lines []string, log *slog.Logger) {
	if len(lines) == 0 {
		return
	}
	urls, user, pass := cfg.LogURLs, cfg.LogUsername, cfg.LogPassword
	if len(urls) == 0 {
		urls, user, pass = cfg.CEPURLs, cfg.CEPUsername, cfg.CEPPassword
	}
	if len(urls) == 0 {
		return
	}
	c, err := databridge.NewClient(databridge.ClientOptions{URLs: urls, TLS: cfg.CEPTLS, Username: user, Password: pass, Logger: log})
	if err != nil {
		log.Warn("cannot publish the install log", "error", err)
		return
	}
	defer c.Close()
	alias := cfg.CartridgeAlias
	if alias == "" {
		alias = cfg.ClusterID
	}
	now := time.Now()
	if cfg.Now != nil {
		now = cfg.Now()
	}
	stream := databridge.LogStream(databridge.LogStreamName(cfg.TenantID, alias, now))
	tenant := cfg.TenantID
	if tenant == "-1234" || tenant == "-1" {
		tenant = "0"
	}
	events := make([]databridge.Event, 0, len(lines))
	for i, l := range lines {
		at := now.Add(time.Duration(i) * time.Microsecond) // in order in the history
		events = append(events, databridge.LogEvent(stream, model.LogEntry{
			MemberID: cfg.MemberID, TenantID: tenant, ServerName: cfg.ServiceName, LogTime: at.Format(time.RFC3339Nano),
			Message: "install: " + l, IP: cfg.ListenAddress, Instance: cfg.MemberID, Timestamp: at.UnixMilli(),
		}))
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.Publish(pctx, events...); err != nil && !errors.Is(err, context.Canceled) {
		log.Warn("cannot publish the install log", "error", err)
	}
}
