package autoscaler

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// BenchmarkUndeployMembers is a cluster instance of n Active members going through an undeploy
// in the autoscaler: Terminating (every member to termination pending), the agents' answers in
// random order (each member to obsolete, 20 rounds meanwhile, as rounds come every Settle), then their
// terminations. It reports the time per member, which must not grow with n: moving a member
// between lists scanned and shifted the whole list (O(n) a move, O(n²) an undeploy).
func BenchmarkUndeployMembers(b *testing.B) {
	for _, n := range []int{10000, 40000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			runs := 0
			for b.Loop() {
				runs++
				b.StopTimer()
				s := newSim(b, buildSet(b, strings.ReplaceAll(scalingPolicies("round-robin", "enforce", ""), "partitionMax: 3", "partitionMax: 100000")), nil)
				register(b, s.a, 0, 2*n)
				ids := make([]string, n)
				for i := range ids {
					ids[i] = fmt.Sprintf("m%06d", i)
					s.a.HandleEvent(&model.MemberActivatedEvent{ClusterID: "app.php.php.domain", ClusterInstanceID: "php-1",
						NetworkPartitionID: "np1", PartitionID: "p1", MemberID: ids[i]})
				}
				rand.New(rand.NewPCG(1, 2)).Shuffle(n, func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
				now := s.clock.Now()
				round := func() {
					now = now.Add(time.Second)
					s.clock.Set(now)
					s.a.Evaluate(context.Background())
				}
				b.StartTimer()
				s.a.HandleEvent(&model.ClusterInstanceTerminatingEvent{ClusterID: "app.php.php.domain", AppID: "app", InstanceID: "php-1"})
				round()
				for i, id := range ids {
					s.a.HandleEvent(&model.MemberReadyToShutdownEvent{ClusterID: "app.php.php.domain", ClusterInstanceID: "php-1", MemberID: id})
					if i%(n/20) == 0 {
						round()
					}
				}
				round()
				for i, id := range ids {
					s.a.HandleEvent(&model.MemberTerminatedEvent{ClusterID: "app.php.php.domain", ClusterInstanceID: "php-1", MemberID: id})
					if i%(n/20) == 0 {
						round()
					}
				}
				b.StopTimer()
				if got := s.a.Stats().Members; got != 0 {
					b.Fatalf("%d members left", got)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*runs), "ns/member")
		})
	}
}
