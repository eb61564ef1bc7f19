package manager

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// SecretsKeySize is the length in bytes of the key that wraps the per-application keys kept in
// manager.db (AES-256-GCM).
const SecretsKeySize = 32

// sealedPrefix marks a record key stored wrapped by the secrets key; a key without it is a
// plain key from a data dir older than the secrets key (migrated by New).
const sealedPrefix = "sealed:v1:"

// LoadSecretsKey reads the secrets key from path: 32 raw bytes, or their base64 form. A missing
// file is created with a new random key, mode 0600, when create is true. A file readable by group
// or others is refused: the key must live apart from the data and be as private as it.
func LoadSecretsKey(path string, create bool) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		key := make([]byte, SecretsKeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("secrets key: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("secrets key: %w", err)
		}
		if _, err := f.Write([]byte(base64.StdEncoding.EncodeToString(key) + "\n")); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("secrets key: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("secrets key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("secrets key: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secrets key %s: mode %v: readable by others; chmod 600 it", path, fi.Mode().Perm())
	}
	if len(b) == SecretsKeySize {
		return b, nil
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != SecretsKeySize {
		return nil, fmt.Errorf("secrets key %s: want %d bytes, raw or base64", path, SecretsKeySize)
	}
	return key, nil
}

// sealer wraps and unwraps the record keys with the secrets key (AES-GCM, random nonce). During
// a rotation, prev (the previous secrets key) still opens what it wrapped.
type sealer struct{ aead, prev cipher.AEAD }

func newSealer(key, previous []byte) (*sealer, error) {
	if key == nil {
		if previous != nil {
			return nil, errors.New("manager: a previous secrets key without a secrets key")
		}
		return nil, nil
	}
	a, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	sl := &sealer{aead: a}
	if previous != nil {
		if sl.prev, err = newAEAD(previous); err != nil {
			return nil, fmt.Errorf("previous %w", err)
		}
	}
	return sl, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != SecretsKeySize {
		return nil, fmt.Errorf("manager: secrets key: %d bytes, want %d", len(key), SecretsKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("manager: secrets key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("manager: secrets key: %w", err)
	}
	return aead, nil
}

// seal wraps a plain record key; an empty or already wrapped one is returned as is. Without a
// secrets key (s nil) the key is kept plain.
func (s *sealer) seal(plain string) (string, error) {
	if s == nil || plain == "" || strings.HasPrefix(plain, sealedPrefix) {
		return plain, nil
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	return sealedPrefix + base64.StdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, []byte(plain), nil)), nil
}

// open unwraps a record key stored by seal; a plain key (not yet migrated) is returned as is.
func (s *sealer) open(stored string) (string, error) {
	if !strings.HasPrefix(stored, sealedPrefix) {
		return stored, nil
	}
	if s == nil {
		return "", errors.New("a record key is sealed and no secrets key is configured")
	}
	plain, _, err := s.openWith(stored)
	return plain, err
}

// openWith unwraps a sealed key and tells whether the current secrets key opened it (false: the
// previous one did, so the record is to be wrapped again).
func (s *sealer) openWith(stored string) (plain string, current bool, err error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(stored, sealedPrefix))
	if err != nil || len(b) < s.aead.NonceSize() {
		return "", false, errors.New("a sealed record key is malformed")
	}
	nonce, ct := b[:s.aead.NonceSize()], b[s.aead.NonceSize():]
	p, err := s.aead.Open(nil, nonce, ct, nil)
	if err == nil {
		return string(p), true, nil
	}
	if s.prev != nil {
		if p, perr := s.prev.Open(nil, nonce, ct, nil); perr == nil {
			return string(p), false, nil
		}
	}
	return "", false, fmt.Errorf("a sealed record key does not open with the secrets key (wrong key file?): %w", err)
}

// stale reports whether a stored key is to be (re)wrapped: plain, or wrapped by the previous key.
func (s *sealer) stale(stored string) bool {
	if stored == "" {
		return false
	}
	if !strings.HasPrefix(stored, sealedPrefix) {
		return true
	}
	if s.prev == nil {
		return false
	}
	_, current, err := s.openWith(stored)
	return err == nil && !current
}

// keyed is a record holding a secret key: the store wraps it on put and unwraps it on get.
type keyed interface {
	secretKey() *string
}

func (a *applicationRecord) secretKey() *string  { return &a.Key }
func (r *subscriptionRecord) secretKey() *string { return &r.SubscriptionKey }

// sealValue returns v with its secret key wrapped (a copy: the caller's record keeps the plain key).
func (s *store) sealValue(v any) (any, error) {
	switch r := v.(type) {
	case applicationRecord:
		return s.sealValue(&r)
	case subscriptionRecord:
		return s.sealValue(&r)
	case *applicationRecord:
		c := *r
		var err error
		c.Key, err = s.sealer.seal(c.Key)
		return c, err
	case *subscriptionRecord:
		c := *r
		var err error
		c.SubscriptionKey, err = s.sealer.seal(c.SubscriptionKey)
		return c, err
	}
	return v, nil
}

// openValue unwraps the secret key of a decoded record.
func (s *store) openValue(v any) error {
	k, ok := v.(keyed)
	if !ok {
		return nil
	}
	plain, err := s.sealer.open(*k.secretKey())
	if err != nil {
		return err
	}
	*k.secretKey() = plain
	return nil
}

// migrateSecrets wraps, once, the plain keys of records written before the secrets key existed,
// and wraps again with the secrets key those wrapped by the previous key (a rotation). It returns
// how many records it wrapped.
func (s *store) migrateSecrets() (int, error) {
	n := 0
	for _, b := range [][]byte{bucketApplications, bucketSubscriptions} {
		keys, values, err := s.rawList(b)
		if err != nil {
			return n, err
		}
		for i, k := range keys {
			var plain struct {
				Key             string `json:"key"`
				SubscriptionKey string `json:"subscriptionKey"`
			}
			if err := json.Unmarshal(values[i], &plain); err != nil {
				return n, fmt.Errorf("migrate %s/%s: %w", b, k, err)
			}
			if s.sealer == nil {
				if strings.HasPrefix(plain.Key, sealedPrefix) || strings.HasPrefix(plain.SubscriptionKey, sealedPrefix) {
					return 0, fmt.Errorf("%s/%s is sealed and no secrets key is given", b, k)
				}
				continue
			}
			if !s.sealer.stale(plain.Key) && !s.sealer.stale(plain.SubscriptionKey) {
				continue
			}
			var err error
			if string(b) == string(bucketApplications) {
				var a applicationRecord
				if err = s.get(b, k, &a); err == nil {
					err = s.put(b, k, a)
				}
			} else {
				var r subscriptionRecord
				if err = s.get(b, k, &r); err == nil {
					err = s.put(b, k, r)
				}
			}
			if err != nil {
				return n, fmt.Errorf("migrate %s/%s: %w", b, k, err)
			}
			n++
		}
	}
	return n, nil
}
