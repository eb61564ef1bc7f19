package model

import (
	"reflect"
	"time"
)

// LifecycleOf turns a lifecycle event into the record history keeps: the member, cluster instance,
// application instance or group instance it concerns and the state it entered. It reports false
// for events that announce no lifecycle transition (for example ServiceCreatedEvent or the
// cluster/status requests, which the cloud controller turns into topology events).
func LifecycleOf(e Event, at time.Time) (LifecycleRecord, bool) {
	r := LifecycleRecord{Time: at, Event: e.EventClass()}
	member := func(service, cluster, instance, np, partition, member string, s MemberStatus) {
		r.Entity, r.ServiceName, r.ClusterID, r.ClusterInstanceID = "member", service, cluster, instance
		r.NetworkPartitionID, r.PartitionID, r.MemberID, r.Status = np, partition, member, string(s)
	}
	clusterInstance := func(service, cluster, app, instance string, s ClusterStatus) {
		r.Entity, r.ServiceName, r.ClusterID = "cluster_instance", service, cluster
		r.ApplicationID, r.ClusterInstanceID, r.Status = app, instance, string(s)
	}
	app := func(appID, instance string, s ApplicationStatus) {
		r.Entity, r.ApplicationID, r.InstanceID, r.Status = "application", appID, instance, string(s)
	}
	group := func(groupID, appID, instance string, s GroupStatus) {
		r.Entity, r.GroupID, r.ApplicationID, r.InstanceID, r.Status = "group", groupID, appID, instance, string(s)
	}
	switch e := pointerTo(e).(type) {
	case *MemberCreatedEvent:
		member(e.ServiceName, e.ClusterID, e.ClusterInstanceID, e.NetworkPartitionID, e.PartitionID, e.MemberID, MemberCreated)
	case *MemberInitializedEvent:
		member(e.ServiceName, e.ClusterID, e.ClusterInstanceID, e.NetworkPartitionID, e.PartitionID, e.MemberID, MemberInitialized)
	case *MemberStartedEvent:
		member(e.ServiceName, e.ClusterID, e.ClusterInstanceID, e.NetworkPartitionID, e.PartitionID, e.MemberID, MemberStarting)
	case *MemberActivatedEvent:
		member(e.ServiceName, e.ClusterID, e.ClusterInstanceID, e.NetworkPartitionID, e.PartitionID, e.MemberID, MemberActive)
		r.ApplicationID = e.ApplicationID
	case *MemberMaintenanceModeEvent:
		member(e.ServiceName, e.ClusterID, e.ClusterInstanceID, e.NetworkPartitionID, e.PartitionID, e.MemberID, MemberInMaintenance)
	case *MemberReadyToShutdownEvent:
		member(e.ServiceName, e.ClusterID, e.ClusterInstanceID, e.NetworkPartitionID, e.PartitionID, e.MemberID, MemberReadyToShutDown)
	case *MemberSuspendedEvent:
		member(e.ServiceName, e.ClusterID, "", e.NetworkPartitionID, e.PartitionID, e.MemberID, MemberSuspended)
	case *MemberTerminatedEvent:
		member(e.ServiceName, e.ClusterID, e.ClusterInstanceID, e.NetworkPartitionID, e.PartitionID, e.MemberID, MemberTerminated)
	case *ClusterInstanceCreatedEvent:
		id := ""
		if e.ClusterInstance != nil {
			id = e.ClusterInstance.InstanceID
		}
		clusterInstance(e.ServiceName, e.ClusterID, "", id, ClusterCreated)
		r.NetworkPartitionID, r.PartitionID = e.NetworkPartitionID, e.PartitionID
	case *ClusterInstanceActivatedEvent:
		clusterInstance(e.ServiceName, e.ClusterID, e.AppID, e.InstanceID, ClusterActive)
	case *ClusterInstanceInactivateEvent:
		clusterInstance(e.ServiceName, e.ClusterID, e.AppID, e.InstanceID, ClusterInactive)
	case *ClusterInstanceTerminatingEvent:
		clusterInstance(e.ServiceName, e.ClusterID, e.AppID, e.InstanceID, ClusterTerminating)
	case *ClusterInstanceTerminatedEvent:
		clusterInstance(e.ServiceName, e.ClusterID, e.AppID, e.InstanceID, ClusterTerminated)
	case *ClusterResetEvent:
		clusterInstance(e.ServiceName, e.ClusterID, e.AppID, e.InstanceID, ClusterCreated)
	case *ApplicationInstanceCreatedEvent:
		id := ""
		if e.ApplicationInstance != nil {
			id = e.ApplicationInstance.InstanceID
			r.NetworkPartitionID = e.ApplicationInstance.NetworkPartitionID
		}
		app(e.ApplicationID, id, ApplicationCreated)
	case *ApplicationInstanceActivatedEvent:
		app(e.AppID, e.InstanceID, ApplicationActive)
	case *ApplicationInstanceInactivatedEvent:
		app(e.AppID, e.InstanceID, ApplicationInactive)
	case *ApplicationInstanceTerminatingEvent:
		app(e.AppID, e.InstanceID, ApplicationTerminating)
	case *ApplicationInstanceTerminatedEvent:
		app(e.AppID, e.InstanceID, ApplicationTerminated)
	case *GroupInstanceCreatedEvent:
		id := ""
		if e.GroupInstance != nil {
			id = e.GroupInstance.InstanceID
			r.NetworkPartitionID = e.GroupInstance.NetworkPartitionID
		}
		group(e.GroupID, e.AppID, id, GroupCreated)
	case *GroupInstanceActivatedEvent:
		group(e.GroupID, e.AppID, e.InstanceID, GroupActive)
	case *GroupInstanceInactivatedEvent:
		group(e.GroupID, e.AppID, e.InstanceID, GroupInactive)
	case *GroupInstanceTerminatingEvent:
		group(e.GroupID, e.AppID, e.InstanceID, GroupTerminating)
	case *GroupInstanceTerminatedEvent:
		group(e.GroupID, e.AppID, e.InstanceID, GroupTerminated)
	default:
		return LifecycleRecord{}, false
	}
	return r, true
}

// pointerTo returns a pointer to the event when it was passed by value, so that one type switch
// on pointer types serves both forms.
func pointerTo(e Event) Event {
	v := reflect.ValueOf(e)
	if !v.IsValid() || v.Kind() == reflect.Pointer {
		return e
	}
	p := reflect.New(v.Type())
	p.Elem().Set(v)
	if pe, ok := p.Interface().(Event); ok {
		return pe
	}
	return e
}
