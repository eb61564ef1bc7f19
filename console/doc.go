// Package console is Strata's web console: server-rendered pages (html/template, a little
// vanilla JavaScript, both embedded) served on the REST API's listener at "/".
//
// Every page and every action is an ordinary call to the REST API, made in process on the
// user's behalf: logging in asks the API for a bearer token with the user's credentials (POST
// /api/tokens), and each later call carries that token. The console therefore sees and does
// exactly what the API lets the user see and do: a tenant's pages show only its applications,
// and the action buttons appear only for the permissions GET /api/session reports (the API
// refuses the call anyway). The token lives in the server-side session; the browser holds only
// a random session id in an HttpOnly, SameSite=Strict cookie. Every POST carries the session's
// CSRF token (a form field or the X-CSRF-Token header); logging out deletes the token.
//
// Data flow: the browser asks for a page; the handler calls the API (applications, runtime,
// cluster, history, policies) with the session's token, renders the tree, the tables and the
// charts (inline SVG, drawn on the server from the history's health points, with the
// autoscaling policy's thresholds and a mark per scaling decision linking to the decision's
// trace, rendered by autoscaler.RenderTrace like `strata explain`).
//
// Live updates: Run subscribes to the bus's topology events and fans each one out to the
// browsers' server-sent event streams (GET /events) as the event's class name only, no ids, so
// no tenant learns of another's clusters; a page that shows an application then fetches its
// tree again with the user's own rights.
//
// Concurrency: handlers run concurrently; the session table has its own mutex, the event hub
// another; neither is held while the other is taken or while the API is called.
package console
