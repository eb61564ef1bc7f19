package history

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// The spool is a FIFO of encoded batches on disk. It is a directory of segment files named by a
// sequence number (%020d.seg). Each record is
//
//	length uint32 LE | crc32c(payload) uint32 LE | payload
//
// Appends go to the last segment and are fsynced before append returns, so a batch the spool
// accepted survives a crash of the machine. A new segment starts when the last one passes
// segmentBytes. The read position (segment, offset) is kept in the file "head", written after each
// commit without fsync: after a crash the spool may hand out a batch again, and the ClickHouse
// writer verifies every replayed batch against the server before inserting it (see doc.go), so a
// repeat is harmless. A torn record at the end of the last segment (a crash during an append) is
// cut off when the spool opens.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const (
	recordHeader = 8
	segmentBytes = 16 << 20
	maxRecord    = 1 << 30
)

// errSpoolFull is returned by append when the record would take the spool past its limit.
var errSpoolFull = errors.New("history: spool full")

type spool struct {
	dir   string
	limit int64

	mu      sync.Mutex
	segs    []uint64 // sequence numbers of the segment files, oldest first
	sizes   []int64  // their sizes
	headOff int64    // read offset in segs[0]
	tail    *os.File // open for appending: segs[len-1]
	bytes   int64    // unread bytes: sum(sizes) - headOff
	corrupt int      // records skipped as corrupt since open
}

// openSpool opens (creating when needed) the spool in dir. Its unread size may exceed limit when
// limit was lowered since the last run; nothing is dropped then, only new appends are refused.
func openSpool(dir string, limit int64) (*spool, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create spool dir: %w", err)
	}
	s := &spool{dir: dir, limit: limit}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read spool dir: %w", err)
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".seg")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		s.segs = append(s.segs, n)
	}
	slices.Sort(s.segs)
	for _, n := range s.segs {
		fi, err := os.Stat(s.path(n))
		if err != nil {
			return nil, fmt.Errorf("stat spool segment: %w", err)
		}
		s.sizes = append(s.sizes, fi.Size())
	}
	if len(s.segs) > 0 {
		if err := s.repairTail(); err != nil {
			return nil, err
		}
		s.readHead()
	}
	for i, sz := range s.sizes {
		s.bytes += sz
		if i == 0 {
			s.bytes -= s.headOff
		}
	}
	return s, nil
}

func (s *spool) path(n uint64) string { return filepath.Join(s.dir, fmt.Sprintf("%020d.seg", n)) }

// repairTail cuts a torn or corrupt record off the end of the last segment.
func (s *spool) repairTail() error {
	i := len(s.segs) - 1
	f, err := os.OpenFile(s.path(s.segs[i]), os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open spool segment: %w", err)
	}
	defer f.Close()
	var off int64
	for off < s.sizes[i] {
		n, err := readRecordAt(f, off, s.sizes[i], nil)
		if err != nil {
			break
		}
		off += recordHeader + int64(n)
	}
	if off < s.sizes[i] {
		s.corrupt++
		if err := f.Truncate(off); err != nil {
			return fmt.Errorf("truncate torn spool segment: %w", err)
		}
		s.sizes[i] = off
	}
	return nil
}

// readHead loads the read position; a missing or stale head file means the start of the oldest
// segment.
func (s *spool) readHead() {
	b, err := os.ReadFile(filepath.Join(s.dir, "head"))
	if err != nil || len(b) != 16 {
		return
	}
	seg, off := binary.LittleEndian.Uint64(b), int64(binary.LittleEndian.Uint64(b[8:]))
	for len(s.segs) > 1 && s.segs[0] < seg {
		// Segments before the head were consumed but not yet removed.
		_ = os.Remove(s.path(s.segs[0]))
		s.segs, s.sizes = s.segs[1:], s.sizes[1:]
	}
	if s.segs[0] == seg && off >= 0 && off <= s.sizes[0] {
		s.headOff = off
	}
}

// readRecordAt reads the record at off in f (of size size) into buf (grown as needed) and returns
// the payload length; with buf nil it only validates.
func readRecordAt(f *os.File, off, size int64, buf *[]byte) (int, error) {
	var h [recordHeader]byte
	if off+recordHeader > size {
		return 0, io.ErrUnexpectedEOF
	}
	if _, err := f.ReadAt(h[:], off); err != nil {
		return 0, err
	}
	n := int64(binary.LittleEndian.Uint32(h[:4]))
	if n > maxRecord || off+recordHeader+n > size {
		return 0, io.ErrUnexpectedEOF
	}
	var p []byte
	if buf != nil {
		if int64(cap(*buf)) < n {
			*buf = make([]byte, n)
		}
		*buf = (*buf)[:n]
		p = *buf
	} else {
		p = make([]byte, n)
	}
	if _, err := f.ReadAt(p, off+recordHeader); err != nil {
		return 0, err
	}
	if crc32.Checksum(p, castagnoli) != binary.LittleEndian.Uint32(h[4:]) {
		return 0, errCorrupt
	}
	return int(n), nil
}

var errCorrupt = errors.New("history: corrupt spool record")

