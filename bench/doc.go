// Package bench holds Strata's end-to-end scenarios and benchmarks: the platform of `strata up`
// (internal/app) run in one process with short timings, driven through the mock IaaS.
//
// # Wiring (platform_test.go)
//
//	mock members ──samples, in process (cep.Engine.IngestBatch)────────────────────────> cep.Engine
//	                                                                                     │ Subscribe
//	embedded broker <──> bus.Client ──topology/#──> cep.Engine.HandleTopology            v
//	        ^  │                    ──topology/#──> autoscaler ──StartMember/TerminateMember──> controller
//	        │  └── instance/*, cluster/status ──> controller ──MemberCreated, …──> bus     │ mock driver
//	        └────────── instance/status (the mock members' answers) <───────────────────────┘
//
// startPlatform runs app.New(...).Run with every component the real one, on free ports (the
// REST API runs too, unused; the lb does not): the embedded broker, bus.Client, databridge.Server (TLS
// only, for agents; the mock members publish into cep.Engine in process, as in `strata up`), the
// embedded history store, the controller with
// controller/mock, policies.Store and the autoscaler with InProcessSummaries. Only the timings
// are scaled down: a CEP window of 2 s instead of 60 s, health every 250 ms instead of 15 s, a
// monitor tick of 1 s instead of 90 s, a fault timeout of 3 s instead of 60 s (checked every
// 100 ms, no start-up grace) and a settle of 100 ms, so each scenario takes seconds. The sample
// patterns keep Stratos' shape against the window: 60, 60, 10 with a 3 s sampleDuration holds 60
// for three windows (single-cluster scaling reads them from a mock-iaas.xml in testdata; a test
// with no patterns gets the mock's default, a steady 20). The harness waits until the platform is ready (the controller has adopted,
// the mock driver and the autoscaler have subscribed) before a test creates clusters, and
// records the autoscaler's StartMember and TerminateMember calls (app.Options.WrapStarter), the
// topology events on the bus and the publish time of the first sample above a threshold
// (app.Options.WrapPublish).
//
// # Scenarios (scenario_test.go)
//
// The Stratos integration tests of docs/stratos-wire.md §8.2 on the mock IaaS, with the same
// thresholds, minimums, maximums and sample patterns: single-cluster scaling, round-robin and
// one-after-another placement, a killed member detected by the CEP and replaced, policies in use
// that cannot be removed, and Strata's dry-run and shadow modes. Tests wait on conditions by
// polling (every 50 ms, with a deadline), never by sleeping.
//
// # Reaction (reaction_test.go)
//
// TestReaction and BenchmarkReaction measure, on the single-cluster-scaling set-up with a load
// step (10, then 60), the time from the first health sample above the threshold (publish time) to
// the autoscaler's StartMember call, in CEP windows, next to Stratos' path (15 s of stats, a 60 s
// window and up to a 90 s monitor tick: 1 to 2.75 of its windows). BenchmarkReaction moves the
// step over the phases of the window (-benchtime=6x covers six).
//
// # Scale (scale_test.go)
//
// TestScale is issue 17's harness: `strata up` in this process (load balancer included, mock
// health every 15 s, fault timeout an hour so silent mock members do not churn), one application
// whose cluster has cartridgeMin = cartridgeMax = -scale.members (300 in the normal suite),
// deployed and undeployed over REST. It logs one row of the table: deploy → every member
// Active (counted from MemberActivatedEvents on a separate bus connection), peak RSS (VmHWM),
// steady CPU per minute over -scale.steady once every member is Active and the deployment has
// settled (the cluster instance Active, a complete topology of that state published and handled
// by the platform's consumers; a minute by default: one
// CEP window, so it holds the window's summaries and four health samples of every member, which
// the test checks; -scale.cpuprofile and -scale.allocprofile profile that window alone), the CompleteTopologyEvent's
// size and the time to answer a CompleteTopologyRequestEvent (also asked when half the members
// are Active: it must be answered within 2 s; -scale.asks=N asks N times, 2 s apart, and logs
// each answer with the controller's time encoding it), the GET runtime time of the whole view and of
// one page of 1 000 members (five calls each, min–max) and undeploy → no member left (and →
// the observer, a subscribed client, has every MemberTerminatedEvent). Its last
// column is the loss, which must be nothing at every size: the embedded broker's drops (a
// subscriber's buffer or in-flight store full) and refusals, the Publish calls the platform's and
// the observer's clients refused, the controller's failed publications, the CEP summaries shed
// or not published, and the members whose MemberCreated, MemberActivated and MemberTerminated
// the observer did not all see. During the deployment it logs every 30 s how many members are
// Active. For example:
//
//	go test -run 'TestScale$' -timeout 0 -v ./bench -scale.members=5000
//
// It also logs the peak RSS after each phase. With -scale.heapprofile=FILE it writes a heap
// profile once every member is Active (the peak; -test.memprofile is taken after the undeploy)
// and logs the RSS (anonymous and file-backed), the live heap, the stacks, the goroutines and the
// bbolt files' sizes then (scale_mem_test.go). TestScaleMemory is the memory guard: the live heap
// each Active member adds (-scale.memmembers, 1 000) must stay under 8 KiB.
//
// Nothing imports this package; it may import everything.
package bench
