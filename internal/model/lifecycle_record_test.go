package model

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLifecycleOf(t *testing.T) {
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		e    Event
		want LifecycleRecord
		ok   bool
	}{
		{
			name: "member activated (value)",
			e: MemberActivatedEvent{ServiceName: "php", ClusterID: "c1", ClusterInstanceID: "app-1",
				MemberID: "m1", NetworkPartitionID: "np", PartitionID: "p", ApplicationID: "app"},
			want: LifecycleRecord{Time: at, Entity: "member", Event: "topology.MemberActivatedEvent",
				ServiceName: "php", ApplicationID: "app", ClusterID: "c1", ClusterInstanceID: "app-1",
				NetworkPartitionID: "np", PartitionID: "p", MemberID: "m1", Status: "Active"},
			ok: true,
		},
		{
			name: "member ready to shutdown",
			e:    &MemberReadyToShutdownEvent{ServiceName: "php", ClusterID: "c1", MemberID: "m1"},
			want: LifecycleRecord{Time: at, Entity: "member", Event: "topology.MemberReadyToShutdownEvent",
				ServiceName: "php", ClusterID: "c1", MemberID: "m1", Status: "ReadyToShutDown"},
			ok: true,
		},
		{
			name: "cluster instance created",
			e: &ClusterInstanceCreatedEvent{ServiceName: "php", ClusterID: "c1", NetworkPartitionID: "np",
				ClusterInstance: &ClusterInstance{InstanceID: "app-1"}},
			want: LifecycleRecord{Time: at, Entity: "cluster_instance", Event: "topology.ClusterInstanceCreatedEvent",
				ServiceName: "php", ClusterID: "c1", ClusterInstanceID: "app-1", NetworkPartitionID: "np", Status: "Created"},
			ok: true,
		},
		{
			name: "cluster instance inactivate",
			e:    &ClusterInstanceInactivateEvent{ServiceName: "php", ClusterID: "c1", AppID: "app", InstanceID: "app-1"},
			want: LifecycleRecord{Time: at, Entity: "cluster_instance", Event: "topology.ClusterInstanceInactivateEvent",
				ServiceName: "php", ApplicationID: "app", ClusterID: "c1", ClusterInstanceID: "app-1", Status: "Inactive"},
			ok: true,
		},
		{
			name: "application instance terminated",
			e:    &ApplicationInstanceTerminatedEvent{AppID: "app", InstanceID: "app-1"},
			want: LifecycleRecord{Time: at, Entity: "application", Event: "application.ApplicationInstanceTerminatedEvent",
				ApplicationID: "app", InstanceID: "app-1", Status: "Terminated"},
			ok: true,
		},
		{
			name: "group instance activated",
			e:    GroupInstanceActivatedEvent{GroupID: "g1", AppID: "app", InstanceID: "g1-1"},
			want: LifecycleRecord{Time: at, Entity: "group", Event: "application.GroupInstanceActivatedEvent",
				ApplicationID: "app", GroupID: "g1", InstanceID: "g1-1", Status: "Active"},
			ok: true,
		},
		{name: "service created", e: &ServiceCreatedEvent{ServiceName: "php"}},
		{name: "summary", e: Summary{Kind: AverageLoadAverage}},
		{name: "cluster status request", e: &ClusterStatusClusterActivatedEvent{ClusterID: "c1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := LifecycleOf(tt.e, at)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	// Every lifecycle event of the samples gives a record whose status is a valid state.
	for _, e := range sampleEvents() {
		if r, ok := LifecycleOf(e, at); ok && r.Status == "" {
			t.Errorf("%s: record without a status", e.EventClass())
		}
	}
}
