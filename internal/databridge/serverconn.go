package databridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// serverConn is one connection's state, owned by its goroutine.
type serverConn struct {
	s      *Server
	c      net.Conn
	secure bool
	r      *reader
	out    []byte
	framed bool
	dec    bundleDecoder
	sess   *session // the session of the last publish, to skip the store's lock
	// streams caches stream lookups; cleared when the server's streamGen moves.
	streams map[string]*stream
	gen     uint64
}

func (sc *serverConn) flush() error {
	if len(sc.out) == 0 {
		return nil
	}
	_, err := sc.c.Write(sc.out)
	if cap(sc.out) > 1<<20 {
		sc.out = nil // do not keep a huge reply buffer around
	} else {
		sc.out = sc.out[:0]
	}
	return err
}

// serve reads messages until the peer leaves or sends something malformed (goroutine mode).
// Replies are buffered and written when no further request is already buffered, so a pipelining
// client gets one write per batch.
func (sc *serverConn) serve(ctx context.Context) error {
	r := sc.r
	if sc.s.opts.IdleTimeout > 0 {
		sc.c.SetReadDeadline(time.Now().Add(sc.s.opts.IdleTimeout))
	}
	if err := sc.detect(); err != nil {
		return err
	}
	for {
		if r.buffered() == 0 {
			if err := sc.flush(); err != nil {
				return err
			}
			if sc.s.opts.IdleTimeout > 0 {
				sc.c.SetReadDeadline(time.Now().Add(sc.s.opts.IdleTimeout))
			}
		}
		if err := sc.handle(ctx); err != nil {
			return err
		}
		if len(sc.out) > 64<<10 {
			if err := sc.flush(); err != nil {
				return err
			}
		}
	}
}

// detect tells framed from unframed by the first bytes: an unframed strict header starts 0x80
// 0x01; a frame length is followed by 0x80 (strict) or 0x00 (the high byte of an old-style name
// length); an unframed old-style header is followed by the method name's first letter.
func (sc *serverConn) detect() error {
	r := sc.r
	r.left = 5
	if err := r.fill(5); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: connection closed after %d bytes", ErrProtocol, r.buffered())
		}
		return err
	}
	b0, b4 := r.buf[r.r], r.buf[r.r+4]
	sc.framed = b0 != 0x80 && (b4 == 0x80 || b4 == 0)
	return nil
}

// handle reads one message and appends its reply to sc.out.
func (sc *serverConn) handle(ctx context.Context) error {
	r := sc.r
	start := len(sc.out)
	if sc.framed {
		r.left = 4
		n, err := r.readI32()
		if err != nil {
			return err
		}
		if n <= 0 || int(n) > sc.s.opts.MaxFrame {
			return r.fail(fmt.Errorf("%w: frame of %d bytes", ErrFrameTooLarge, n))
		}
		r.left = int(n)
		sc.out = append(sc.out, 0, 0, 0, 0)
	} else {
		r.left = sc.s.opts.MaxFrame
	}
	name, typ, seq, err := r.readMessageBegin()
	if err != nil {
		return err
	}
	if typ != msgCall && typ != msgOneway {
		return r.fail(fmt.Errorf("%w: message type %d", ErrProtocol, typ))
	}
	if err := sc.dispatch(ctx, name, seq); err != nil {
		return err
	}
	if typ == msgOneway {
		sc.out = sc.out[:start]
	}
	if sc.framed {
		if r.left > 0 { // a frame longer than its message: ignore the rest
			if err := r.skipN(r.left); err != nil {
				return err
			}
		}
		if len(sc.out) > start {
			putI32(sc.out[start:], int32(len(sc.out)-start-4))
		} else {
			sc.out = sc.out[:start]
		}
	}
	return nil
}

func (sc *serverConn) dispatch(ctx context.Context, name []byte, seq int32) error {
	switch string(name) {
	case "publish":
		return sc.publish(seq)
	case "connect":
		if sc.secure {
			return sc.connect(ctx, seq)
		}
	case "disconnect":
		if sc.secure {
			return sc.disconnect(seq)
		}
	case "defineStream":
		return sc.defineStream(seq)
	case "findStreamId":
		return sc.findStreamID(seq)
	case "deleteStreamById":
		return sc.deleteStreamByID(seq)
	case "deleteStreamByNameVersion":
		return sc.deleteStreamByNameVersion(seq)
	}
	method := string(name)
	if err := sc.r.skip(tStruct, 0); err != nil {
		return err
	}
	sc.appApplicationException(method, seq, appUnknownMethod, "unknown method "+method)
	return nil
}

// publish is the hot path.
func (sc *serverConn) publish(seq int32) error {
	d := &sc.dec
	if err := d.readArgs(sc.r); err != nil {
		return err
	}
	s := sc.s
	if sc.sess == nil || sc.sess.id != string(d.sid) || !s.sessions.alive(sc.sess) {
		sc.sess = s.sessions.get(d.sid)
		if sc.sess == nil {
			s.rejected.Add(1)
			sc.appException("publish", seq, 2, "session "+string(d.sid)+" expired or unknown")
			return nil
		}
	}
	if g := s.streamGen.Load(); g != sc.gen {
		clear(sc.streams)
		sc.gen = g
	}
	evs, err := d.build(sc.lookup)
	switch {
	case errors.Is(err, errUndefinedStream):
		s.rejected.Add(1)
		sc.appException("publish", seq, 1, "no stream definition for "+d.undef)
		return nil
	case err != nil:
		s.rejected.Add(1)
		sc.appApplicationException("publish", seq, appProtocolError, err.Error())
		return nil
	}
	if len(evs) > 0 && !sc.sess.scope.All {
		if evs, err = sc.enforceScope(evs); err != nil {
			return err
		}
	}
	if len(evs) > 0 {
		s.opts.Handler.HandleEvents(evs)
	}
	s.bundles.Add(1)
	s.events.Add(uint64(len(evs)))
	sc.out = appendMessageBegin(sc.out, "publish", msgReply, seq)
	sc.out = append(sc.out, tStop)
	return nil
}

