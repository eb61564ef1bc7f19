package databridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// clientConn is one connection and its session; its Client's mutex guards it.
type clientConn struct {
	c       net.Conn
	ep      endpoint
	r       *reader
	out     []byte
	framed  bool
	max     int
	timeout time.Duration
	seq     int32
	sid     string
	defined map[string]bool
}

// result is a decoded reply: the success value (field 0) or a declared exception.
type result struct {
	str    string
	b      bool
	exc    int16 // result field id of the exception, 0 for none
	excMsg string
}

// call sends one request (args appends the argument fields) and reads its reply.
func (cc *clientConn) call(ctx context.Context, method string, args func([]byte) []byte) (result, error) {
	var res result
	deadline := time.Now().Add(cc.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	cc.c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { cc.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	cc.seq++
	b := cc.out[:0]
	if cc.framed {
		b = append(b, 0, 0, 0, 0)
	}
	b = appendMessageBegin(b, method, msgCall, cc.seq)
	b = args(b)
	b = append(b, tStop)
	if cc.framed {
		putI32(b, int32(len(b)-4))
	}
	cc.out = b
	if _, err := cc.c.Write(b); err != nil {
		return res, fmt.Errorf("%s: %w: %w", method, errConn, err)
	}
	r := cc.r
	r.err = nil
	r.left = cc.max
	if cc.framed {
		n, err := r.readI32()
		if err != nil {
			return res, fmt.Errorf("%s: %w: %w", method, errConn, err)
		}
		if n <= 0 || int(n) > cc.max {
			return res, fmt.Errorf("%s: %w: reply frame of %d bytes", method, ErrFrameTooLarge, n)
		}
		r.left = int(n)
	}
	name, typ, seq, err := r.readMessageBegin()
	if err != nil {
		return res, fmt.Errorf("%s: %w: %w", method, errConn, err)
	}
	if string(name) != method || seq != cc.seq {
		return res, fmt.Errorf("%s: %w: reply to %q seq %d", method, ErrProtocol, name, seq)
	}
	if typ == msgException {
		var f [1]string
		msg, err := readAppException(r, f[:])
		if err != nil {
			return res, fmt.Errorf("%s: %w: %w", method, errConn, err)
		}
		return res, fmt.Errorf("%s: %w: %s", method, ErrApplication, msg)
	}
	for {
		ft, id, err := r.readFieldBegin()
		if err != nil {
			return res, fmt.Errorf("%s: %w: %w", method, errConn, err)
		}
		if ft == tStop {
			break
		}
		switch {
		case id == 0 && ft == tString:
			bs, err := r.readBytes()
			if err != nil {
				return res, fmt.Errorf("%s: %w: %w", method, errConn, err)
			}
			res.str = string(bs)
		case id == 0 && ft == tBool:
			v, err := r.readByte()
			if err != nil {
				return res, fmt.Errorf("%s: %w: %w", method, errConn, err)
			}
			res.b = v != 0
		case id > 0 && ft == tStruct:
			var f [1]string
			if err := r.readStringFields(f[:]); err != nil {
				return res, fmt.Errorf("%s: %w: %w", method, errConn, err)
			}
			res.exc, res.excMsg = id, f[0]
		default:
			if err := r.skip(ft, 0); err != nil {
				return res, fmt.Errorf("%s: %w: %w", method, errConn, err)
			}
		}
	}
	if cc.framed && r.left > 0 {
		if err := r.skipN(r.left); err != nil {
			return res, fmt.Errorf("%s: %w: %w", method, errConn, err)
		}
	}
	return res, nil
}

// readAppException reads a TApplicationException struct and returns its message.
func readAppException(r *reader, f []string) (string, error) {
	var typ int32
	for {
		ft, id, err := r.readFieldBegin()
		if err != nil {
			return "", err
		}
		switch {
		case ft == tStop:
			return fmt.Sprintf("%s (type %d)", f[0], typ), nil
		case id == 1 && ft == tString:
			b, err := r.readBytes()
			if err != nil {
				return "", err
			}
			f[0] = string(b)
		case id == 2 && ft == tI32:
			if typ, err = r.readI32(); err != nil {
				return "", err
			}
		default:
			if err := r.skip(ft, 0); err != nil {
				return "", err
			}
		}
	}
}

func appendStringField(b []byte, id int16, s string) []byte {
	return appendString(appendFieldBegin(b, tString, id), s)
}

// exception maps a declared exception of method to its error.
func exception(method string, res result, byID map[int16]error) error {
	if res.exc == 0 {
		return nil
	}
	if e, ok := byID[res.exc]; ok {
		return fmt.Errorf("%s: %w: %s", method, e, res.excMsg)
	}
	return fmt.Errorf("%s: %w: exception %d: %s", method, ErrApplication, res.exc, res.excMsg)
}

var (
	connectExceptions = map[int16]error{1: ErrAuthentication}
	defineExceptions  = map[int16]error{1: ErrDifferentDefinition, 2: ErrMalformedDefinition, 3: ErrStreamDefinition, 4: ErrSessionExpired}
	publishExceptions = map[int16]error{1: ErrUndefinedStream, 2: ErrSessionExpired}
)

func (cc *clientConn) connectCall(ctx context.Context, user, password string) (string, error) {
	res, err := cc.call(ctx, "connect", func(b []byte) []byte {
		return appendStringField(appendStringField(b, 1, user), 2, password)
	})
	if err != nil {
		return "", err
	}
	if err := exception("connect", res, connectExceptions); err != nil {
		return "", err
	}
	return res.str, nil
}

func (cc *clientConn) define(ctx context.Context, def *StreamDefinition) (string, error) {
	text := def.String()
	res, err := cc.call(ctx, "defineStream", func(b []byte) []byte {
		return appendStringField(appendStringField(b, 1, cc.sid), 2, text)
	})
	if err != nil {
		return "", err
	}
	if err := exception("defineStream", res, defineExceptions); err != nil {
		return "", fmt.Errorf("define %s: %w", def.ID, err)
	}
	cc.defined[def.ID] = true
	return res.str, nil
}

func (cc *clientConn) publish(ctx context.Context, events []Event) error {
	res, err := cc.call(ctx, "publish", func(b []byte) []byte {
		return appendBundleArgs(b, cc.sid, events)
	})
	if err != nil {
		return err
	}
	if err := exception("publish", res, publishExceptions); err != nil {
		if errors.Is(err, ErrUndefinedStream) {
			clear(cc.defined) // the receiver forgot them: define again on the next call
		}
		return err
	}
	return nil
}

// appendBundleArgs appends publish's argument field 1, a ThriftEventBundle packed as in §2.3:
// per event, the stream id to the strings and the timestamp to the longs, then its attributes to
// the list of their type.
func appendBundleArgs(b []byte, sid string, events []Event) []byte {
	b = appendFieldBegin(b, tStruct, 1)
	b = appendStringField(b, 1, sid)
	b = appendFieldBegin(b, tI32, 2)
	b = appendI32(b, int32(len(events)))
	var ni, nl, nd, nb, ns int
	arb := false
	for i := range events {
		e := &events[i]
		ni += len(e.Ints)
		nl += 1 + len(e.Longs)
		nd += len(e.Doubles)
		nb += len(e.Bools)
		ns += 1 + len(e.Strings)
		arb = arb || e.Arbitrary != nil
	}
	if ni > 0 {
		b = appendListBegin(appendFieldBegin(b, tList, 3), tI32, ni)
		for i := range events {
			for _, v := range events[i].Ints {
				b = appendI32(b, v)
			}
		}
	}
	b = appendListBegin(appendFieldBegin(b, tList, 4), tI64, nl)
	for i := range events {
		b = appendI64(b, events[i].Timestamp)
		for _, v := range events[i].Longs {
			b = appendI64(b, v)
		}
	}
	if nd > 0 {
		b = appendListBegin(appendFieldBegin(b, tList, 5), tDouble, nd)
		for i := range events {
			for _, v := range events[i].Doubles {
				b = appendDouble(b, v)
			}
		}
	}
	if nb > 0 {
		b = appendListBegin(appendFieldBegin(b, tList, 6), tBool, nb)
		for i := range events {
			for _, v := range events[i].Bools {
				if v {
					b = append(b, 1)
				} else {
					b = append(b, 0)
				}
			}
		}
	}
	b = appendListBegin(appendFieldBegin(b, tList, 7), tString, ns)
	for i := range events {
		b = appendString(b, events[i].Stream.ID)
		for _, v := range events[i].Strings {
			b = appendString(b, v)
		}
	}
	if arb {
		n := 0
		for i := range events {
			if events[i].Arbitrary != nil {
				n++
			}
		}
		b = appendFieldBegin(b, tMap, 8)
		b = append(b, tI32, tMap)
		b = appendI32(b, int32(n))
		for i := range events {
			m := events[i].Arbitrary
			if m == nil {
				continue
			}
			b = appendI32(b, int32(i))
			b = append(b, tString, tString)
			b = appendI32(b, int32(len(m)))
			for k, v := range m {
				b = appendString(appendString(b, k), v)
			}
		}
	}
	return append(b, tStop)
}
