// Package databridge speaks the WSO2 Carbon data-bridge Thrift protocol (docs/stratos-wire.md §2):
// the receiver the CEP runs (Server) and the publisher agents and the load balancer use (Client).
//
// # Wire
//
// databridge.thrift is the interface (both services, every method and exception of §2.1, the
// bundle of §2.2); gen/ is its generated Go code, refreshed by `make generate`. The generated code
// serves tests and the stock-server benchmark; the server and the client speak the binary protocol
// through the hand-written codec in wire.go, because the generated decoder allocates every list
// and string of every bundle. Messages are TBinaryProtocol, strict or old-style headers, over the
// buffered transport; the server also accepts the framed transport, detected from a connection's
// first bytes.
//
// # Data flow in the server
//
//	plain listener (7611) -> accept goroutine -> one goroutine per connection
//	TLS listener (7711)   -> accept goroutine -> one goroutine per connection (crypto/tls)
//	per connection:
//	  reader (per-connection buffer, every length checked against MaxFrame before use)
//	  -> message header -> dispatch by method name
//	     publish: bundleDecoder.readArgs (flat typed lists, strings interned)
//	              -> session check -> build (cut lists into []Event by stream definition, §2.3)
//	              -> scope check (scoped sessions only) -> Handler.HandleEvents(events) -> reply
//	     connect/disconnect (secure only), defineStream, findStreamId, deleteStream*: parsed with
//	              allocations (rare), answered with the declared exceptions
//	  -> replies buffered and written once per read (a pipelining client gets one write per batch)
//
// The whole server loop is hand-written rather than the generated processor with a fast publish
// path: one reader per connection serves every method, there is no per-call goroutine, context or
// ticker (the generated processor starts one per call), and framed and unframed transports are
// told apart from a connection's first bytes. The parser reads from the connection as it needs
// bytes, so a message that arrives in pieces is parsed once, as it comes. (Raw epoll loops once
// served the plain port; measured against a goroutine per connection at 1, 100 and 1000
// connections they were no faster, see ingest_bench_test.go, and they were removed.) A handler
// that blocks stalls its connection: HandleEvents should return quickly (hand off to a channel).
//
// Decoding a bundle allocates nothing per event once the connection's buffers have grown: the
// typed lists, the Event slice and the arbitrary-data maps are reused, Event slices are windows
// into the lists, and strings up to 128 bytes go through a per-connection intern table of at most
// 8192 entries (cleared when full). Longer strings (log lines) are copied.
//
// Malformed bytes (bad header, unknown type, a length beyond MaxFrame or the message, truncation)
// close that connection only, with a warning log line and the BadFrames counter. Semantic errors
// are answered and the connection goes on: an unknown or expired session gets
// ThriftSessionExpiredException, an undefined stream ThriftUndefinedEventTypeException, and a
// bundle whose lists are shorter than the definitions of its events a TApplicationException
// (PROTOCOL_ERROR); in every case the handler sees nothing of that bundle.
//
// Sessions come from connect on the secure service and are valid on both services; one expires
// after SessionTTL without a call naming it (checked on use by the injectable clock, swept
// periodically). ServerOptions.Authorize gives each session a Scope (scope.go): an unrestricted
// one, or a cluster (and member) whose events alone it may publish. Events outside the scope are
// dropped and counted, the rest of the bundle still reaches the handler (the runs between the dropped ones),
// and the session and its connection are closed after three such bundles. Stream definitions are global to the server; the §2.6 health and in-flight
// streams are defined at start so their layout is fixed.
//
// Bounds: a connection that sends nothing for IdleTimeout is closed (Stats.IdleClosed); one
// beyond MaxConns open connections, or beyond MaxConnsPerSource from its host, is closed at
// accept (Stats.RefusedConnections). Authenticate finds the connect call's source host with
// Source(ctx), to throttle failed logins by source.
//
// # Concurrency and lock order
//
// Each connection's goroutine owns its reader, decoder, reply buffer and caches (its last session
// and a stream cache invalidated by Server.streamGen). Shared state: Server.streamsMu (RWMutex,
// stream definitions), sessionStore.mu (RWMutex, sessions; session liveness is atomic),
// Server.connsMu (the open connections and their count per source) and atomic counters. No two of these locks
// are ever held together; each is a leaf. Run stops the accept loops, closes the connections and
// waits for their goroutines. Handler.HandleEvents is called from many connection goroutines at
// once and must be safe for concurrent use.
//
// # Client
//
// A Client holds one connection and session, serialized by Client.mu (the only lock; the
// connection is owned under it). It connects lazily, defines every stream it has used on each new
// session, reconnects and retries once on ThriftSessionExpiredException, and on a connection error
// fails over to the next URL and retries once.
package databridge
