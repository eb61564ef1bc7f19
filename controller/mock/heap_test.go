package mock

import (
	"context"
	"runtime"
	"testing"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// maxInstanceHeap bounds the live heap a running instance costs the driver (issue 17: ~450 B an
// instance at 100 000, the record of its start kept whole).
const maxInstanceHeap = 260

// TestInstanceHeap: 20 000 instances of one cluster, started as the controller starts them (its
// ids and payload, which the controller keeps anyway), cost the driver at most maxInstanceHeap
// bytes of live heap each, their health schedule included.
func TestInstanceHeap(t *testing.T) {
	const n = 20000
	d, err := New(Options{Bus: newFakeBus(), Clock: newFakeClock(), Logger: discard,
		Publish: func(context.Context, []model.HealthSample) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	const clusterID = "app1.php.domain"
	payload := model.Payload{{Key: model.PayloadApplicationID, Value: "app1"}}
	ins := make([]controller.Instance, n)
	for i := range ins {
		ins[i] = controller.Instance{MemberID: model.NewMemberID(clusterID), ClusterID: clusterID, ClusterInstanceID: "app1-1",
			ServiceName: "php", NetworkPartitionID: "np1", PartitionID: "p1", Payload: payload}
	}
	before := testenv.LiveHeap()
	for _, in := range ins {
		if _, err := d.Start(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	after := testenv.LiveHeap()
	runtime.KeepAlive(ins)
	if got := d.Stats().Instances; got != n {
		t.Fatalf("%d instances, want %d", got, n)
	}
	per := (after - before) / n
	t.Logf("%d B of live heap an instance", per)
	if per > maxInstanceHeap {
		t.Errorf("%d B of live heap an instance, want at most %d", per, maxInstanceHeap)
	}
}
