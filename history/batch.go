package history

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// table names one kind of record and its ClickHouse table.
type table uint8

const (
	tHealth table = iota
	tSummaries
	tLogs
	tLifecycle
	tDecisions
	numTables
)

var tableNames = [numTables]string{"health", "summaries", "logs", "lifecycle", "decisions"}

func (t table) String() string {
	if t < numTables {
		return tableNames[t]
	}
	return "unknown"
}

// batch is a run of records of one table with an id unique across restarts. Row i of a batch has
// the idempotent key (id, i): it is stored with every row as batch_id and seq.
//
// Records in a batch are already checked and normalized (see rules.go): timestamps are set and in
// milliseconds, strings are valid UTF-8 and within their limits.
type batch struct {
	table     table
	id        uint64
	health    []model.HealthSample
	summaries []model.Summary
	logs      []model.LogEntry
	lifecycle []model.LifecycleRecord
	decisions []model.Decision

	// ids and seqs, when not nil, are the keys of the rows (see key).
	ids  []uint64
	seqs []uint32

	spooled bool // left memory (spooled, or its rows accounted as gone from the queue)
}

func (b *batch) len() int {
	switch b.table {
	case tHealth:
		return len(b.health)
	case tSummaries:
		return len(b.summaries)
	case tLogs:
		return len(b.logs)
	case tLifecycle:
		return len(b.lifecycle)
	case tDecisions:
		return len(b.decisions)
	}
	return 0
}

// tsAt is the timestamp (ms) of row i.
func (b *batch) tsAt(i int) int64 {
	switch b.table {
	case tHealth:
		return b.health[i].Timestamp
	case tSummaries:
		return b.summaries[i].Timestamp
	case tLogs:
		return b.logs[i].Timestamp
	case tLifecycle:
		return b.lifecycle[i].Time.UnixMilli()
	case tDecisions:
		return b.decisions[i].Time.UnixMilli()
	}
	return 0
}

// key is the idempotent key of row i: (batch id, index in that batch). A merged or filtered batch
// carries the keys of its rows in ids and seqs.
func (b *batch) key(i int) (uint64, uint32) {
	if b.ids != nil {
		return b.ids[i], b.seqs[i]
	}
	return b.id, uint32(i)
}

// appendRow appends row i of src to b, with its key.
func (b *batch) appendRow(src *batch, i int) {
	id, seq := src.key(i)
	b.ids = append(b.ids, id)
	b.seqs = append(b.seqs, seq)
	switch src.table {
	case tHealth:
		b.health = append(b.health, src.health[i])
	case tSummaries:
		b.summaries = append(b.summaries, src.summaries[i])
	case tLogs:
		b.logs = append(b.logs, src.logs[i])
	case tLifecycle:
		b.lifecycle = append(b.lifecycle, src.lifecycle[i])
	case tDecisions:
		b.decisions = append(b.decisions, src.decisions[i])
	}
}

// keep returns a batch holding only the rows for which want(i) is true, with their keys. It is
// used to insert the missing part of a partly inserted batch.
func (b *batch) keep(want func(i int) bool) *batch {
	nb := &batch{table: b.table, id: b.id, spooled: b.spooled, ids: []uint64{}, seqs: []uint32{}}
	for i := range b.len() {
		if want(i) {
			nb.appendRow(b, i)
		}
	}
	return nb
}

// merge concatenates batches of one table, keeping each row's key. The result's id is the first
// batch's (it names the insert's query id).
func merge(bs []*batch) *batch {
	if len(bs) == 1 {
		return bs[0]
	}
	nb := &batch{table: bs[0].table, id: bs[0].id, spooled: true}
	for _, b := range bs {
		for i := range b.len() {
			nb.appendRow(b, i)
		}
	}
	return nb
}

// Encoding of a batch in the spool:
//
//	version u8 (1) | table u8 | batch id u64 LE | rows uvarint | rows...
//
// Strings are uvarint length + bytes, floats 8 bytes LE, integers varints, times ms varints.
const codecVersion = 1

var errDecode = errors.New("history: bad spooled batch")

func encodeBatch(dst []byte, b *batch) []byte {
	dst = append(dst, codecVersion, byte(b.table))
	dst = binary.LittleEndian.AppendUint64(dst, b.id)
	dst = binary.AppendUvarint(dst, uint64(b.len()))
	str := func(s string) {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	f64 := func(f float64) { dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(f)) }
	i64 := func(v int64) { dst = binary.AppendVarint(dst, v) }
	switch b.table {
	case tHealth:
		for _, r := range b.health {
			str(r.ClusterID)
			str(r.ClusterInstanceID)
			str(r.NetworkPartitionID)
			str(r.MemberID)
			str(r.PartitionID)
			str(r.Metric)
			f64(r.Value)
			i64(r.Timestamp)
		}
	case tSummaries:
		for _, r := range b.summaries {
			dst = append(dst, byte(r.Kind))
			str(r.ClusterID)
			str(r.ClusterInstanceID)
			str(r.NetworkPartitionID)
			str(r.MemberID)
			str(r.PartitionID)
			f64(r.Value)
			f64(r.ServedCount)
			f64(r.ActiveInstances)
			i64(r.Timestamp)
		}
	case tLogs:
		for _, r := range b.logs {
			for _, s := range [...]string{r.Stream, r.MemberID, r.TenantID, r.ServerName, r.AppName, r.LogTime,
				r.Priority, r.Message, r.Logger, r.IP, r.Instance, r.Stacktrace} {
				str(s)
			}
			i64(r.Timestamp)
		}
	case tLifecycle:
		for _, r := range b.lifecycle {
			i64(r.Time.UnixMilli())
			for _, s := range [...]string{r.Entity, r.Event, r.ServiceName, r.ApplicationID, r.ClusterID,
				r.ClusterInstanceID, r.NetworkPartitionID, r.PartitionID, r.MemberID, r.Status} {
				str(s)
			}
		}
	case tDecisions:
		for _, r := range b.decisions {
			i64(r.Time.UnixMilli())
			for _, s := range [...]string{r.ID, r.ClusterID, r.ClusterInstanceID, r.NetworkPartitionID, r.Policy,
				r.Mode, r.Action, r.Reason, string(r.Trace)} {
				str(s)
			}
			for _, v := range [...]int{r.Active, r.NonTerminated, r.Required, r.Delta} {
				i64(int64(v))
			}
		}
	}
	return dst
}

