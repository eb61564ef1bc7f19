package model

import "strconv"

// decodeSummaryFast decodes the exact shape AppendSummary and the Stratos CEP write: one class
// key, {"message":{...}} and flat string values without escapes. It returns false for anything
// else (escapes, nulls, numbers, unknown or differently cased keys, extra keys, non-ASCII), and
// UnmarshalSummary then takes the general path, so both paths give the same result for what the
// fast one accepts.
func decodeSummaryFast(b []byte, s *Summary) bool {
	p := fastParser{b: b}
	class, ok := p.open()
	if !ok {
		return false
	}
	kind := kindOfBytes(class)
	if kind == 0 || !p.colon() || !p.byte('{') {
		return false
	}
	if key, ok := p.str(); !ok || string(key) != "message" || !p.colon() || !p.byte('{') {
		return false
	}
	*s = Summary{Kind: kind}
	if p.peek('}') {
		p.i++
	} else {
		for {
			key, ok := p.str()
			if !ok || !p.colon() {
				return false
			}
			val, ok := p.str()
			if !ok || !s.setField(key, val) {
				return false
			}
			if p.peek(',') {
				p.i++
				continue
			}
			if !p.byte('}') {
				return false
			}
			break
		}
	}
	if !p.byte('}') { // the event object
		return false
	}
	if !p.byte('}') { // the document
		return false
	}
	p.ws()
	return p.i == len(p.b)
}

func (s *Summary) setField(key, val []byte) bool {
	switch string(key) {
	case "clusterId":
		s.ClusterID = string(val)
	case "clusterInstanceId":
		s.ClusterInstanceID = string(val)
	case "networkPartitionId":
		s.NetworkPartitionID = string(val)
	case "memberId":
		s.MemberID = string(val)
	case "partitionId":
		s.PartitionID = string(val)
	case "value", "servedCount", "activeInstances":
		v, err := ParseFloat(string(val))
		if err != nil {
			return false
		}
		switch string(key) {
		case "value":
			s.Value = v
		case "servedCount":
			s.ServedCount = v
		default:
			s.ActiveInstances = v
		}
	case "timestamp":
		n, err := strconv.ParseInt(string(val), 10, 64)
		if err != nil {
			return false
		}
		s.Timestamp = n
	default:
		return false
	}
	return true
}

func kindOfBytes(class []byte) SummaryKind {
	c := class
	if len(c) > len(ClassPrefix) && string(c[:len(ClassPrefix)]) == ClassPrefix {
		c = c[len(ClassPrefix):]
	}
	for k := AverageLoadAverage; k < summaryKinds; k++ {
		if string(c) == summaryClasses[k] {
			return k
		}
	}
	return 0
}

type fastParser struct {
	b []byte
	i int
}

func (p *fastParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *fastParser) peek(c byte) bool {
	p.ws()
	return p.i < len(p.b) && p.b[p.i] == c
}

func (p *fastParser) byte(c byte) bool {
	if !p.peek(c) {
		return false
	}
	p.i++
	return true
}

func (p *fastParser) colon() bool { return p.byte(':') }

// open reads the opening brace and the class key.
func (p *fastParser) open() ([]byte, bool) {
	if !p.byte('{') {
		return nil, false
	}
	return p.str()
}

// str reads a JSON string made only of printable ASCII without escapes.
func (p *fastParser) str() ([]byte, bool) {
	if !p.byte('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return p.b[start : p.i-1], true
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return nil, false
		}
		p.i++
	}
	return nil, false
}
