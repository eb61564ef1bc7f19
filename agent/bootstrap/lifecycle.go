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

// topologyRequestInterval is how often the topology is asked for until the member is
// Initialized.
const topologyRequestInterval = 2 * time.Second

// partAttempts is how many requests for the cluster's part go unanswered before the complete
// topology is asked for.
const partAttempts = 2

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
	handle := func(_ string, e model.Event) {
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
	}
	// As the agent does (agent/topology.go): the cluster's part of the topology, and the complete
	// topology only when the part does not come.
	completeTopic := model.TopicOf(model.CompleteTopologyEvent{})
	if err := client.SubscribeEvents(ctx, model.TopicOf(model.MemberInitializedEvent{}), handle); err != nil {
		return fmt.Errorf("subscribe topology: %w", err)
	}
	err = client.Subscribe(ctx, model.ClusterTopologyTopic(cfg.ClusterID), func(topic string, b []byte) {
		if e, err := model.Unmarshal(completeTopic, b); err == nil {
			handle(topic, e)
		}
	})
	part := err == nil
	if err != nil && !errors.Is(err, bus.ErrSubscribeRejected) {
		return fmt.Errorf("subscribe the cluster's topology: %w", err)
	}
	followComplete := func() error {
		if err := client.SubscribeEvents(ctx, completeTopic, handle); err != nil {
			return fmt.Errorf("subscribe topology: %w", err)
		}
		return nil
	}
	if !part {
		if err := followComplete(); err != nil {
			return err
		}
	}
	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	tick := time.NewTicker(topologyRequestInterval)
	defer tick.Stop()
	for asked, initialized := 0, false; !initialized; asked++ {
		if part && asked == partAttempts {
			log.Info("no answer to the cluster topology request; asking for the complete topology", "requests", partAttempts)
			if err := followComplete(); err != nil {
				return err
			}
			part = false
		}
		var req model.Event = model.CompleteTopologyRequestEvent{}
		if part {
			req = model.ClusterTopologyRequestEvent{ClusterID: cfg.ClusterID}
		}
		if err := client.PublishEvent(waitCtx, req); err != nil && waitCtx.Err() == nil {
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
