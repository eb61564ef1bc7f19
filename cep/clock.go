package cep

import "github.com/strata-paas/strata/internal/clock"

// Clock is the engine's source of time. Window ends, fault scans and the start-up grace are all
// read from it, so tests can drive them (or run under testing/synctest with the real clock).
type Clock = clock.Clock

// Ticker delivers ticks like time.Ticker.
type Ticker = clock.Ticker
