package databridge

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// The Thrift binary protocol, hand-written over a byte buffer: the server's whole read loop and the
// client's calls use it, so the hot path never goes through an interface per value and never
// allocates per value.

// Thrift type ids.
const (
	tStop   = 0
	tBool   = 2
	tByte   = 3
	tDouble = 4
	tI16    = 6
	tI32    = 8
	tI64    = 10
	tString = 11
	tStruct = 12
	tMap    = 13
	tSet    = 14
	tList   = 15
)

// Message types.
const (
	msgCall      = 1
	msgReply     = 2
	msgException = 3
	msgOneway    = 4
)

const (
	version1    = 0x80010000
	versionMask = 0xffff0000
	maxDepth    = 32 // nesting allowed when skipping unknown fields
	maxName     = 256
)

// Errors of the byte layer. They are protocol errors: the connection that sent them is closed.
var (
	ErrFrameTooLarge = errors.New("databridge: frame or length exceeds the limit")
	ErrProtocol      = errors.New("databridge: protocol error")
)

// reader reads Thrift binary values from src through buf. Slices it returns point into buf and
// are valid until the next read. left is the budget of the current message: no read may pass it,
// so an absurd length is refused before anything is allocated for it.
type reader struct {
	src  io.Reader
	buf  []byte
	r, w int
	left int
	err  error // sticky
}

func newReader(src io.Reader, size int) *reader {
	return &reader{src: src, buf: make([]byte, size)}
}

// buffered is how many unread bytes are already in memory.
func (r *reader) buffered() int { return r.w - r.r }

// fill makes n bytes available at r.r, reading from src as needed.
func (r *reader) fill(n int) error {
	if r.err != nil {
		return r.err
	}
	if n > r.left || n < 0 {
		return r.fail(fmt.Errorf("%w: need %d bytes, %d left in the message", ErrFrameTooLarge, n, r.left))
	}
	if r.w-r.r >= n {
		return nil
	}
	if r.src == nil { // a fixed buffer (decoding a message held in memory): nothing more comes
		return r.fail(fmt.Errorf("%w: the message ends after %d bytes", io.ErrUnexpectedEOF, r.w-r.r))
	}
	if r.r+n > len(r.buf) {
		if n > len(r.buf) {
			nb := make([]byte, max(n, 2*len(r.buf)))
			r.w = copy(nb, r.buf[r.r:r.w])
			r.buf = nb
		} else {
			r.w = copy(r.buf, r.buf[r.r:r.w])
		}
		r.r = 0
	}
	for r.w-r.r < n {
		m, err := r.src.Read(r.buf[r.w:])
		r.w += m
		if err != nil {
			if r.w-r.r >= n {
				break
			}
			if errors.Is(err, io.EOF) && r.w-r.r > 0 {
				err = io.ErrUnexpectedEOF
			}
			return r.fail(err)
		}
	}
	return nil
}

func (r *reader) fail(err error) error {
	if r.err == nil {
		r.err = err
	}
	return r.err
}

func (r *reader) advance(n int) {
	r.r += n
	r.left -= n
}

func (r *reader) readByte() (byte, error) {
	if err := r.fill(1); err != nil {
		return 0, err
	}
	b := r.buf[r.r]
	r.advance(1)
	return b, nil
}

func (r *reader) readI16() (int16, error) {
	if err := r.fill(2); err != nil {
		return 0, err
	}
	v := int16(binary.BigEndian.Uint16(r.buf[r.r:]))
	r.advance(2)
	return v, nil
}

func (r *reader) readI32() (int32, error) {
	if err := r.fill(4); err != nil {
		return 0, err
	}
	v := int32(binary.BigEndian.Uint32(r.buf[r.r:]))
	r.advance(4)
	return v, nil
}

// readBytes reads a length-prefixed string; the slice is valid until the next read.
func (r *reader) readBytes() ([]byte, error) {
	n, err := r.readI32()
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, r.fail(fmt.Errorf("%w: negative string length %d", ErrProtocol, n))
	}
	if err := r.fill(int(n)); err != nil {
		return nil, err
	}
	b := r.buf[r.r : r.r+int(n)]
	r.advance(int(n))
	return b, nil
}

// readFieldBegin returns the type and id of the next field; type tStop ends the struct.
func (r *reader) readFieldBegin() (typ byte, id int16, err error) {
	if typ, err = r.readByte(); err != nil || typ == tStop {
		return typ, 0, err
	}
	id, err = r.readI16()
	return typ, id, err
}

// readListBegin reads a list (or set) header whose elements are of type want and of size elem
// bytes at least each, refusing counts the message budget cannot hold.
func (r *reader) readListBegin(want byte, elem int) (int, error) {
	if err := r.fill(5); err != nil {
		return 0, err
	}
	typ := r.buf[r.r]
	n := int32(binary.BigEndian.Uint32(r.buf[r.r+1:]))
	r.advance(5)
	if typ != want && n != 0 {
		return 0, r.fail(fmt.Errorf("%w: list of type %d, want %d", ErrProtocol, typ, want))
	}
	if n < 0 || int64(n)*int64(elem) > int64(r.left) {
		return 0, r.fail(fmt.Errorf("%w: list of %d elements", ErrFrameTooLarge, n))
	}
	return int(n), nil
}

