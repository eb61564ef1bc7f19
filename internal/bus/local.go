package bus

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/strata-paas/strata/internal/model"
)

// This file is the in-process side of the broker: the subscriptions of SubscribeLocal, and the
// publications of PublishLocal. The broker hands a local publication to the process's
// subscribers itself, and to mochi only when a connected client (or a persistent session) has a
// subscription matching its topic. mochi spent about 10 µs on each publication at 100 000
// members, and a fifth of the allocations of an undeploy went to the subscriber maps it builds
// for each one (issue 17), for messages that most often only the process itself wants. mochi
// delivers the connected clients' publications to the process through one inline subscription
// on "#".

// maxCachedTopics bounds how many topics a memo remembers: the platform uses a few dozen, and a
// client may publish on any number, whose answers are then computed each time.
const maxCachedTopics = 1024

// LocalDeliver receives the messages of a SubscribeLocal subscription, in the publisher's
// goroutine. fromLocal reports a message of PublishLocal, and ev the event it was given with it.
type LocalDeliver func(topic string, payload []byte, ev model.Event, fromLocal bool)

// memo remembers a value per topic, computed on the first lookup, for up to maxCachedTopics
// topics. Lookups take no lock; an addition copies the map.
type memo[V any] struct {
	mu sync.Mutex // serialises additions
	m  atomic.Pointer[map[string]V]
}

// get returns topic's value, computing it when not remembered.
func (x *memo[V]) get(topic string, compute func() V) V {
	if m := x.m.Load(); m != nil {
		if v, ok := (*m)[topic]; ok {
			return v
		}
	}
	v := compute()
	x.mu.Lock()
	defer x.mu.Unlock()
	if old := x.m.Load(); old == nil || len(*old) < maxCachedTopics {
		next := make(map[string]V)
		if old != nil {
			maps.Copy(next, *old)
		}
		next[topic] = v
		x.m.Store(&next)
	}
	return v
}

// topicIndex answers which of a fixed list of filters match a topic, remembering the answers.
// It is safe for concurrent use.
type topicIndex struct {
	filters []string
	matches memo[[]int32] // topic → indices of the filters matching it
}

// indexOf indexes the filters of list's elements.
func indexOf[T any](list []T, filter func(*T) string) *topicIndex {
	x := &topicIndex{filters: make([]string, len(list))}
	for i := range list {
		x.filters[i] = filter(&list[i])
	}
	return x
}

// matching returns the indices of the filters matching topic, in order. The caller must not
// modify it.
func (x *topicIndex) matching(topic string) []int32 {
	return x.matches.get(topic, func() []int32 {
		var m []int32
		for i, f := range x.filters {
			if match(f, topic) {
				m = append(m, int32(i))
			}
		}
		return m
	})
}

// localSub is one SubscribeLocal subscription.
type localSub struct {
	id      int
	filter  string
	deliver LocalDeliver
}

// localSubs are the in-process subscriptions as of one change; a change makes new ones.
type localSubs struct {
	subs  []localSub
	index *topicIndex // over the subs' filters
}

func newLocalSubs(subs []localSub) *localSubs {
	return &localSubs{subs: subs, index: indexOf(subs, func(s *localSub) string { return s.filter })}
}

// deliver hands a message to every subscriber whose filter matches topic, once per id however
// many of its filters match.
func (l *localSubs) deliver(topic string, payload []byte, ev model.Event, fromLocal bool) {
	m := l.index.matching(topic)
	for i, k := range m {
		s := &l.subs[k]
		if slices.ContainsFunc(m[:i], func(j int32) bool { return l.subs[j].id == s.id }) {
			continue
		}
		s.deliver(topic, payload, ev, fromLocal)
	}
}

// localBroker is the Broker's in-process side.
type localBroker struct {
	mu   sync.Mutex // serialises changes to subs
	subs atomic.Pointer[localSubs]
	// remote holds, per topic, whether a connected client or a persistent session has a
	// subscription matching it, as of one generation of the subscription hook.
	remote    atomic.Pointer[remoteAnswers]
	localOnly atomic.Int64 // local publications no connected client subscribed to
}

// remoteAnswers are remoteSubscribed's answers while the clients' subscriptions are those of
// generation gen.
type remoteAnswers struct {
	gen     uint64
	answers memo[bool]
}

