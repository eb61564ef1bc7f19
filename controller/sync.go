package controller

// syncMark is what the periodic sync compares with the last complete topology published: the
// topology's version, the subscriptions to the CompleteTopologyEvent the broker granted
// (Options.TopologySubscriptions) and the controller's publish errors. While none moved, every
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
	if f := c.opts.TopologySubscriptions; f != nil {
		m.subscriptions = f()
	}
	return m
}

// periodicSync publishes the periodic complete topology unless nobody subscribes to it
// (Options.TopologySubscribed) or, with Options.TopologySubscriptions set, nothing moved since the
// last publication (last); it returns the mark of the last publication.
func (c *Controller) periodicSync(last syncMark) syncMark {
	m := c.mark()
	nobody := c.opts.TopologySubscribed != nil && !c.opts.TopologySubscribed()
	if nobody || c.opts.TopologySubscriptions != nil && m == last {
		c.stats.topologySyncsSkipped.Add(1)
		return last
	}
	c.publishTopology()
	return m
}