func (sc *serverConn) lookup(id string) *stream {
	if st, ok := sc.streams[id]; ok {
		return st
	}
	st := sc.s.lookupStream(id)
	if st != nil {
		sc.streams[st.def.ID] = st
	}
	return st
}

// session checks a control call's session id.
func (sc *serverConn) session(id string) bool {
	return sc.s.sessions.get([]byte(id)) != nil
}

func (sc *serverConn) connect(ctx context.Context, seq int32) error {
	var a [2]string
	if err := sc.r.readStringFields(a[:]); err != nil {
		return err
	}
	scope, err := sc.s.authorize(withSource(ctx, sc.c.RemoteAddr()), a[0], a[1])
	if err != nil {
		sc.s.authFailures.Add(1)
		sc.s.log.Warn("authentication failed", "remote", sc.c.RemoteAddr().String(), "user", a[0], "err", err)
		sc.appException("connect", seq, 1, "authentication failed for user "+a[0])
		return nil
	}
	sess := sc.s.sessions.create(a[0], scope)
	sc.appStringReply("connect", seq, sess.id)
	return nil
}

func (sc *serverConn) disconnect(seq int32) error {
	var a [1]string
	if err := sc.r.readStringFields(a[:]); err != nil {
		return err
	}
	sc.s.sessions.remove(a[0])
	sc.out = appendMessageBegin(sc.out, "disconnect", msgReply, seq)
	sc.out = append(sc.out, tStop)
	return nil
}

func (sc *serverConn) defineStream(seq int32) error {
	var a [2]string
	if err := sc.r.readStringFields(a[:]); err != nil {
		return err
	}
	if !sc.session(a[0]) {
		sc.appException("defineStream", seq, 4, "session "+a[0]+" expired or unknown")
		return nil
	}
	def, err := ParseDefinition(a[1])
	if err != nil {
		sc.appException("defineStream", seq, 2, err.Error())
		return nil
	}
	if err := sc.s.Define(def); err != nil {
		sc.appException("defineStream", seq, 1, "stream "+def.ID+" is already defined with other attributes")
		return nil
	}
	sc.appStringReply("defineStream", seq, def.ID)
	return nil
}

func (sc *serverConn) findStreamID(seq int32) error {
	var a [3]string
	if err := sc.r.readStringFields(a[:]); err != nil {
		return err
	}
	if !sc.session(a[0]) {
		sc.appException("findStreamId", seq, 2, "session "+a[0]+" expired or unknown")
		return nil
	}
	id := StreamID(a[1], a[2])
	if sc.s.lookupStream(id) == nil {
		sc.appException("findStreamId", seq, 1, "no stream definition for "+id)
		return nil
	}
	sc.appStringReply("findStreamId", seq, id)
	return nil
}

func (sc *serverConn) deleteStreamByID(seq int32) error {
	var a [2]string
	if err := sc.r.readStringFields(a[:]); err != nil {
		return err
	}
	return sc.deleteReply("deleteStreamById", seq, a[0], a[1])
}

func (sc *serverConn) deleteStreamByNameVersion(seq int32) error {
	var a [3]string
	if err := sc.r.readStringFields(a[:]); err != nil {
		return err
	}
	return sc.deleteReply("deleteStreamByNameVersion", seq, a[0], StreamID(a[1], a[2]))
}

func (sc *serverConn) deleteReply(method string, seq int32, sid, id string) error {
	if !sc.session(sid) {
		sc.appException(method, seq, 1, "session "+sid+" expired or unknown")
		return nil
	}
	ok := sc.mayDelete(sid) && sc.s.deleteStream(id)
	sc.out = appendMessageBegin(sc.out, method, msgReply, seq)
	sc.out = appendFieldBegin(sc.out, tBool, 0)
	if ok {
		sc.out = append(sc.out, 1)
	} else {
		sc.out = append(sc.out, 0)
	}
	sc.out = append(sc.out, tStop)
	return nil
}

func (sc *serverConn) appStringReply(method string, seq int32, v string) {
	sc.out = appendMessageBegin(sc.out, method, msgReply, seq)
	sc.out = appendFieldBegin(sc.out, tString, 0)
	sc.out = appendString(sc.out, v)
	sc.out = append(sc.out, tStop)
}

// appException answers with a declared exception in result field id; every data-bridge
// exception is a struct with 1: string message.
func (sc *serverConn) appException(method string, seq int32, id int16, msg string) {
	sc.out = appendMessageBegin(sc.out, method, msgReply, seq)
	sc.out = appendFieldBegin(sc.out, tStruct, id)
	sc.out = appendFieldBegin(sc.out, tString, 1)
	sc.out = appendString(sc.out, msg)
	sc.out = append(sc.out, tStop, tStop)
}

// TApplicationException types.
const (
	appUnknownMethod = 1
	appProtocolError = 7
)

func (sc *serverConn) appApplicationException(method string, seq int32, typ int32, msg string) {
	sc.out = appendMessageBegin(sc.out, method, msgException, seq)
	sc.out = appendFieldBegin(sc.out, tString, 1)
	sc.out = appendString(sc.out, msg)
	sc.out = appendFieldBegin(sc.out, tI32, 2)
	sc.out = appendI32(sc.out, typ)
	sc.out = append(sc.out, tStop)
}

func putI32(b []byte, v int32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}