// PublishLocal publishes payload on topic from inside the process: the process's subscribers
// get it first, in this goroutine, with ev, the event payload encodes (nil when there is none),
// without decoding it; then mochi takes it to the connected clients whose subscriptions match,
// as a publication of the platform's own (the hooks decide it as such), if there are any. It
// does not go over a connection: a complete topology of 100 000 members is 94 MB, and reading it
// back over loopback kept two more copies of it alive while it went out (issue 17). At qos 1 or 2
// the clients get it at their subscription's qos; it needs no acknowledgement, being handed over
// when PublishLocal returns. The event must not be modified once published.
func (b *Broker) PublishLocal(topic string, payload []byte, qos byte, ev model.Event) error {
	if err := validTopic(topic); err != nil {
		return fmt.Errorf("broker: publish: %w", err)
	}
	b.local.subs.Load().deliver(topic, payload, ev, true)
	if !b.remoteSubscribed(topic) {
		b.local.localOnly.Add(1)
		return nil
	}
	var err error
	if isCompleteState(topic) {
		err = b.latest.publish(topic, payload, qos)
	} else {
		err = b.srv.Publish(topic, payload, false, qos)
	}
	if err != nil {
		return fmt.Errorf("broker: publish %s: %w", topic, err)
	}
	return nil
}

// remoteSubscribed reports whether a connected client or a persistent session has a subscription
// matching topic. The answers are kept until a subscription changes: the hook counts the changes
// once mochi has made them, and an answer is kept with the count read before computing it, so it
// is never used after a change.
func (b *Broker) remoteSubscribed(topic string) bool {
	gen := b.subs.gen.Load()
	r := b.local.remote.Load()
	if r == nil || r.gen != gen {
		r = &remoteAnswers{gen: gen}
		b.local.remote.Store(r)
	}
	return r.answers.get(topic, func() bool { return clientsSubscribe(b.srv, topic) })
}

// clientsSubscribe reports whether a connected client or a persistent session, not the process
// (mochi's inline client), has a subscription matching topic.
func clientsSubscribe(srv *mochi.Server, topic string) bool {
	s := srv.Topics.Subscribers(topic)
	return len(s.Subscriptions) > 0 || len(s.Shared) > 0
}

// SubscribeLocal subscribes deliver to filter from inside the process: the subscriptions of one id
// are one subscriber, which gets a message once however many of its filters match it; a second
// subscription of an id to the same filter replaces the first. deliver runs in the publisher's
// goroutine. Retained messages matching filter are delivered before SubscribeLocal returns.
func (b *Broker) SubscribeLocal(id int, filter string, deliver LocalDeliver) error {
	if err := validFilter(filter); err != nil {
		return fmt.Errorf("broker: subscribe: %w", err)
	}
	b.local.mu.Lock()
	subs := slices.Clone(b.local.subs.Load().subs)
	if i := slices.IndexFunc(subs, func(s localSub) bool { return s.id == id && s.filter == filter }); i >= 0 {
		subs[i].deliver = deliver
	} else {
		subs = append(subs, localSub{id: id, filter: filter, deliver: deliver})
	}
	b.local.subs.Store(newLocalSubs(subs))
	b.local.mu.Unlock()
	b.subs.grant(filter)
	for _, pk := range b.srv.Topics.Messages(filter) { // retained: published by clients only
		deliver(pk.TopicName, pk.Payload, nil, false)
	}
	return nil
}

// UnsubscribeLocal ends a subscription of SubscribeLocal.
func (b *Broker) UnsubscribeLocal(id int, filter string) error {
	b.local.mu.Lock()
	defer b.local.mu.Unlock()
	subs := slices.DeleteFunc(slices.Clone(b.local.subs.Load().subs), func(s localSub) bool {
		return s.id == id && s.filter == filter
	})
	b.local.subs.Store(newLocalSubs(subs))
	return nil
}

// fromClients subscribes the process's subscribers, through mochi's inline client, to what
// connected clients publish.
func (b *Broker) fromClients() error {
	b.local.subs.Store(newLocalSubs(nil))
	return b.srv.Subscribe("#", 0, func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) {
		if pk.Origin == mochi.InlineClientId {
			return // PublishLocal delivered it
		}
		b.local.subs.Load().deliver(pk.TopicName, pk.Payload, nil, false)
	})
}
