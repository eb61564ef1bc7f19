package manager

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
	"golang.org/x/crypto/bcrypt"
)

// SuperTenantDomain and SuperTenantID name the super tenant, as in Stratos (§6.2).
const (
	SuperTenantDomain = "carbon.super"
	SuperTenantID     = -1234
	AdminUser         = "admin"
)

// Roles a user can hold.
const (
	RoleAdmin       = "admin"        // cartridge deployer: manages the platform
	RoleTenantAdmin = "tenant-admin" // subscriber: manages its tenant's subscriptions and users
	RoleUser        = "user"         // tenant user: reads its tenant's subscriptions
)

// ErrNoSuchUser is returned when a user does not exist.
var ErrNoSuchUser = errors.New("manager: no such user")

var usersBucket = []byte("users")

// User is one account of the credential store. The password is kept only as a bcrypt hash.
type User struct {
	Name         string    `json:"name"`
	TenantDomain string    `json:"tenantDomain"`
	Role         string    `json:"role"`
	PasswordHash []byte    `json:"passwordHash"`
	Created      time.Time `json:"created"`
}

// Users is the one credential store that the REST API, the Thrift receiver and the embedded
// broker authenticate against. Accounts live in a bbolt database in the data dir. A successful
// bcrypt check is remembered for a while (LoginLimits.CacheTTL) under an HMAC of the user name
// and the password with a per-process key, so agents that reconnect often, and valid users
// while an attacker guesses, pay neither bcrypt nor a database read; changing a password or
// deleting the user forgets it. Unproven logins are throttled per source and per user name, and bcrypt checks run
// with bounded concurrency (logins.go).
type Users struct {
	db    *bbolt.DB
	key   [32]byte
	cost  int           // bcrypt cost; tests lower it
	dummy func() []byte // a hash to compare against for unknown names

	logins atomic.Pointer[logins]
}

// SetCost sets the bcrypt cost (bcrypt.MinCost to bcrypt.MaxCost; 0: bcrypt.DefaultCost) of the
// passwords hashed from now on; a check costs what its stored hash was made with. Call it before
// the store is used. Platforms that tests run in process lower it: under -race one hash at the
// default cost takes seconds.
func (u *Users) SetCost(cost int) {
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	u.cost = cost
}

// NewUsers opens the credential store kept in db.
func NewUsers(db *bbolt.DB) (*Users, error) {
	u := &Users{db: db, cost: bcrypt.DefaultCost}
	u.logins.Store(newLogins(LoginLimits{}))
	u.dummy = sync.OnceValue(func() []byte {
		h, _ := bcrypt.GenerateFromPassword([]byte("strata-dummy-password"), u.cost)
		return h
	})
	if _, err := rand.Read(u.key[:]); err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(usersBucket)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("users: create bucket: %w", err)
	}
	return u, nil
}

// Qualify turns "name" or "name@domain" into "name@domain", the super tenant being the default.
func Qualify(name string) (user, domain string) {
	if i := strings.LastIndexByte(name, '@'); i > 0 {
		return name[:i], name[i+1:]
	}
	return name, SuperTenantDomain
}

func key(user, domain string) string { return user + "@" + domain }

// EnsureAdmin creates the super tenant's admin on first start. With an empty password it
// generates one and returns it; when the admin exists already it changes nothing and returns "".
func (u *Users) EnsureAdmin(password string) (generated string, err error) {
	if _, err := u.Get(AdminUser); err == nil {
		return "", nil
	} else if !errors.Is(err, ErrNoSuchUser) {
		return "", err
	}
	if password == "" {
		b := make([]byte, 18)
		if _, err := rand.Read(b); err != nil {
			return "", fmt.Errorf("generate admin password: %w", err)
		}
		password = base64.RawURLEncoding.EncodeToString(b)
		generated = password
	}
	return generated, u.Put(AdminUser, SuperTenantDomain, RoleAdmin, password)
}

