package bus

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"unsafe"
	"weak"

	"github.com/strata-paas/strata/internal/model"
)

// maxLoggedDecodeTopics caps the set of topics whose decode errors have been logged, so a stream
// of garbage on ever-new topics cannot grow it without bound. Decode errors are always counted.
const maxLoggedDecodeTopics = 1024

// EventTopic is the topic an event is published on: model.TopicOf(e), except health summaries,
// which the Stratos CEP publishes on model.SummaryTopic in the §1.4 envelope (docs/stratos-wire.md
// §1.4), where the autoscaler's summarized-health-stats/# subscription finds them.
func EventTopic(e model.Event) string {
	switch e.(type) {
	case model.Summary, *model.Summary:
		return model.SummaryTopic
	}
	return model.TopicOf(e)
}

// PublishEvent encodes e with model.Marshal and publishes it on EventTopic(e) at Options.QoS, with
// the queueing and errors of Publish. A health summary goes through PublishLatest, keyed by its
// kind, cluster, cluster instance, network partition, partition and member: a newer summary of
// the same thing supersedes one still waiting in the outbox (issue 17: at 100 000 members the CEP
// produced summaries faster than the broker took them, and the backlog was lost at the end).
func (c *Client) PublishEvent(ctx context.Context, e model.Event) error {
	body, err := model.Marshal(e)
	if err != nil {
		return fmt.Errorf("publish event: %w", err)
	}
	if key := summaryKey(e); key != "" {
		return c.PublishLatest(ctx, key, model.SummaryTopic, body, c.qos)
	}
	return c.Publish(ctx, EventTopic(e), body, c.qos)
}

// summaryKey is what a health summary is a value of; "" for other events.
func summaryKey(e model.Event) string {
	var s *model.Summary
	switch v := e.(type) {
	case model.Summary:
		s = &v
	case *model.Summary:
		s = v
	}
	if s == nil {
		return ""
	}
	return strings.Join([]string{s.Kind.Class(), s.ClusterID, s.ClusterInstanceID, s.NetworkPartitionID, s.PartitionID, s.MemberID}, "\x00")
}

// EventHandler receives a decoded event: a pointer to the event type, e.g.
// *model.MemberActivatedEvent or *model.Summary. It runs like a Handler. The event is the
// handler's to keep but not to modify: a CompleteTopologyEvent is shared by the handlers of one
// Client that it reaches at once (sharedDecode).
type EventHandler func(topic string, e model.Event)

// sharedDecodeMin is the size from which a message may be decoded once for every subscription
// of the client it reaches.
const sharedDecodeMin = 256 << 10

// sharedDecode is the last CompleteTopologyEvent a Client decoded, weakly held, with a weak
// pointer to the bytes it came from. The controller's complete topology (~880 B a member, ~4 KB
// a member decoded: 400 MB at 100 000 members) reaches the CEP, the autoscaler and the load
// balancer of `strata up` at the same moment on one connection, and each decoded its own copy
// (issue 17). Now a subscription whose message is the one decoded last takes that event while
// another still holds it. Weak pointers keep neither the bytes nor the event alive, and a weak
// pointer to new bytes never equals one to freed bytes at the same address.
type sharedDecode struct {
	mu    sync.Mutex // held while decoding, so that the others wait for the event
	topic string
	from  weak.Pointer[byte]
	ev    weak.Pointer[model.CompleteTopologyEvent]
}

// decode is model.Unmarshal, sharing a large CompleteTopologyEvent (see sharedDecode).
func (c *Client) decode(topic string, payload []byte) (model.Event, error) {
	if len(payload) < sharedDecodeMin || topic != completeTopologyTopic {
		return model.Unmarshal(topic, payload)
	}
	s := &c.shared
	s.mu.Lock()
	defer s.mu.Unlock()
	from := weak.Make(unsafe.SliceData(payload))
	if s.topic == topic && s.from == from {
		if ev := s.ev.Value(); ev != nil {
			c.sharedDecodes.Add(1)
			return ev, nil
		}
	}
	e, err := model.Unmarshal(topic, payload)
	if ev, ok := e.(*model.CompleteTopologyEvent); ok && err == nil {
		s.topic, s.from, s.ev = topic, from, weak.Make(ev)
	}
	return e, err
}

var completeTopologyTopic = model.TopicOf(&model.CompleteTopologyEvent{})

// SubscribeEvents subscribes to filter (for example "topology/#") and hands every message that
// model.Unmarshal decodes to handler. A message that does not decode (an unknown class, bad JSON)
// is counted in Stats.DecodeErrors and logged once per topic.
func (c *Client) SubscribeEvents(ctx context.Context, filter string, handler EventHandler) error {
	return c.subscribeEvents(ctx, filter, handler, c.consumerQueue(defaultConsumer))
}

// subscribeEvents is SubscribeEvents, with handler called from q.
func (c *Client) subscribeEvents(ctx context.Context, filter string, handler EventHandler, q *queue) error {
	if handler == nil {
		return fmt.Errorf("subscribe %s: nil handler", filter)
	}
	return c.addSubscription(ctx, filter, func(topic string, payload []byte) {
		e, err := c.decode(topic, payload)
		if err != nil {
			c.decodeError(topic, err)
			return
		}
		handler(topic, e)
	}, q)
}

func (c *Client) decodeError(topic string, err error) {
	c.decodeErrors.Add(1)
	if _, seen := c.decodeLogged.Load(topic); seen || c.decodeTopics.Load() >= maxLoggedDecodeTopics {
		return
	}
	if _, seen := c.decodeLogged.LoadOrStore(topic, struct{}{}); seen {
		return
	}
	c.decodeTopics.Add(1)
	c.log.Warn("cannot decode event; further errors on this topic are only counted", "topic", topic, "error", err)
}