// decoder reads the encoding above; the first error sticks.
type decoder struct {
	p   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errDecode
	}
	d.p = nil
}

func (d *decoder) u8() byte {
	if len(d.p) < 1 {
		d.fail()
		return 0
	}
	v := d.p[0]
	d.p = d.p[1:]
	return v
}

func (d *decoder) u64() uint64 {
	if len(d.p) < 8 {
		d.fail()
		return 0
	}
	v := binary.LittleEndian.Uint64(d.p)
	d.p = d.p[8:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.p)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.p)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if n > uint64(len(d.p)) {
		d.fail()
		return ""
	}
	s := string(d.p[:n])
	d.p = d.p[n:]
	return s
}

func (d *decoder) f64() float64 { return math.Float64frombits(d.u64()) }

func (d *decoder) int() int {
	v := d.varint()
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.fail()
		return 0
	}
	return int(v)
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// decodeBatch parses a spooled batch. It never panics on bad input.
func decodeBatch(p []byte) (*batch, error) {
	d := &decoder{p: p}
	if d.u8() != codecVersion {
		return nil, fmt.Errorf("%w: version", errDecode)
	}
	b := &batch{table: table(d.u8()), id: d.u64(), spooled: true}
	if b.table >= numTables {
		return nil, fmt.Errorf("%w: table %d", errDecode, b.table)
	}
	n := d.uvarint()
	// Every row takes at least one byte per field: refuse counts the payload cannot hold, so a
	// bad count cannot make us allocate.
	if n > uint64(len(d.p)) {
		return nil, fmt.Errorf("%w: row count", errDecode)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		switch b.table {
		case tHealth:
			b.health = append(b.health, model.HealthSample{
				ClusterID: d.str(), ClusterInstanceID: d.str(), NetworkPartitionID: d.str(),
				MemberID: d.str(), PartitionID: d.str(), Metric: d.str(), Value: d.f64(), Timestamp: d.varint(),
			})
		case tSummaries:
			b.summaries = append(b.summaries, model.Summary{
				Kind: model.SummaryKind(d.u8()), ClusterID: d.str(), ClusterInstanceID: d.str(),
				NetworkPartitionID: d.str(), MemberID: d.str(), PartitionID: d.str(),
				Value: d.f64(), ServedCount: d.f64(), ActiveInstances: d.f64(), Timestamp: d.varint(),
			})
		case tLogs:
			b.logs = append(b.logs, model.LogEntry{
				Stream: d.str(), MemberID: d.str(), TenantID: d.str(), ServerName: d.str(), AppName: d.str(),
				LogTime: d.str(), Priority: d.str(), Message: d.str(), Logger: d.str(), IP: d.str(),
				Instance: d.str(), Stacktrace: d.str(), Timestamp: d.varint(),
			})
		case tLifecycle:
			b.lifecycle = append(b.lifecycle, model.LifecycleRecord{
				Time: msTime(d.varint()), Entity: d.str(), Event: d.str(), ServiceName: d.str(),
				ApplicationID: d.str(), ClusterID: d.str(), ClusterInstanceID: d.str(),
				NetworkPartitionID: d.str(), PartitionID: d.str(), MemberID: d.str(), Status: d.str(),
			})
		case tDecisions:
			r := model.Decision{
				Time: msTime(d.varint()), ID: d.str(), ClusterID: d.str(), ClusterInstanceID: d.str(),
				NetworkPartitionID: d.str(), Policy: d.str(), Mode: d.str(), Action: d.str(), Reason: d.str(),
			}
			if t := d.str(); t != "" {
				r.Trace = []byte(t)
			}
			r.Active, r.NonTerminated, r.Required, r.Delta = d.int(), d.int(), d.int(), d.int()
			b.decisions = append(b.decisions, r)
		}
	}
	if d.err == nil && len(d.p) != 0 {
		d.err = errDecode
	}
	if d.err != nil {
		return nil, fmt.Errorf("decode %s batch: %w", b.table, d.err)
	}
	return b, nil
}

// Short names for the row types in column code.
type (
	healthRow    = model.HealthSample
	summaryRow   = model.Summary
	logRow       = model.LogEntry
	lifecycleRow = model.LifecycleRecord
	decisionRow  = model.Decision
)
