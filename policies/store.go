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
	// Poll is how often Run looks for changed files; default 5s. Polling rather than inotify,
	// because editors and Kubernetes ConfigMaps replace files by renames and symlink swaps.
	Poll   time.Duration
	Logger *slog.Logger
	// OnChange, if set, is called after every swap that changed something, with the lock held:
	// keep it short, and do not call the Store from it.
	OnChange func(old, next *Set, c Changes)
}

// Store holds the current Set and replaces it all at once. Readers call Set() on every use and
// never lock. Reload, Update and Run's polling are serialized by one mutex; a failed reload or
// update leaves the current Set in place.
type Store struct {
	opts   StoreOptions
	log    *slog.Logger
	mu     sync.Mutex // serializes swaps; guards digest
	cur    atomic.Pointer[Set]
	digest [sha256.Size]byte // of the files at the last reload attempt
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

// Reload reads the directory again. It is all-or-nothing: on any problem the current set stays
// and the error lists every problem; otherwise the new set replaces it, keeping the pointers of
// unchanged policies. SIGHUP handlers and the API call it.
func (s *Store) Reload(ctx context.Context) (Changes, error) {
	if s.opts.Dir == "" {
		return Changes{}, fmt.Errorf("reload policies: %w: no directory", ErrNotFound)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.digest, _ = dirDigest(s.opts.Dir)
	next, err := loadDir(ctx, s.opts.Dir, s.cur.Load())
	if err != nil {
		return Changes{}, fmt.Errorf("reload policies from %s: %w", s.opts.Dir, err)
	}
	return s.swap(next), nil
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

// Run polls the directory until ctx ends and reloads when a policy file changes. A reload that
// fails is logged and the current set kept; the same files are not retried until they change.
func (s *Store) Run(ctx context.Context) error {
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
		if _, err := s.Reload(ctx); err != nil {
			s.log.Error("policy reload rejected, keeping the current policies", "dir", s.opts.Dir, "err", err)
		}
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
