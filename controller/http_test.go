package controller_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/model"
)

func TestHTTPAPI(t *testing.T) {
	e := newEnv(t)
	e.opts.Drivers["mock"] = &stuckDriver{}
	c, _ := runController(t, e.opts)
	srv := httptest.NewServer(http.StripPrefix("/controller", c.Handler()))
	defer srv.Close()
	post := func(path, file string) int {
		t.Helper()
		f, err := os.Open(filepath.Join("..", "internal", "model", "testdata", "cartridge-samples", file))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		resp, err := http.Post(srv.URL+"/controller"+path, "application/json", f)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// The Stratos sample files, posted as they are.
	if s := post("/cartridges", "cartridges__mock__php.json"); s != http.StatusCreated {
		t.Fatalf("POST cartridge: %d", s)
	}
	if s := post("/cartridges", "cartridges__mock__php.json"); s != http.StatusConflict {
		t.Errorf("POST the cartridge again: %d", s)
	}
	if s := post("/network-partitions", "network-partitions__mock__network-partition-1.json"); s != http.StatusCreated {
		t.Fatalf("POST network partition: %d", s)
	}
	resp, err := http.Post(srv.URL+"/controller/cartridges", "application/json",
		strings.NewReader(`{"type":"bad","portMapping":[{"protocol":"http","port":"70000"}],"iaasProvider":[{"type":"mock"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("POST a bad cartridge: %d", resp.StatusCode)
	}

	cl, err := controller.NewClient(srv.URL+"/controller", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := cl.CreateCluster(ctx, phpSpec); err != nil {
		t.Fatal(err)
	}
	if err := cl.CreateCluster(ctx, phpSpec); !errors.Is(err, controller.ErrExists) {
		t.Errorf("second create: %v", err)
	}
	bad := startReq
	bad.PartitionID = "nope"
	if _, err := cl.StartMember(ctx, bad); !errors.Is(err, controller.ErrNotFound) || !strings.Contains(err.Error(), `partition "nope"`) {
		t.Errorf("start in an unknown partition: %v", err)
	}
	m, err := cl.StartMember(ctx, startReq)
	if err != nil {
		t.Fatal(err)
	}
	got, err := cl.Member(ctx, m.MemberID)
	if err != nil || got.Status() != model.MemberInitialized || got.DefaultPrivateIP != "192.0.2.1" {
		t.Errorf("member: %+v, %v", got, err)
	}
	topo, err := cl.Topology(ctx)
	if err != nil || topo.ServiceMap["php"].ClusterIDClusterMap[clusterID].MemberMap[m.MemberID] == nil {
		t.Errorf("topology: %+v, %v", topo, err)
	}
	if err := cl.TerminateMember(ctx, m.MemberID, false); err != nil { // not Active: terminated at once
		t.Fatal(err)
	}
	if _, err := cl.Member(ctx, m.MemberID); !errors.Is(err, controller.ErrNotFound) {
		t.Errorf("terminated member: %v", err)
	}
	if err := cl.RemoveCluster(ctx, clusterID); err != nil {
		t.Fatal(err)
	}

	// An application's clusters, created and removed together.
	a, b := phpSpec, phpSpec
	a.ClusterID, a.AppID, a.Alias = model.ClusterID("app2", "web", "php"), "", "web"
	b.ClusterID, b.AppID, b.Alias = model.ClusterID("app2", "api", "php"), "", "api"
	if err := cl.CreateApplicationClusters(ctx, "app2", []controller.ClusterSpec{a, b}); err != nil {
		t.Fatal(err)
	}
	r := startReq
	r.ClusterID = b.ClusterID
	if _, err := cl.StartMember(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := cl.RemoveApplicationClusters(ctx, "app2"); err != nil {
		t.Fatal(err)
	}
	if err := cl.RemoveApplicationClusters(ctx, "app2"); !errors.Is(err, controller.ErrNotFound) {
		t.Errorf("second removal: %v", err)
	}
	evs := e.watch.until(t, "ApplicationClustersRemoved", func(evs []model.Event) bool {
		for _, ev := range evs {
			if _, ok := ev.(*model.ApplicationClustersRemovedEvent); ok {
				return true
			}
		}
		return false
	})
	var created, removed int
	for _, ev := range evs {
		switch ev := ev.(type) {
		case *model.ApplicationClustersCreatedEvent:
			created = len(ev.ClusterList)
		case *model.ApplicationClustersRemovedEvent:
			removed = len(ev.ClusterData)
		}
	}
	if created != 2 || removed != 2 {
		t.Errorf("application clusters created %d, removed %d; want 2 and 2", created, removed)
	}
}
