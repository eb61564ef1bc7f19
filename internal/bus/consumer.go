package bus

import (
	"context"
	"sync"
	"sync/atomic"
)

// DefaultQueueLimit bounds the messages waiting in one consumer's queue.
const DefaultQueueLimit = 65536

// defaultConsumer is the queue of subscriptions made on the Client itself.
const defaultConsumer = "default"

// Consumer is one in-process consumer of a Client's messages (a component: the controller, the
// autoscaler, the load balancer): the subscriptions made through it hand messages to its own
// bounded queue, which one goroutine drains in arrival order. A slow consumer delays only itself;
// the others, and the connection's acknowledgements, go on. Everything else is the Client's.
type Consumer struct {
	*Client
	q *queue
}

// Consumer returns the consumer called name, creating it the first time; subscriptions made on
// the Client itself belong to the consumer "default".
func (c *Client) Consumer(name string) *Consumer {
	return &Consumer{Client: c, q: c.consumerQueue(name)}
}

// Subscribe is Client.Subscribe, with handler called from the consumer's queue.
func (k *Consumer) Subscribe(ctx context.Context, filter string, handler Handler) error {
	return k.subscribeRaw(ctx, filter, handler, k.q)
}

// SubscribeEvents is Client.SubscribeEvents, with handler called from the consumer's queue.
func (k *Consumer) SubscribeEvents(ctx context.Context, filter string, handler EventHandler) error {
	return k.subscribeEvents(ctx, filter, handler, k.q)
}

// consumerQueue returns the queue called name, creating it (and, while Run runs, its goroutine).
func (c *Client) consumerQueue(name string) *queue {
	c.mu.Lock()
	defer c.mu.Unlock()
	if q := c.queues[name]; q != nil {
		return q
	}
	q := &queue{name: name, limit: c.queueLimit, signal: make(chan struct{}, 1)}
	c.queues[name] = q
	if c.queuesRunning && !c.closed {
		c.queueWG.Go(func() { q.run(c.stopQueues) })
	}
	return q
}

// startQueues starts a goroutine per queue; Run calls it and stops them with the returned func,
// which returns once they have exited. Messages still queued then are not handled.
func (c *Client) startQueues() (stop func()) {
	c.mu.Lock()
	c.queuesRunning = true
	for _, q := range c.queues {
		c.queueWG.Go(func() { q.run(c.stopQueues) })
	}
	c.mu.Unlock()
	return func() {
		close(c.stopQueues)
		c.queueWG.Wait()
	}
}

// QueueStats are one consumer's queue figures.
type QueueStats struct {
	Depth   int    // messages waiting, including the one being handled
	Handled uint64 // messages handed to a handler
	// Full counts the messages that found the queue full: the receiving waited for room, or (on a
	// local broker) one of the client's own messages went over the limit.
	Full uint64
}

// queueStats returns every consumer's figures by name.
func (c *Client) queueStats() map[string]QueueStats {
	c.mu.Lock()
	qs := make([]*queue, 0, len(c.queues))
	for _, q := range c.queues {
		qs = append(qs, q)
	}
	c.mu.Unlock()
	out := make(map[string]QueueStats, len(qs))
	for _, q := range qs {
		out[q.name] = QueueStats{Depth: int(q.depth.Load()), Handled: q.handled.Load(), Full: q.full.Load()}
	}
	return out
}

// delivery is one message for one handler.
type delivery struct {
	handler handle
	topic   string
	payload []byte
	shared  *decoded // the message's event, for an event subscription
}

// queue is a consumer's FIFO of deliveries. push is called from paho's receive goroutine, or
// from the goroutines of Options.Local's publishers; run drains it.
type queue struct {
	name  string
	limit int

	mu     sync.Mutex
	items  []delivery
	room   chan struct{} // closed when depth falls below limit; nil while nobody waits
	signal chan struct{} // capacity 1: items were pushed

	depth         atomic.Int64 // pushed and not yet handled
	waiting       atomic.Int64 // pushes waiting for room
	handled, full atomic.Uint64
}

// push appends d; when limit deliveries are waiting it waits for room (the connection's
// receiving waits with it, so nothing is dropped) until stop closes, or, without wait, goes over
// the limit.
func (q *queue) push(d delivery, wait bool, stop <-chan struct{}) {
	q.mu.Lock()
	if q.depth.Load() >= int64(q.limit) {
		q.full.Add(1)
		if wait {
			q.waiting.Add(1) // before depth is read again: run wakes us if it fell meanwhile
			for q.depth.Load() >= int64(q.limit) {
				if q.room == nil {
					q.room = make(chan struct{})
				}
				room := q.room
				q.mu.Unlock()
				select {
				case <-room:
				case <-stop:
					q.waiting.Add(-1)
					return
				}
				q.mu.Lock()
			}
			q.waiting.Add(-1)
		}
	}
	q.depth.Add(1)
	q.items = append(q.items, d)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// run hands the queued deliveries to their handlers, in order, until stop closes.
func (q *queue) run(stop <-chan struct{}) {
	var batch []delivery
	for {
		select {
		case <-stop:
			return
		case <-q.signal:
		}
		q.mu.Lock()
		batch, q.items = q.items, batch[:0]
		q.mu.Unlock()
		for i := range batch {
			select {
			case <-stop:
				return
			default:
			}
			d := &batch[i]
			d.handler(d.topic, d.payload, d.shared)
			*d = delivery{}
			q.handled.Add(1)
			if q.depth.Add(-1) < int64(q.limit) && q.waiting.Load() > 0 {
				q.mu.Lock()
				if q.room != nil {
					close(q.room)
					q.room = nil
				}
				q.mu.Unlock()
			}
		}
		if cap(batch) > keptBatch {
			batch = nil // a burst's array goes once handled; the next swap hands it to nobody
		}
	}
}

// keptBatch is the largest batch array a queue keeps for the next one: with the platform's own
// messages handed over in its sender's goroutine, a deployment's bursts filled queues to
// thousands of deliveries, whose arrays the queues then kept for ever (issue 17: the live heap
// per Active member of TestScaleMemory rose by 100-200 B).
const keptBatch = 256
