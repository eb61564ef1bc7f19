package controller

import "github.com/strata-paas/strata/internal/model"

// completeTopologyTopic is the CompleteTopologyEvent's topic.
var completeTopologyTopic = model.TopicOf(&model.CompleteTopologyEvent{})

// syncMark is what the periodic sync compares with the last complete topology published: the
// topology's version, the subscriptions to the CompleteTopologyEvent the broker granted
// (Options.Broker) and the controller's publish errors. While none moved, every
// subscriber holds the topology of the last publication and no change happened since: a
// periodic one would tell nobody anything (issue 17: at 100 000 members, ~90 MB a minute
// through the broker, decoded by every consumer, half of `strata up`'s steady CPU).
type syncMark struct {
	version, subscriptions, publishErrors uint64
}

// mark returns the state the next complete topology is published at. It is taken before the
// publication, so that a change or a subscription racing with it makes the next sync publish.
func (c *Controller) mark() syncMark {
	m := syncMark{version: c.topoVersion.Load(), publishErrors: c.stats.publishErrors.Load()}
	if c.opts.Broker != nil {
		m.subscriptions = c.opts.Broker.Subscriptions(completeTopologyTopic)
	}
	return m
}

// periodicSync publishes the periodic complete topology unless, with Options.Broker set, nobody
// subscribes to it or nothing moved since the last publication (last); it returns the mark of
// the last publication.
func (c *Controller) periodicSync(last syncMark) syncMark {
	m := c.mark()
	if b := c.opts.Broker; b != nil && (m == last || !b.Subscribed(completeTopologyTopic)) {
		c.stats.topologySyncsSkipped.Add(1)
		return last
	}
	c.publishTopology()
	return m
}
