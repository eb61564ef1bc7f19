// Package client is the client side of the manager's REST API (/api), what the strata client
// commands (deploy, list, runtime, deploy-app, undeploy, subscribe, explain, policy replay --api)
// are built on.
//
// A Client sends one request at a time: Call encodes nothing itself, it sends the body it is
// given with HTTP Basic credentials or a bearer token and decodes a JSON answer; a non-2xx answer
// is an *APIError with the status and Stratos' message. On top of Call:
//
//   - Kinds lists the kinds of definition the API holds, each under every name users write
//     (singular, plural, Stratos' REST collection), with the columns a table shows.
//   - Runtime is the part of an application's runtime view the client shows. RuntimeView reads
//     the view with the members' counts per state only (?limit=0), or every member page by page
//     merged into the view's whole shape; Converge polls the counts until a condition holds,
//     printing progress as it changes, and stops early at the first member that cannot be
//     started.
//   - Summaries, Lifecycle and Decisions read the recorded history through /api/history with the
//     history package's queries, so a replay reads a running platform as it reads ClickHouse.
//   - Encode, WriteTable, Runtime.WriteTable and Runtime.WriteCounts write answers as JSON, YAML or a table.
//
// Nothing here runs concurrently: a Client has no state beyond its settings and may be shared.
package client
