// Package mock is the mock IaaS driver: simulated members that behave like Stratos' mock IaaS
// (docs/stratos-wire.md §8.1), for tests and for simulating thousands of members in one process.
//
// Each started instance stands in for a VM running a cartridge agent:
//   - on its MemberInitializedEvent it publishes InstanceStartedEvent;
//   - on its MemberStartedEvent it publishes InstanceActivatedEvent (no port check, no artifacts);
//   - on InstanceCleanupMemberEvent (its member id) or InstanceCleanupClusterEvent (its cluster
//     and cluster instance) it publishes InstanceMaintenanceModeEvent, unless it has already
//     answered ready-to-shutdown; to a cluster's clean-up, the instances answer in the order of
//     their ids, which the controller then terminates them in: the state loses its keys in
//     order, a few pages a transaction;
//   - on its MemberMaintenanceModeEvent it publishes InstanceReadyToShutdownEvent;
//   - every Interval (15 s), starting at once, it publishes health statistics: memory_consumption
//     and load_average (cartridge_agent_health_stats) and, when configured, the cluster's
//     in-flight request count (in_flight_requests), from the per-cartridge sample Patterns.
//     A cartridge type no pattern names gets DefaultPatterns (a steady 20), so that with no
//     configuration members still report health and are never found silent and replaced.
//
// Patterns come from Options or from a file (LoadPatterns): Stratos' mock-iaas.xml (per
// cartridge type and factor, sampleValues, sampleDuration, loop|continue|stop) or the same in
// Strata's YAML; `strata up --mock-health FILE` loads one.
//
// Private addresses are 10.0.0.N and public ones 20.0.0.N (N counting on past 255 into the
// higher octets); the instance id is the member id, as in Stratos.
//
// Kill removes an instance without telling anyone, like Stratos' mock IaaS DELETE: it goes
// silent, the CEP declares it faulty and the autoscaler replaces it. Crash removes it and reports
// it through Watch, like a process that exits under the local driver. Handler serves the parts
// of Stratos' mock IaaS REST API that tests use (list, read an instance and its payload, DELETE
// to kill).
//
// # Scale
//
// One Driver carries 10 000 instances: the instances share one bus subscription per event type
// (dispatched by member id from a map, not a subscription per member) and one health loop, which
// every Resolution (and at once for a new instance) takes the instances that are due from a heap
// ordered by due time, so a tick costs the due instances, not every instance, and hands their samples to the Publish
// function in batches of BatchSize (one Thrift bundle each when Publish is a data-bridge client,
// so a few connections serve every instance). Samples are plain values built without
// allocating per instance.
//
// Health goes out through Options.Publish, a func, because this package may not import the CEP
// or the data-bridge client (the dependency rule of docs/architecture.md): internal/app passes a
// function that hands each batch to cep.Engine.IngestBatch in process (no connection, no
// encoding); this package's benchmark also publishes through a databridge.Client.
//
// # Concurrency and lock order
//
// Goroutines: Run's (the health loop), the event worker (bus handlers only queue), and the
// callers of Start, Terminate, List, Kill and Crash. Driver.mu guards the instances and the
// pattern clocks; queueMu guards the event queue; they are never held together, and neither is
// held while publishing, calling Publish or a Watch report function. bbolt (Options.DB) is
// written outside both; forgetMu guards the deletions queued for it (one Terminate at a time
// writes them, the others return without waiting).
package mock
