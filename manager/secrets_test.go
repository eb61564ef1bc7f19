package manager

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// dbStrings reads a copy of a bbolt file and returns every bucket name, key, raw value and JSON
// string value in it (nested buckets included).
func dbStrings(t *testing.T, path string) []string {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []string
	var walkJSON func(v any)
	walkJSON = func(v any) {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case []any:
			for _, e := range x {
				walkJSON(e)
			}
		case map[string]any:
			for k, e := range x {
				out = append(out, k)
				walkJSON(e)
			}
		}
	}
	var walk func(b *bbolt.Bucket)
	walk = func(b *bbolt.Bucket) {
		_ = b.ForEach(func(k, v []byte) error {
			out = append(out, string(k))
			if v == nil {
				walk(b.Bucket(k))
				return nil
			}
			out = append(out, string(v))
			var j any
			if json.Unmarshal(v, &j) == nil {
				walkJSON(j)
			}
			return nil
		})
	}
	err = db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			out = append(out, string(name))
			walk(b)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A copy of manager.db alone, after subscriptions with a private repository password, holds
// neither the password nor any key that decrypts it: every bucket, key and value (and every JSON
// string in them) is tried as the key of every stored ciphertext. With the secrets key, the
// platform still decrypts: a restarted manager sends members the password (issue 15, item 6).
func TestManagerDBAloneRevealsNoSecret(t *testing.T) {
	e := newEnv(t)
	setupTenants(t, e)
	sub := `{"cartridgeType":"php","alias":"shop","autoscalingPolicy":"autoscaling-policy-1","deploymentPolicy":"deployment-policy-1",
		"repoUrl":"https://git.example.com/a/shop.git","repoUsername":"git","repoPassword":"` + repoSecret + `","privateRepo":"true"}`
	expect(t, "subscribe", e.do("POST", "/api/subscriptions", "boss@a.com", "boss-secret-a.com", []byte(sub)), 201, "")
	mt := `{"cartridgeType":"tomcat-mt","alias":"web","autoscalingPolicy":"autoscaling-policy-1","deploymentPolicy":"deployment-policy-1",
		"repoUrl":"https://git.example.com/a/web.git","repoPassword":"` + repoSecret + `","agent":"strata"}`
	expect(t, "subscribe mt", e.do("POST", "/api/subscriptions", "boss@a.com", "boss-secret-a.com", []byte(mt)), 201, "")
	if err := e.srv.opts.Users.db.Sync(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), "manager.db")
	if err := os.WriteFile(cp, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	strs := dbStrings(t, cp)
	var ciphertexts []string
	for _, s := range strs {
		if strings.Contains(s, repoSecret) {
			t.Fatalf("manager.db holds the repository password in clear")
		}
		if strings.HasPrefix(s, model.PasswordGCMPrefix) {
			ciphertexts = append(ciphertexts, s)
		}
	}
	if len(ciphertexts) < 2 {
		t.Fatalf("found %d encrypted repository passwords in manager.db, want at least 2", len(ciphertexts))
	}
	for _, c := range ciphertexts {
		for _, k := range strs {
			if pw, err := model.DecryptPassword(k, c); err == nil && pw == repoSecret {
				t.Fatalf("manager.db holds the key %q that decrypts its repository password", k)
			}
		}
	}

	// With the secrets key, a restarted manager on the same database still decrypts.
	e2 := reopenEnv(t, e)
	var subs []subscriptionView
	r := e2.do("GET", "/api/subscriptions", "boss@a.com", "boss-secret-a.com", nil)
	if err := json.Unmarshal(r.body, &subs); err != nil || len(subs) == 0 {
		t.Fatalf("subscriptions: %s", r.body)
	}
	var cluster string
	for _, s := range subs {
		if s.Alias == "shop" {
			cluster = s.ClusterID
		}
	}
	e2.bus.deliver(model.SubscribeInstanceStatus, "instance/status/InstanceStartedEvent",
		model.InstanceStartedEvent{ServiceName: "php", ClusterID: cluster, MemberID: cluster + "m1"})
	evs := e2.bus.artifactEvents()
	if len(evs) != 1 {
		t.Fatalf("artifact events after restart: %+v", evs)
	}
	key := e2.plat.payloadKey(cluster)
	if pw, err := model.DecryptPassword(key, evs[0].RepoPassword); err != nil || pw != repoSecret || bytes.Contains(raw, []byte(key)) {
		t.Errorf("after restart: password %q, %v (key in the file: %v)", pw, err, bytes.Contains(raw, []byte(key)))
	}
}

// payloadKey is the CARTRIDGE_KEY the platform was given for a cluster.
func (f *fakePlatform) payloadKey(clusterID string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, cs := range f.clusters {
		for _, c := range cs {
			if c.ClusterID == clusterID {
				k, _ := c.Payload.Get("CARTRIDGE_KEY")
				return k
			}
		}
	}
	return ""
}