// readMessageBegin reads a message header, strict (versioned) or lenient (old style).
func (r *reader) readMessageBegin() (name []byte, typ byte, seq int32, err error) {
	size, err := r.readI32()
	if err != nil {
		return nil, 0, 0, err
	}
	if size < 0 {
		if uint32(size)&versionMask != version1 {
			return nil, 0, 0, r.fail(fmt.Errorf("%w: bad version %#x", ErrProtocol, uint32(size)))
		}
		typ = byte(size)
		if name, err = r.readBytes(); err != nil {
			return nil, 0, 0, err
		}
	} else {
		if size > maxName {
			return nil, 0, 0, r.fail(fmt.Errorf("%w: method name of %d bytes", ErrProtocol, size))
		}
		if err := r.fill(int(size)); err != nil {
			return nil, 0, 0, err
		}
		name = r.buf[r.r : r.r+int(size)]
		r.advance(int(size))
		if typ, err = r.readByte(); err != nil {
			return nil, 0, 0, err
		}
	}
	if len(name) > maxName {
		return nil, 0, 0, r.fail(fmt.Errorf("%w: method name of %d bytes", ErrProtocol, len(name)))
	}
	seq, err = r.readI32()
	return name, typ, seq, err
}

// skip skips one value of type typ.
func (r *reader) skip(typ byte, depth int) error {
	if depth > maxDepth {
		return r.fail(fmt.Errorf("%w: nesting deeper than %d", ErrProtocol, maxDepth))
	}
	switch typ {
	case tBool, tByte:
		return r.skipN(1)
	case tI16:
		return r.skipN(2)
	case tI32:
		return r.skipN(4)
	case tI64, tDouble:
		return r.skipN(8)
	case tString:
		_, err := r.readBytes()
		return err
	case tStruct:
		for {
			ft, _, err := r.readFieldBegin()
			if err != nil {
				return err
			}
			if ft == tStop {
				return nil
			}
			if err := r.skip(ft, depth+1); err != nil {
				return err
			}
		}
	case tMap:
		if err := r.fill(6); err != nil {
			return err
		}
		kt, vt := r.buf[r.r], r.buf[r.r+1]
		n := int32(binary.BigEndian.Uint32(r.buf[r.r+2:]))
		r.advance(6)
		if n < 0 || int(n) > r.left {
			return r.fail(fmt.Errorf("%w: map of %d entries", ErrFrameTooLarge, n))
		}
		for range n {
			if err := r.skip(kt, depth+1); err != nil {
				return err
			}
			if err := r.skip(vt, depth+1); err != nil {
				return err
			}
		}
		return nil
	case tSet, tList:
		if err := r.fill(5); err != nil {
			return err
		}
		et := r.buf[r.r]
		n := int32(binary.BigEndian.Uint32(r.buf[r.r+1:]))
		r.advance(5)
		if n < 0 || int(n) > r.left {
			return r.fail(fmt.Errorf("%w: list of %d elements", ErrFrameTooLarge, n))
		}
		for range n {
			if err := r.skip(et, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return r.fail(fmt.Errorf("%w: unknown type %d", ErrProtocol, typ))
}

func (r *reader) skipN(n int) error {
	if err := r.fill(n); err != nil {
		return err
	}
	r.advance(n)
	return nil
}

// readStringFields reads a struct whose fields 1..len(out) are strings (the arguments of the
// control calls), skipping anything else. It allocates: control calls are rare.
func (r *reader) readStringFields(out []string) error {
	for {
		typ, id, err := r.readFieldBegin()
		if err != nil {
			return err
		}
		if typ == tStop {
			return nil
		}
		if typ == tString && id >= 1 && int(id) <= len(out) {
			b, err := r.readBytes()
			if err != nil {
				return err
			}
			out[id-1] = string(b)
			continue
		}
		if err := r.skip(typ, 0); err != nil {
			return err
		}
	}
}

// Appenders of the binary protocol, for replies and for the client.

func appendI16(b []byte, v int16) []byte { return binary.BigEndian.AppendUint16(b, uint16(v)) }
func appendI32(b []byte, v int32) []byte { return binary.BigEndian.AppendUint32(b, uint32(v)) }
func appendI64(b []byte, v int64) []byte { return binary.BigEndian.AppendUint64(b, uint64(v)) }
func appendDouble(b []byte, v float64) []byte {
	return binary.BigEndian.AppendUint64(b, math.Float64bits(v))
}

func appendString(b []byte, s string) []byte {
	b = appendI32(b, int32(len(s)))
	return append(b, s...)
}

func appendFieldBegin(b []byte, typ byte, id int16) []byte {
	return appendI16(append(b, typ), id)
}

func appendListBegin(b []byte, typ byte, n int) []byte {
	return appendI32(append(b, typ), int32(n))
}

// appendMessageBegin writes a strict (versioned) header, as every Thrift writer does by default.
func appendMessageBegin(b []byte, name string, typ byte, seq int32) []byte {
	b = appendI32(b, int32(uint32(version1)|uint32(typ)))
	b = appendString(b, name)
	return appendI32(b, seq)
}

func float64frombits(b uint64) float64 { return math.Float64frombits(b) }
