package history

import (
	"fmt"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// BenchmarkMemoryAtLimit records member summaries into the embedded store once it is full (its
// steady state: every row in evicts the oldest), as the CEP does at every window end: 600 000
// summaries a minute at 100 000 members.
func BenchmarkMemoryAtLimit(b *testing.B) {
	m := NewMemory(Options{})
	ids := make([]string, 100_000)
	for i := range ids {
		ids[i] = fmt.Sprintf("app.php.php.domain%036d", i)
	}
	now := time.Now().UnixMilli()
	s := model.Summary{Kind: model.MemberAverageLoadAverage, ClusterID: "app.php.php.domain", ClusterInstanceID: "app-1",
		NetworkPartitionID: "np-1", Value: 20, Timestamp: now}
	i := 0
	for m.Stats().Evicted < 1_000_000 { // full, and past several compactions
		s.MemberID = ids[i%len(ids)]
		m.RecordSummary(s)
		i++
	}
	b.ReportAllocs()
	for b.Loop() {
		s.MemberID = ids[i%len(ids)]
		if !m.RecordSummary(s) {
			b.Fatal("refused")
		}
		i++
	}
}
