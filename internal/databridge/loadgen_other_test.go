//go:build !linux

package databridge

import "testing"

func ingestConcurrent(b *testing.B, addr string, msg []byte, conns, depth int) {
	if depth != 1 {
		b.Skip("pipelined load needs the epoll load generator")
	}
	ingestConcurrentGoroutines(b, addr, msg, conns)
}
