package policies

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Changes tells what a swap changed, so that the autoscaler keeps the state (stabilization
// windows, counters) of the policies that did not.
type Changes struct {
	Added     []Ref `json:"added,omitempty"`
	Changed   []Ref `json:"changed,omitempty"`
	Removed   []Ref `json:"removed,omitempty"`
	Unchanged int   `json:"unchanged"`
}

// Empty reports whether nothing changed.
func (c Changes) Empty() bool { return len(c.Added)+len(c.Changed)+len(c.Removed) == 0 }

// Diff compares two sets by pointer: a policy whose content did not change keeps its pointer
// across a reload, so a different pointer means a changed policy.
func Diff(old, next *Set) Changes {
	var c Changes
	if old == nil {
		old = Empty()
	}
	if next == nil {
		next = Empty()
	}
	for _, p := range next.All() {
		switch o, ok := old.Get(p.Ref()); {
		case !ok:
			c.Added = append(c.Added, p.Ref())
		case o != p:
			c.Changed = append(c.Changed, p.Ref())
		default:
			c.Unchanged++
		}
	}
	for _, p := range old.All() {
		if _, ok := next.Get(p.Ref()); !ok {
			c.Removed = append(c.Removed, p.Ref())
		}
	}
	return c
}

// StoreOptions configure a Store.
type StoreOptions struct {
	// Dir is the policy directory (see LoadDir). Empty: the store starts empty and changes only
	// through Update.
	Dir string
	// Poll is how often Watch looks for changed files; default 5s. Polling rather than inotify,
	// because editors and Kubernetes ConfigMaps replace files by renames and symlink swaps.
	Poll   time.Duration
	Logger *slog.Logger
	// OnChange, if set, is called after every swap that changed something, with the lock held:
	// keep it short, and do not call the Store from it.
	OnChange func(old, next *Set, c Changes)
}

// Check vets the set a reload is about to swap in (old is the running set, c what would
// change). An error refuses the reload as a whole: the running set stays. It runs with the
// store's lock held and must not call the Store.
type Check func(ctx context.Context, old, next *Set, c Changes) error

// ReloadResult is what the last reload of the directory did.
type ReloadResult struct {
	Time time.Time `json:"time"`
	// Applied is true when the directory's set is running; false when the reload failed (a
	// file with problems) or was refused (by a Check), and the set before it still runs.
	Applied bool    `json:"applied"`
	Error   string  `json:"error,omitempty"`
	Changes Changes `json:"changes"`
}

// Store holds the current Set and replaces it all at once. Readers call Set() on every use and
// never lock. Reload, Update and Watch's polling are serialized by one mutex; a failed reload or
// update leaves the current Set in place.
type Store struct {
	opts   StoreOptions
	log    *slog.Logger
	mu     sync.Mutex // serializes swaps; guards digest
	cur    atomic.Pointer[Set]
	digest [sha256.Size]byte // of the files at the last reload attempt
	last   ReloadResult      // of the last reload; guarded by mu
	counts ReloadCounts      // guarded by mu
}

// ReloadCounts counts the reloads of the directory by result, the load at start included.
type ReloadCounts struct {
	Applied int // the directory's set was swapped in (or was unchanged)
	Failed  int // a file had problems
	Refused int // a Check refused the set
}

// NewStore loads opts.Dir and returns a Store holding it; a directory with problems is an error.
func NewStore(ctx context.Context, opts StoreOptions) (*Store, error) {
	if opts.Poll <= 0 {
		opts.Poll = 5 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{opts: opts, log: log.With("component", "policies")}
	s.cur.Store(Empty())
	if opts.Dir != "" {
		if _, err := s.Reload(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Set is the current set.
func (s *Store) Set() *Set { return s.cur.Load() }

// Dir is the policy directory, or "" when policies come only through Update.
func (s *Store) Dir() string { return s.opts.Dir }

// LastReload is the result of the last reload of the directory; false before any (and always
// without a directory).
func (s *Store) LastReload() (ReloadResult, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, !s.last.Time.IsZero()
}

// Reloads counts the reloads so far by result.
func (s *Store) Reloads() ReloadCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts
}

// Reload reads the directory again. It is all-or-nothing: on any problem the current set stays
// and the error lists every problem; otherwise the new set replaces it, keeping the pointers of
// unchanged policies.
func (s *Store) Reload(ctx context.Context) (Changes, error) {
	return s.ReloadCheck(ctx, nil)
}

// ReloadCheck is Reload with a Check: a directory that loads is swapped in only if check (nil:
// none) accepts it. The manager passes its check for running applications, so that a reload
// that would orphan one is refused. An error wrapping ErrRefused is check's refusal.
func (s *Store) ReloadCheck(ctx context.Context, check Check) (Changes, error) {
	if s.opts.Dir == "" {
		return Changes{}, fmt.Errorf("reload policies: %w: no directory", ErrNotFound)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.digest, _ = dirDigest(s.opts.Dir)
	old := s.cur.Load()
	next, err := loadDir(ctx, s.opts.Dir, old)
	if err != nil {
		err = fmt.Errorf("reload policies from %s: %w", s.opts.Dir, err)
		s.record(&s.counts.Failed, Changes{}, err)
		return Changes{}, err
	}
	if check != nil {
		c := Diff(old, next)
		if err := check(ctx, old, next, c); err != nil {
			err = fmt.Errorf("reload policies from %s: %w: %w", s.opts.Dir, ErrRefused, err)
			s.record(&s.counts.Refused, c, err)
			return Changes{}, err
		}
	}
	c := s.swap(next)
	s.record(&s.counts.Applied, c, nil)
	return c, nil
}

// record keeps a reload's result. Called with s.mu held.
func (s *Store) record(counter *int, c Changes, err error) {
	*counter++
	s.last = ReloadResult{Time: time.Now().UTC(), Applied: err == nil, Changes: c}
	if err != nil {
		s.last.Error = err.Error()
	}
}

// Update replaces the set with f's result (for example set.With(policy) from the REST API). If f
// fails the set stays.
func (s *Store) Update(f func(*Set) (*Set, error)) (Changes, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next, err := f(s.cur.Load())
	if err != nil {
		return Changes{}, err
	}
	if next == nil {
		return Changes{}, errors.New("update policies: nil set")
	}
	return s.swap(next), nil
}

func (s *Store) swap(next *Set) Changes {
	old := s.cur.Swap(next)
	c := Diff(old, next)
	if !c.Empty() {
		s.log.Info("policies changed", "added", len(c.Added), "changed", len(c.Changed), "removed", len(c.Removed), "unchanged", c.Unchanged)
		if s.opts.OnChange != nil {
			s.opts.OnChange(old, next, c)
		}
	}
	return c
}

// Watch polls the directory until ctx ends and calls reload (s.Reload, or a caller's reload
// with its own checks, like the manager's ReloadPolicies) when a policy file changed since the
// last reload attempt, whoever made it. reload reports its own errors; the same files are not
// tried again until they change.
func (s *Store) Watch(ctx context.Context, reload func(context.Context) (Changes, error)) error {
	if s.opts.Dir == "" {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(s.opts.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		d, err := dirDigest(s.opts.Dir)
		if err != nil {
			s.log.Warn("policy directory unreadable", "dir", s.opts.Dir, "err", err)
			continue
		}
		s.mu.Lock()
		same := d == s.digest
		s.mu.Unlock()
		if same {
			continue
		}
		_, _ = reload(ctx)
	}
}

// dirDigest hashes the names and contents of the policy files under dir.
func dirDigest(dir string) ([sha256.Size]byte, error) {
	files, err := policyFiles(dir)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	h := sha256.New()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return [sha256.Size]byte{}, err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", f, len(data))
		h.Write(data)
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out, nil
}
