// Package model holds the types every Strata component shares: the events that travel on the
// message bus and their JSON encoding, the topology and application domain objects those events
// carry, the lifecycle state machines, health statistics and summaries, history records, member
// launch parameters (the payload) and id formats. It imports only the standard library, and every
// other package may import it; it imports nothing from the repository.
//
// # Events and the wire
//
// An Event names its Java class relative to ClassPrefix (EventClass); the MQTT topic follows from
// it (Topic, TopicOf), and a receiver finds the class from the topic again (ClassForTopic).
// Every event type registers itself, so New and Unmarshal can build one from a class or a topic.
// Event types are named exactly like their Stratos classes (MemberActivatedEvent,
// ClusterStatusClusterActivatedEvent, CompleteTopologyRequestEvent, ...).
//
// Receivers: EventClass has a value receiver on every event type, so both T and *T are Events and
// Marshal accepts either. New and Unmarshal always return a pointer (*MemberActivatedEvent,
// *Summary), which is what a type switch on a received event must name.
//
// Marshal writes what Stratos' Gson writes (docs/stratos-wire.md §1.3):
//   - JSON keys are the Java field names in declaration order (Go struct order);
//   - Java null fields are left out (omitempty on strings and pointers, omitzero on maps and
//     slices, so an empty but non-nil map is still written as {});
//   - Java primitives (int, long, float, boolean) are always written;
//   - java.util.Properties is a flat object of strings (Properties);
//   - Map<Integer,Port> is an object keyed by decimal strings (PortMap);
//   - enums are their constant names (MemberStatus "In_Maintenance", ServiceType "SingleTenant");
//   - the keys the Python agent reads without a guard (§1.8) are always written, as {} or [] when
//     empty, and a Topology always carries "initialized": true.
//
// Health summaries (Summary) are the exception: Marshal writes them in the §1.4 envelope,
// {"org.apache.stratos.messaging.event.health.stat.X":{"message":{...}}}, compact, with every
// value a JSON string and only the keys the Stratos CEP writes for that kind (SummaryKeys), because
// the Java receiver splits the text on ':' rather than parsing it.
//
// Unmarshal is lenient the way Gson is: numbers and booleans may come as JSON strings, explicit
// nulls are accepted, unknown keys are ignored, and pretty-printed, key-sorted bodies (the Python
// agent's json.dumps(sort_keys=True, indent=4)) decode like compact ones. The flexible scalars
// Int, Long, Float, Bool and String implement that and are meant for reuse by other decoders (the
// REST API). Summary envelopes accept string or number values; the exact shape the CEP writes
// takes a fast path (AppendSummary and UnmarshalSummary are the CEP's and autoscaler's hot
// paths), and anything else goes through encoding/json.
//
// Subscribe* are the MQTT filters of the Stratos receivers. Topology, Service, Cluster and Member
// are the domain objects of CompleteTopologyEvent, with lookups (Topology.Cluster, FindMember);
// Applications, Application and Group those of CompleteApplicationsEvent.
//
// # Lifecycles
//
// MemberStatus, ClusterStatus, ApplicationStatus and GroupStatus are the Stratos lifecycle enums
// with their allowed transitions (CanTransition, Transition); an invalid move is a
// *TransitionError that names both states and wraps ErrInvalidTransition. StateManager is the
// Java LifeCycleStateManager: a stack of states whose last element is the current state.
// LifecycleOf turns a lifecycle event into the LifecycleRecord that history keeps.
//
// # Payload
//
// Payload is a member's launch-params (§7.1): one line of KEY=VALUE pairs separated by ",".
// ParsePayload is stricter than the Python agent, which silently misreads a value holding "=";
// WriteTo refuses to write what the agent would misread; Validate lists the keys the agent needs.
//
// # Ids
//
// ClusterID, NewMemberID (cluster id + random UUID), InstanceID and InstanceSequence follow the
// Stratos id formats (§1.7).
//
// # Concurrency
//
// The types here are plain values with no locks; a caller that shares one between goroutines
// guards it. InstanceSequence is the exception: it is safe for concurrent use. The event registry
// is filled by init functions and only read afterwards.
package model
