//go:build race

package testenv

// Race reports whether the test binary was built with the race detector, which makes code
// several times slower: a test that bounds a latency loosens its bound under it, and the
// Makefile runs that test once more without it.
const Race = true