// reopenEnv builds a second server on e's database and secrets key, as a restart does.
func reopenEnv(t *testing.T, e *testEnv) *testEnv {
	t.Helper()
	logs := &testenv.Buffer{}
	fb := &fakeBus{}
	s, err := New(Options{Listener: e.srv.opts.Listener, Users: e.srv.opts.Users, Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Cartridges: e.plat, Partitions: e.plat, Clusters: e.plat, Scaler: e.plat, Bus: fb, SecretsKey: e.srv.opts.SecretsKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.subscribe(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.bg.Wait)
	return &testEnv{t: t, srv: s, h: s.Handler(), plat: e.plat, bus: fb, dbPath: e.dbPath, logs: logs}
}

// A database written before the secrets key existed (plain record keys) is migrated when the
// manager starts with a key: each key is wrapped once, the start logs it, and the records still
// open to their plain keys.
func TestSecretsMigrateOnStart(t *testing.T) {
	e := newEnv(t)
	plain := &store{db: e.srv.store.db}
	rec := applicationRecord{Bean: applicationBean{ApplicationID: "old"}, Status: statusCreated, Key: "0123456789abcdef", TenantDomain: SuperTenantDomain}
	sub := subscriptionRecord{Alias: "old", ApplicationID: "old", SubscriptionKey: "0123456789abcdef"}
	if err := plain.put(bucketApplications, "old", rec); err != nil {
		t.Fatal(err)
	}
	if err := plain.put(bucketSubscriptions, SuperTenantDomain+"/old", sub); err != nil {
		t.Fatal(err)
	}
	e2 := reopenEnv(t, e)
	if !strings.Contains(e2.logs.String(), "stored keys wrapped with the secrets key") || !strings.Contains(e2.logs.String(), "records=2") {
		t.Errorf("start logs: %s", e2.logs)
	}
	for _, b := range [][]byte{bucketApplications, bucketSubscriptions} {
		_, values, err := e2.srv.store.rawList(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range values {
			if bytes.Contains(v, []byte("0123456789abcdef")) || !bytes.Contains(v, []byte(sealedPrefix)) {
				t.Errorf("%s: not wrapped: %s", b, v)
			}
		}
	}
	var got applicationRecord
	if err := e2.srv.store.get(bucketApplications, "old", &got); err != nil || got.Key != rec.Key {
		t.Errorf("after migration: key %q, %v", got.Key, err)
	}
	if e3 := reopenEnv(t, e2); strings.Contains(e3.logs.String(), "wrapped") {
		t.Errorf("second start wrapped again: %s", e3.logs)
	}
}

// The generated key file is private (0600) and read back the same; a file others can read is
// refused, and a record sealed with one key does not open with another.
func TestSecretsKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets.key")
	if _, err := LoadSecretsKey(path, false); err == nil {
		t.Error("a missing key file given by the operator: no error")
	}
	k1, err := LoadSecretsKey(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode: %v, %v", fi.Mode().Perm(), err)
	}
	if k, err := LoadSecretsKey(path, true); err != nil || !bytes.Equal(k, k1) {
		t.Errorf("read back: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSecretsKey(path, true); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a world-readable key file: %v", err)
	}
	s1, _ := newSealer(k1, nil)
	s2, _ := newSealer(bytes.Repeat([]byte{7}, SecretsKeySize), nil)
	sealed, err := s1.seal("0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.open(sealed); err == nil {
		t.Error("a sealed key opened with another secrets key")
	}
	if got, err := s1.open(sealed); err != nil || got != "0123456789abcdef" {
		t.Errorf("open: %q, %v", got, err)
	}
}

// A restart without the secrets key, on a database whose keys are wrapped, fails at start
// instead of serving applications whose passwords it cannot decrypt.
func TestSecretsKeyMissingFailsStart(t *testing.T) {
	e := newEnv(t)
	if err := e.srv.store.put(bucketApplications, "app", applicationRecord{Key: "0123456789abcdef"}); err != nil {
		t.Fatal(err)
	}
	_, err := New(Options{Listener: e.srv.opts.Listener, Users: e.srv.opts.Users})
	if err == nil || !strings.Contains(err.Error(), "no secrets key") {
		t.Errorf("New without the key: %v", err)
	}
}

// Rotation: a start with a new secrets key and the previous one wraps every record again with
// the new key; afterwards the new key alone opens them and the previous one opens none.
func TestSecretsKeyRotation(t *testing.T) {
	e := newEnv(t)
	if err := e.srv.store.put(bucketApplications, "app", applicationRecord{Key: "0123456789abcdef"}); err != nil {
		t.Fatal(err)
	}
	old := e.srv.opts.SecretsKey
	next := bytes.Repeat([]byte{9}, SecretsKeySize)
	logs := &testenv.Buffer{}
	s, err := New(Options{Listener: e.srv.opts.Listener, Users: e.srv.opts.Users, Logger: slog.New(slog.NewTextHandler(logs, nil)),
		SecretsKey: next, PreviousSecretsKey: old})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "stored keys wrapped with the secrets key") {
		t.Errorf("rotation logs: %s", logs)
	}
	oldSealer, _ := newSealer(old, nil)
	_, values, err := s.store.rawList(bucketApplications)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range values {
		var r applicationRecord
		if err := json.Unmarshal(v, &r); err != nil {
			t.Fatal(err)
		}
		if _, err := oldSealer.open(r.Key); err == nil {
			t.Errorf("after rotation the previous key still opens %s", v)
		}
	}
	if _, err := New(Options{Listener: e.srv.opts.Listener, Users: e.srv.opts.Users, SecretsKey: old}); err == nil {
		// New does not open every record; a get with the old key must fail.
		st := &store{db: s.store.db, sealer: oldSealer}
		var r applicationRecord
		if err := st.get(bucketApplications, "app", &r); err == nil {
			t.Error("the previous key alone still opens a record after rotation")
		}
	}
	var got applicationRecord
	s2, err := New(Options{Listener: e.srv.opts.Listener, Users: e.srv.opts.Users, SecretsKey: next})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.store.get(bucketApplications, "app", &got); err != nil || got.Key != "0123456789abcdef" {
		t.Errorf("new key: %q, %v", got.Key, err)
	}
}
