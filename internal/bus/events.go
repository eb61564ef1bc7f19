package bus

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"

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
//
// With Options.Local the event subscriptions in the process get e itself, not a decoding of its
// bytes, when e is a pointer (the type model.Unmarshal gives): e must not be modified once
// published, as a handler must not modify the events it gets.
func (c *Client) PublishEvent(ctx context.Context, e model.Event) error {
	body, err := model.Marshal(e)
	if err != nil {
		return fmt.Errorf("publish event: %w", err)
	}
	m := outMsg{topic: EventTopic(e), payload: body, qos: c.qos, key: summaryKey(e)}
	if c.opts.Local != nil {
		m.ev = localEvent(e)
	}
	return c.publish(ctx, m, false)
}

// localEvent is e when the event subscriptions in the process may take it as it is: a pointer,
// the type model.Unmarshal gives them. An event passed by value is decoded from its bytes.
func localEvent(e model.Event) model.Event {
	if reflect.TypeOf(e).Kind() != reflect.Pointer {
		return nil
	}
	return e
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
// handler's to keep but not to modify, nor anything it holds (maps, slices, the topology's
// pointers): every event subscription of the Client that a message reaches shares one decoded
// event (decoded).
type EventHandler func(topic string, e model.Event)

// decoded is one message's event, decoded by the first of the client's event subscriptions that
// handles it and shared with the others, which wait for it, or its publisher's own (newDecoded).
// A member event reached four to six consumers of `strata up`, each decoding its own copy (10
// decodings a member in an undeploy, 1.2 GB of garbage at 100 000 members), and a complete
// topology three (~400 MB each at 100 000 members; issue 17). The deliveries hold it: it is
// garbage once the last has been handled.
type decoded struct {
	once sync.Once
	e    model.Event
	err  error
}

// newDecoded is a message's decoded event, to be decoded or, when its publisher in the process
// handed it over (e not nil), e itself: in an undeploy of 100 000 members `strata up` decoded
// 500 000 events it had just encoded (issue 17).
func newDecoded(e model.Event) *decoded {
	d := new(decoded)
	if e != nil {
		d.e = e
		d.once.Do(func() {})
	}
	return d
}

// event returns the message's event, decoding it on the first call; reused reports that its
// publisher handed it over or an earlier call decoded it.
func (d *decoded) event(topic string, payload []byte) (e model.Event, reused bool, err error) {
	reused = true
	d.once.Do(func() {
		reused = false
		d.e, d.err = model.Unmarshal(topic, payload)
	})
	return d.e, reused, d.err
}

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
	return c.addSubscription(ctx, filter, func(topic string, payload []byte, shared *decoded) {
		e, reused, err := shared.event(topic, payload)
		if reused {
			c.sharedDecodes.Add(1)
		}
		if err != nil {
			c.decodeError(topic, err)
			return
		}
		handler(topic, e)
	}, true, q)
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