// Put creates or replaces a user with a new password.
func (u *Users) Put(name, domain, role, password string) error {
	if name == "" || strings.ContainsAny(name, "@/ ") {
		return fmt.Errorf("user name %q: must be non-empty without '@', '/' or spaces", name)
	}
	if len(password) < 8 {
		return fmt.Errorf("user %s: password must have at least 8 characters", name)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), u.cost)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	rec := User{Name: name, TenantDomain: domain, Role: role, PasswordHash: hash, Created: time.Now().UTC()}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	k := key(name, domain)
	err = u.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(usersBucket).Put([]byte(k), b) })
	if err != nil {
		return fmt.Errorf("store user %s: %w", k, err)
	}
	u.logins.Load().forget(k)
	return nil
}

// Get returns a user by "name" or "name@domain".
func (u *Users) Get(qualified string) (User, error) {
	name, domain := Qualify(qualified)
	var rec User
	err := u.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(usersBucket).Get([]byte(key(name, domain)))
		if b == nil {
			return fmt.Errorf("%w: %s@%s", ErrNoSuchUser, name, domain)
		}
		return json.Unmarshal(b, &rec)
	})
	return rec, err
}

// Authenticate checks a password for "name" or "name@domain" and returns the user; it is Login
// with no source address (only the user name is throttled).
func (u *Users) Authenticate(qualified, password string) (User, bool) {
	rec, err := u.Login("", qualified, password)
	return rec, err == nil
}

// SetLoginLimits replaces the login throttle, the memo of verified credentials and the bound
// on concurrent bcrypt checks; what they remembered is forgotten. Call it before serving.
func (u *Users) SetLoginLimits(l LoginLimits) { u.logins.Store(newLogins(l)) }

// LoginStats returns the login counters.
func (u *Users) LoginStats() LoginStats {
	l := u.logins.Load()
	return LoginStats{Failed: l.failed.Load(), Throttled: l.throttled.Load(), Cached: l.cached.Load()}
}

// Login checks a password for "name" or "name@domain" coming from source (a host address; ""
// for none) and returns the user. A credential verified within LoginLimits.CacheTTL is accepted
// at once; otherwise the attempt takes one of the source's and one of the user name's attempts
// (a *ThrottledError when either has none left, with no password check), and the bcrypt check
// waits for one of LoginLimits.Hashers. A wrong name or password is ErrBadCredentials.
func (u *Users) Login(source, qualified, password string) (User, error) {
	l := u.logins.Load()
	name, domain := Qualify(qualified)
	k := key(name, domain)
	mac := hmac.New(sha256.New, u.key[:])
	mac.Write([]byte(k))
	mac.Write([]byte{0}) // names hold no NUL: the pair is unambiguous
	mac.Write([]byte(password))
	sum := string(mac.Sum(nil))
	if rec, ok := l.remembered(sum); ok {
		return rec, nil
	}
	if err := l.admit(source, k); err != nil {
		return User{}, err
	}
	rec, err := u.Get(qualified)
	hash := rec.PasswordHash
	if err != nil {
		// Spend the same time as a real check so unknown names are not told apart by timing.
		hash = u.dummy()
	}
	if !l.hash(func() bool { return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil }) || err != nil {
		l.failed.Add(1)
		return User{}, ErrBadCredentials
	}
	l.succeeded(source, k, sum, rec)
	return rec, nil
}

// List returns the users of a tenant domain, by name.
func (u *Users) List(domain string) ([]User, error) {
	var out []User
	err := u.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(usersBucket).ForEach(func(k, v []byte) error {
			if !strings.HasSuffix(string(k), "@"+domain) {
				return nil
			}
			var rec User
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("decode user %s: %w", k, err)
			}
			if rec.TenantDomain == domain {
				out = append(out, rec)
			}
			return nil
		})
	})
	return out, err
}

// Delete removes a user.
func (u *Users) Delete(name, domain string) error {
	k := key(name, domain)
	err := u.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(usersBucket)
		if b.Get([]byte(k)) == nil {
			return fmt.Errorf("%w: %s", ErrNoSuchUser, k)
		}
		return b.Delete([]byte(k))
	})
	if err != nil {
		return err
	}
	u.logins.Load().forget(k)
	return nil
}
