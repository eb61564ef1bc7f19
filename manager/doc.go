// Package manager is Strata's manager: the REST API (Stratos 4.1 paths under /api and /api/v4.1),
// the credential store that every component authenticates against, tenants, users and roles,
// subscriptions and applications, artifact distribution and dashboard queries.
//
// Requests pass limitBody, then authenticate (HTTP Basic, "user" or "user@tenant.domain"), then
// the route's handler; routes are listed in one place, Server.routes. The credential store, Users,
// keeps bcrypt hashes in bbolt and remembers verified passwords as HMACs under a per-process key;
// its one mutex guards only that memo.
package manager
