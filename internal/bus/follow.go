package bus

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

var completeTopologyTopic = model.TopicOf(&model.CompleteTopologyEvent{})

// DefaultTopologyAsk is how often FollowTopology asks for the complete topology until one comes.
const DefaultTopologyAsk = 5 * time.Second

// Unsubscribe leaves filter for this consumer's subscriptions only. The broker is told once no
// other consumer of the client subscribes to filter; Client.Unsubscribe leaves it for all of them.
func (k *Consumer) Unsubscribe(ctx context.Context, filter string) error {
	return k.unsubscribe(ctx, filter, k.q)
}

// FollowTopology subscribes handler, on the consumer's queue, to topics (topology events other
// than the complete topology, for example model.TopologyTopics()) and takes a
// CompleteTopologyEvent only when it needs one: it subscribes to the complete topology, asks for
// one (CompleteTopologyRequestEvent) at once and every ask (0: DefaultTopologyAsk) until one has
// been handled, then leaves that filter; after a reconnect, when events may have been missed
// (sessions are clean), it does the same again. So a consumer neither reads nor decodes the
// periodic complete topologies nor the answers to others' requests, which at 100 000 members are
// ~90 MB each (issue 17). It returns once subscribed; the asking goes on until ctx ends.
func (k *Consumer) FollowTopology(ctx context.Context, topics []string, handler EventHandler, ask time.Duration) error {
	for _, t := range topics {
		if t == completeTopologyTopic || !strings.HasPrefix(t, "topology/") || validTopic(t) != nil {
			return fmt.Errorf("follow topology: %q is not a topology event's topic", t)
		}
		if err := k.SubscribeEvents(ctx, t, handler); err != nil {
			return err
		}
	}
	if ask <= 0 {
		ask = DefaultTopologyAsk
	}
	f := &follower{k: k, handler: handler, ask: ask}
	if err := f.await(ctx); err != nil {
		return err
	}
	go f.run(ctx)
	return nil
}

// FollowTopology is Consumer.FollowTopology for the subscriptions made on the Client itself (the
// consumer "default"): a component that has the client to itself, such as `strata lb`.
func (c *Client) FollowTopology(ctx context.Context, topics []string, handler EventHandler, ask time.Duration) error {
	return c.Consumer(defaultConsumer).FollowTopology(ctx, topics, handler, ask)
}

// follower is one FollowTopology.
type follower struct {
	k       *Consumer
	handler EventHandler
	ask     time.Duration
	// answered is 1 + the client's connection count when a complete topology was handled; 0
	// until one is.
	answered atomic.Uint64
	awaited  atomic.Int64 // when await last subscribed, in ns since the epoch
}

// await subscribes to the complete topology.
func (f *follower) await(ctx context.Context) error {
	err := f.k.SubscribeEvents(ctx, completeTopologyTopic, func(topic string, e model.Event) {
		f.answered.Store(1 + f.k.connects.Load())
		f.handler(topic, e)
	})
	f.awaited.Store(time.Now().UnixNano())
	return err
}

// run asks for the complete topology until one is handled, leaves it then, and follows again
// after a reconnect.
func (f *follower) run(ctx context.Context) {
	f.request(ctx)
	t := time.NewTicker(f.ask)
	defer t.Stop()
	awaiting := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		answered := f.answered.Load()
		switch {
		case answered == 0:
			f.request(ctx)
		case answered != 1+f.k.connects.Load():
			// Reconnected since the answer: events may have been missed meanwhile.
			f.k.log.Info("reconnected to the broker; asking for the complete topology again", "consumer", f.k.q.name)
			f.answered.Store(0)
			if !awaiting {
				if err := f.await(ctx); err != nil && ctx.Err() == nil {
					f.k.log.Warn("cannot subscribe to the complete topology", "consumer", f.k.q.name, "error", err)
				}
				awaiting = true
			}
			f.request(ctx)
		case awaiting:
			if err := f.k.Unsubscribe(ctx, completeTopologyTopic); err != nil && ctx.Err() == nil {
				f.k.log.Warn("cannot leave the complete topology", "consumer", f.k.q.name, "error", err)
			}
			awaiting = false
		}
	}
}

// request asks for the complete topology, unless another follower of the client asked less than
// half an ask ago and after this one subscribed to the answer, which then reaches both: each
// request costs a complete topology to everyone subscribed.
func (f *follower) request(ctx context.Context) {
	c := f.k.Client
	now := time.Now().UnixNano()
	if last := c.topologyAsked.Load(); last >= f.awaited.Load() && now-last < int64(f.ask/2) {
		return
	}
	c.topologyAsked.Store(now)
	if err := f.k.PublishEvent(ctx, model.CompleteTopologyRequestEvent{}); err != nil && ctx.Err() == nil {
		f.k.log.Warn("cannot ask for the complete topology", "consumer", f.k.q.name, "error", err)
	}
}
