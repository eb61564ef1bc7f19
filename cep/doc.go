// Package cep is Strata's embedded complex event processor: it turns the health statistics that
// cartridge agents and load balancers publish over the Thrift data bridge into the summarized
// health events of docs/stratos-wire.md §1.5.5 and §3.4, and detects faulty members (§3.5).
//
// # Data flow
//
//	databridge server ──HandleEvents──┐            ┌── Subscribe callbacks (autoscaler, no JSON)
//	tests, mock IaaS ───Ingest────────┤            │
//	                                  ▼            │
//	            per-key windows, fault watch ──Run─┼── publish queue ──Publisher (bus, §1.4 envelope)
//	                 ▲          │                  │
//	topology ──HandleTopology   │ raw samples      └── summary queue ─┐
//	  (MemberActivated, …)      ▼                                     ▼
//	                         raw buffer, log queue ──────────────── Recorder (history)
//
// HandleEvents resolves the attribute positions of each stream definition once (cached by
// definition pointer) and turns every cartridge_agent_health_stats or in_flight_requests event
// into a model.HealthSample on the stack; logs.* events become model.LogEntry values for history.
// Ingest then updates, under one mutex and without allocating, the windows of §3.2:
//
//   - load_average and memory_consumption per member (member_id) and per key(ci) = cluster +
//     cluster instance: average, gradient, second derivative;
//   - in_flight_requests: the average per key(ci), the gradient and second derivative per key(np)
//     = cluster + network partition;
//   - ports_not_open: a MemberFaultEvent at once.
//
// Keys are struct keys of interned strings (no concatenation per event); a member's state caches
// its key(ci) state, so a health event costs one map lookup. The window math is in window.go,
// including why the second derivative needs a bounded per-key buffer rather than O(1) state.
//
// Windows are tumbling batches of Options.Window (1 minute) ended together for every key by the
// Run goroutine's ticker, as Siddhi's timeBatch does per partition; an empty batch emits nothing.
// With Options.Sliding the windows slide: every Sliding, the summaries of the last Window.
// Every summary carries the window end as its timestamp; on the Stratos wire only the averages
// write it.
//
// # Fault detection
//
// Members announced by the topology (MemberActivated, the Active members of a complete topology)
// are watched. A health event from a watched member records the engine's coarse time (refreshed at
// every fault scan). Every Options.FaultCheckInterval (1 s) the Run goroutine raises one
// MemberFaultEvent for each watched member silent for longer than Options.FaultTimeout (60 s), so
// a fault comes between 60 s and 62 s after the last event instead of Stratos' 60-120 s. The
// member is then marked, not forgotten: it faults again only after it has published again and
// fallen silent again. Members outside the topology never fault on silence; a ports_not_open
// stat faults at once. A scan walks a dense list of the watched members (about 0.3 ms for
// 100 000 here, BenchmarkFaultScan). No silence fault is raised during Options.StartupGrace after Run starts,
// so agents can reconnect after a CEP restart.
//
// State is bounded: a member's state is released when it is terminated, its cluster is removed,
// a complete topology no longer lists it, or (for members outside the topology) after a window
// without events; cluster keys are released after a window without events. Each window keeps at
// most Options.MaxWindowEvents events. 100 000 members take about 75 MiB (TestState100kMembers).
//
// # History hand-off
//
// Raw samples are copied into a bounded buffer (Options.HistoryBuffer) and log lines into a
// bounded queue; when history is slow, what does not fit is shed and counted (Stats.HistoryShed,
// Stats.LogsShed). Summaries go to an unbounded queue and failed batches are offered again, so no
// summary is lost; Stats.HistoryBacklog shows the queue. Ingest never waits for history or the
// bus.
//
// A window end's summaries wait as pending values (pending.go): one per key and metric, holding
// its three values and a pointer to the key's names, 48 B instead of three model.Summary values
// of 120 B. They become model.Summary values only when handed on: one at a time to the
// subscribers and the Publisher, and in chunks of at most 4096 (one reused slice) to the
// Recorder; a chunk refused in part goes back to the front of the queue from the first summary
// refused. A buffer that held a window end is dropped once delivered, so between two window ends
// the engine keeps none (at 100 000 members a window end's buffer is 9.6 MB, where the engine,
// the history queue and the history loop each kept 72 MB of model.Summary before;
// TestWindowEndKeepsLittle). The publish buffer counts summaries, not pending values.
//
// # Files
//
// engine.go holds the options, the key and member state types, New, Run and the delivery to the
// consumers; ingest.go the hot path from a health sample into the windows; tick.go the window
// ends and the summaries they emit; pending.go the compact form of the summaries waiting for
// delivery; faults.go the watched members, the silence scan and the
// ports_not_open faults; window.go the window math; topology.go, databridge.go, history.go and
// stats.go the adapters to the neighbours.
//
// # Wiring
//
// The engine declares what it needs from its neighbours and adapts to them in thin functions:
// HandleEvents makes it a databridge.Handler; HandleTopology has the shape of bus.EventHandler
// (subscribe it to "topology/#"); BusPublisher wraps a bus client's PublishEvent (model.Marshal
// writes the §1.4 envelope, byte-compatible with the Java receiver's ':' split); HistoryRecorder
// wraps a history store; Collector exports Stats to Prometheus.
//
// # Goroutines
//
// The caller's goroutines call HandleEvents, Ingest and the topology methods; they take Engine.mu
// briefly. Run starts two more and returns after both exit:
//   - the Run goroutine itself: window ticks, fault scans, delivery of ports_not_open faults, and
//     every call of the Subscribe callbacks (in order, one at a time);
//   - the publish loop: calls Publisher.Publish for each queued summary;
//   - the history loop: calls the Recorder with batches (summaries first).
//
// # Lock order
//
// Engine.mu, then a queue's mutex (HandleEvents pushes log lines while holding Engine.mu). No code
// takes Engine.mu while holding a queue mutex. No callback (subscriber, Publisher, Recorder) runs
// with a lock held.
//
// # Differences from Stratos
//
//   - Faults are raised within timeout + 2 s rather than at a one-minute scan; the start-up grace is
//     a fixed time (2 minutes by default) rather than "until the first event or 15 minutes".
//   - A complete topology reconciles the watched set (Stratos only seeds from the first one).
//   - Faults are published on summarized-health-stats, not on the literal "summarized-health-stats/#"
//     topic of the Stratos fault handler (§1.4).
package cep