// Bytes is the unread size of the spool.
func (s *spool) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// append adds one record and fsyncs it. It returns errSpoolFull when the record does not fit.
func (s *spool) append(payload []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := int64(recordHeader + len(payload))
	if s.bytes+rec > s.limit {
		return errSpoolFull
	}
	if s.tail == nil || s.sizes[len(s.sizes)-1] >= segmentBytes {
		if err := s.rotate(); err != nil {
			return err
		}
	}
	var h [recordHeader]byte
	binary.LittleEndian.PutUint32(h[:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[4:], crc32.Checksum(payload, castagnoli))
	i := len(s.sizes) - 1
	// One write call for header and payload would need a copy; two writes are fine because a torn
	// record is cut off at open.
	if _, err := s.tail.WriteAt(h[:], s.sizes[i]); err != nil {
		return fmt.Errorf("write spool: %w", err)
	}
	if _, err := s.tail.WriteAt(payload, s.sizes[i]+recordHeader); err != nil {
		return fmt.Errorf("write spool: %w", err)
	}
	if err := s.tail.Sync(); err != nil {
		return fmt.Errorf("sync spool: %w", err)
	}
	s.sizes[i] += rec
	s.bytes += rec
	return nil
}

// rotate opens a new last segment (or reopens the existing last one after a restart).
func (s *spool) rotate() error {
	if s.tail == nil && len(s.segs) > 0 && s.sizes[len(s.sizes)-1] < segmentBytes {
		f, err := os.OpenFile(s.path(s.segs[len(s.segs)-1]), os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("open spool segment: %w", err)
		}
		s.tail = f
		return nil
	}
	if s.tail != nil {
		if err := s.tail.Close(); err != nil {
			return fmt.Errorf("close spool segment: %w", err)
		}
		s.tail = nil
	}
	var n uint64 = 1
	if len(s.segs) > 0 {
		n = s.segs[len(s.segs)-1] + 1
	}
	f, err := os.OpenFile(s.path(n), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("create spool segment: %w", err)
	}
	if d, err := os.Open(s.dir); err == nil {
		_ = d.Sync() // make the new name durable
		d.Close()
	}
	s.tail = f
	s.segs = append(s.segs, n)
	s.sizes = append(s.sizes, 0)
	return nil
}

// position names a record for commit.
type position struct {
	seg uint64
	off int64
	n   int64 // record size including the header
}

// peek returns the oldest unread record (copied into buf) and its position, or ok false when the
// spool is empty. A corrupt record makes peek skip the rest of its segment (counted in corrupt).
func (s *spool) peek(buf *[]byte) (payload []byte, pos position, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.segs) > 0 {
		if s.headOff >= s.sizes[0] {
			if len(s.segs) == 1 {
				return nil, position{}, false, nil
			}
			s.dropHeadSegment()
			continue
		}
		f, err := os.Open(s.path(s.segs[0]))
		if err != nil {
			return nil, position{}, false, fmt.Errorf("open spool segment: %w", err)
		}
		n, err := readRecordAt(f, s.headOff, s.sizes[0], buf)
		f.Close()
		if err != nil {
			// Unreadable: skip what is left of this segment.
			s.corrupt++
			s.bytes -= s.sizes[0] - s.headOff
			s.headOff = s.sizes[0]
			if len(s.segs) == 1 {
				// Keep appending after the bad bytes; they are behind the head now.
				return nil, position{}, false, nil
			}
			continue
		}
		return (*buf)[:n], position{seg: s.segs[0], off: s.headOff, n: recordHeader + int64(n)}, true, nil
	}
	return nil, position{}, false, nil
}

// peekMany returns copies of up to max records from the head of the spool and their positions,
// stopping after maxBytes, at the end of the head segment, or before an unreadable record (which a
// later peek deals with).
func (s *spool) peekMany(max int, maxBytes int64) ([][]byte, []position, error) {
	var buf []byte
	first, pos, ok, err := s.peek(&buf)
	if err != nil || !ok {
		return nil, nil, err
	}
	payloads, poss := [][]byte{first}, []position{pos}
	total := int64(len(first))
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.segs) == 0 || s.segs[0] != pos.seg {
		return payloads, poss, nil
	}
	f, err := os.Open(s.path(pos.seg))
	if err != nil {
		return payloads, poss, nil
	}
	defer f.Close()
	off := pos.off + pos.n
	for len(poss) < max && total < maxBytes && off < s.sizes[0] {
		var b []byte
		n, err := readRecordAt(f, off, s.sizes[0], &b)
		if err != nil {
			break
		}
		payloads = append(payloads, b)
		poss = append(poss, position{seg: pos.seg, off: off, n: recordHeader + int64(n)})
		total += int64(n)
		off += recordHeader + int64(n)
	}
	return payloads, poss, nil
}

// dropHeadSegment removes the fully read oldest segment (never the last one).
func (s *spool) dropHeadSegment() {
	_ = os.Remove(s.path(s.segs[0]))
	s.segs, s.sizes = s.segs[1:], s.sizes[1:]
	s.headOff = 0
}

// commit marks the record at pos as done.
func (s *spool) commit(pos position) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.segs) == 0 || s.segs[0] != pos.seg || s.headOff != pos.off {
		return nil // already skipped (corruption) or committed
	}
	s.headOff += pos.n
	s.bytes -= pos.n
	if s.headOff >= s.sizes[0] && len(s.segs) > 1 {
		s.dropHeadSegment()
	}
	return s.writeHead()
}

func (s *spool) writeHead() error {
	var b [16]byte
	if len(s.segs) > 0 {
		binary.LittleEndian.PutUint64(b[:], s.segs[0])
		binary.LittleEndian.PutUint64(b[8:], uint64(s.headOff))
	}
	tmp := filepath.Join(s.dir, "head.tmp")
	if err := os.WriteFile(tmp, b[:], 0o644); err != nil {
		return fmt.Errorf("write spool head: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, "head")); err != nil {
		return fmt.Errorf("write spool head: %w", err)
	}
	return nil
}

// Close closes the open segment.
func (s *spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tail == nil {
		return nil
	}
	err := s.tail.Close()
	s.tail = nil
	if err != nil && !errors.Is(err, fs.ErrClosed) {
		return fmt.Errorf("close spool: %w", err)
	}
	return nil
}
