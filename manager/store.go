package manager

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/bbolt"
)

// Buckets of the manager's state in the shared bbolt database. Values are JSON. Repository
// passwords are stored only encrypted (see subscription.go).
var (
	bucketPolicies      = []byte("manager.policies")      // "<kind>/<id>" -> Stratos JSON as posted
	bucketCartridges    = []byte("manager.cartridges")    // type -> model.Cartridge
	bucketGroups        = []byte("manager.groups")        // name -> cartridgeGroup
	bucketApplications  = []byte("manager.applications")  // id -> applicationRecord
	bucketSignUps       = []byte("manager.signups")       // "<appId>/<tenantId>" -> signUpRecord
	bucketSubscriptions = []byte("manager.subscriptions") // "<tenantDomain>/<alias>" -> subscriptionRecord
	bucketTenants       = []byte("manager.tenants")       // domain -> tenantRecord
	bucketTokens        = []byte("manager.tokens")        // sha256(token) hex -> tokenRecord
	allBuckets          = [][]byte{bucketPolicies, bucketCartridges, bucketGroups, bucketApplications,
		bucketSignUps, bucketSubscriptions, bucketTenants, bucketTokens, bucketMetadata, bucketKubernetesClusters}
)

// errNotFound is returned by store.get for a missing key.
var errNotFound = errors.New("manager: not found")

// store is the manager's bbolt state: JSON values in named buckets. The secret keys of
// applications and subscriptions are wrapped by sealer (the secrets key) on put and unwrapped on
// get, so that the database alone reveals no key.
type store struct {
	db     *bbolt.DB
	sealer *sealer
}

func openStore(db *bbolt.DB, sl *sealer) (*store, error) {
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("bucket %s: %w", b, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("manager: open state: %w", err)
	}
	return &store{db: db, sealer: sl}, nil
}

func (s *store) put(bucket []byte, key string, v any) error {
	v, err := s.sealValue(v)
	if err != nil {
		return fmt.Errorf("encode %s/%s: %w", bucket, key, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s/%s: %w", bucket, key, err)
	}
	err = s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucket).Put([]byte(key), b) })
	if err != nil {
		return fmt.Errorf("store %s/%s: %w", bucket, key, err)
	}
	return nil
}

func (s *store) get(bucket []byte, key string, v any) error {
	return s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucket).Get([]byte(key))
		if b == nil {
			return fmt.Errorf("%w: %s", errNotFound, key)
		}
		if err := json.Unmarshal(b, v); err != nil {
			return err
		}
		return s.openValue(v)
	})
}

func (s *store) has(bucket []byte, key string) bool {
	found := false
	_ = s.db.View(func(tx *bbolt.Tx) error {
		found = tx.Bucket(bucket).Get([]byte(key)) != nil
		return nil
	})
	return found
}

func (s *store) delete(bucket []byte, key string) error {
	err := s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucket).Delete([]byte(key)) })
	if err != nil {
		return fmt.Errorf("delete %s/%s: %w", bucket, key, err)
	}
	return nil
}

// deletePrefix deletes every key of a bucket that starts with prefix, in one transaction.
func (s *store) deletePrefix(bucket []byte, prefix string) error {
	err := s.db.Update(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, _ := c.Seek([]byte(prefix)); k != nil && strings.HasPrefix(string(k), prefix); k, _ = c.Seek([]byte(prefix)) {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete %s/%s*: %w", bucket, prefix, err)
	}
	return nil
}

// list decodes every value of a bucket whose key starts with prefix, in key order.
func list[T any](s *store, bucket []byte, prefix string) ([]T, error) {
	var out []T
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, v := c.Seek([]byte(prefix)); k != nil && len(k) >= len(prefix) && string(k[:len(prefix)]) == prefix; k, v = c.Next() {
			var t T
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("decode %s/%s: %w", bucket, k, err)
			}
			if err := s.openValue(&t); err != nil {
				return fmt.Errorf("decode %s/%s: %w", bucket, k, err)
			}
			out = append(out, t)
		}
		return nil
	})
	return out, err
}

// rawList returns the raw values of a bucket, in key order.
func (s *store) rawList(bucket []byte) (keys []string, values [][]byte, err error) {
	err = s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			keys = append(keys, string(k))
			values = append(values, append([]byte(nil), v...))
			return nil
		})
	})
	return keys, values, err
}

func (s *store) putRaw(bucket []byte, key string, value []byte) error {
	err := s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucket).Put([]byte(key), value) })
	if err != nil {
		return fmt.Errorf("store %s/%s: %w", bucket, key, err)
	}
	return nil
}
