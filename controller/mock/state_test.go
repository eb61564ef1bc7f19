package mock

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/model"
)

// memberPayload is the payload the controller gives a member of cluster: the pairs of `strata
// up`'s, all the same for the cluster's members but for the member's ids.
func memberPayload(cluster, memberID string) model.Payload {
	p := model.Payload{}
	for _, kv := range [][2]string{
		{"MB_URLS", "127.0.0.1:1883"}, {"MB_IP", "127.0.0.1"}, {"MB_PORT", "1883"}, {"CEP_URLS", "127.0.0.1:7711"},
		{"CEP_IP", "127.0.0.1"}, {"CEP_PORT", "7711"}, {"MB_USERNAME", "cluster-" + cluster}, {"MB_PASSWORD", "5f0c1d9e8a7b6c5d4e3f2a1b0c9d8e7f"},
		{"CEP_USERNAME", "cluster-" + cluster}, {"CEP_PASSWORD", "0a1b2c3d4e5f60718293a4b5c6d7e8f9"}, {model.PayloadApplicationID, "app1"},
		{"SERVICE_NAME", "php"}, {"HOST_NAME", "app1.php1.php.stratos.org"}, {"MULTITENANT", "false"}, {"TENANT_ID", "-1234"},
		{"TENANT_RANGE", "*"}, {"CARTRIDGE_ALIAS", "php1"}, {"CLUSTER_ID", cluster}, {"DEPLOYMENT", "default"}, {"PORTS", "8080|22"},
		{"PORT_MAPPINGS", "NAME:http-80|PROTOCOL:http|PORT:8080|PROXY_PORT:8280|TYPE:;NAME:http-22|PROTOCOL:tcp|PORT:22|PROXY_PORT:8222|TYPE:"},
		{"PROVIDER", "apache"}, {"MEMBER_ID", memberID}, {"INSTANCE_ID", memberID}, {"CLUSTER_INSTANCE_ID", "app1-1"},
		{"NETWORK_PARTITION_ID", "network-partition-1"}, {"PARTITION_ID", "partition-1"}, {"INTERNAL", "false"}, {"MIN_COUNT", "1"},
	} {
		p = append(p, model.Param{Key: kv[0], Value: kv[1]})
	}
	return p
}

// stateBytes is what the driver's buckets hold: keys and values.
func stateBytes(t *testing.T, db *bbolt.DB) int {
	t.Helper()
	n := 0
	if err := db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error { n += len(k) + len(v); return nil })
		})
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// maxStatePerInstance bounds the state an instance of a cluster of many costs the driver. A
// record with its whole payload was ~1.3 KB; every byte of the state ends up in the RSS (issue 17).
const maxStatePerInstance = 512

// TestStatePerInstance: the payload pairs a cluster's members share are stored once, a record
// holds the pairs of its own, and every member's payload reads back whole, before and after a
// restart. A base payload no record refers to any more is dropped when the state is loaded.
func TestStatePerInstance(t *testing.T) {
	const n = 300
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "mock.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d, err := New(Options{Bus: newFakeBus(), DB: db, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	const cluster = "app1.php1.php.domain"
	id := func(i int) string { return fmt.Sprintf("%s%08d-c916-49fe-800c-b455617788c1", cluster, i) }
	for i := range n {
		if _, err := d.Start(context.Background(), controller.Instance{MemberID: id(i), ClusterID: cluster, ClusterInstanceID: "app1-1",
			ServiceName: "php", NetworkPartitionID: "network-partition-1", PartitionID: "partition-1", Payload: memberPayload(cluster, id(i))}); err != nil {
			t.Fatal(err)
		}
	}
	// A member of another cluster, whose payload has other keys, and one whose payload is not
	// a launch-params line.
	other := append(memberPayload("app2.php1.php.domain", "m-other"), model.Param{Key: "EXTRA", Value: "1"})
	odd := model.Payload{{Key: "A", Value: "x,y"}}
	for id, p := range map[string]model.Payload{"m-other": other, "m-odd": odd} {
		if _, err := d.Start(context.Background(), controller.Instance{MemberID: id, ClusterID: "app2.php1.php.domain", ServiceName: "php", Payload: p}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("state: %d B per instance", stateBytes(t, db)/n)
	if got := stateBytes(t, db); got/n > maxStatePerInstance {
		t.Errorf("the state holds %d B for %d instances: %d B per instance, want <= %d", got, n+2, got/n, maxStatePerInstance)
	}
	check := func(d *Driver, when string, others bool) {
		t.Helper()
		for _, i := range []int{0, 1, n / 2, n - 1} {
			if p, ok := d.Payload(id(i)); !ok || p.String() != memberPayload(cluster, id(i)).String() {
				t.Errorf("payload of member %d %s: %q", i, when, p.String())
			}
		}
		if p, ok := d.Payload("m-other"); others && (!ok || p.String() != other.String()) {
			t.Errorf("payload of another cluster's member %s: %q", when, p.String())
		}
		if p, ok := d.Payload("m-odd"); !ok || p.String() != odd.String() {
			t.Errorf("payload that is not a line %s: %q", when, p.String())
		}
	}
	check(d, "", true)
	if err := d.Terminate(context.Background(), "m-other"); err != nil {
		t.Fatal(err)
	}
	d2, err := New(Options{Bus: newFakeBus(), DB: db, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	check(d2, "after a restart", false)
	if l, _ := d2.List(context.Background()); len(l) != n+1 || l[0].MemberID != l[0].InstanceID {
		t.Errorf("%d instances after a restart, want %d; first %+v", len(l), n+1, l[0])
	}
	if err := db.View(func(tx *bbolt.Tx) error {
		if got := tx.Bucket([]byte(bucketPayloads)).Stats().KeyN; got != 1 {
			t.Errorf("%d base payloads after a restart, want 1 (the other cluster's has no member left)", got)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
