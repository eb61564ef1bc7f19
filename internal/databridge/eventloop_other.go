//go:build !linux

package databridge

import (
	"context"
	"errors"
	"net"
)

// Elsewhere than Linux every connection has its own goroutine.
type evLoop struct{}

func newEvLoop(*Server) (*evLoop, error) {
	return nil, errors.New("databridge: no event loop on this platform")
}
func (l *evLoop) add(net.Conn) error  { return errors.ErrUnsupported }
func (l *evLoop) run(context.Context) {}
func (l *evLoop) stop()               {}
func (l *evLoop) wake()               {}
