package model

import (
	"os"
	"testing"
)

func BenchmarkAppendSummary(b *testing.B) {
	s := sampleSummaries()[0]
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendSummary(buf[:0], s)
	}
}

func BenchmarkUnmarshalSummary(b *testing.B) {
	body, err := Marshal(sampleSummaries()[0])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Unmarshal(SummaryTopic, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalMemberActivated(b *testing.B) {
	body, err := os.ReadFile(eventGolden("topology.MemberActivatedEvent"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Unmarshal("topology/MemberActivatedEvent", body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalCompleteTopology(b *testing.B) {
	e := &CompleteTopologyEvent{Topology: sampleTopology()}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(e); err != nil {
			b.Fatal(err)
		}
	}
}
