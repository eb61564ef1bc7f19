package modules

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/strata-paas/strata/internal/model"
)

// Cartridge properties that name a cartridge's module.
const (
	// PropertyDir is a directory on the platform's host holding the module.
	PropertyDir = "strata.module.dir"
	// PropertyRepo is a git repository holding the module (http(s) URL; credentials, when
	// needed, in its user info).
	PropertyRepo = "strata.module.repo"
	// PropertyRef is the branch, tag or commit of PropertyRepo; default: the remote's HEAD.
	PropertyRef = "strata.module.ref"
)

// InstallScript is the file of a module that installs it, run with /bin/sh.
const InstallScript = "install.sh"

// ErrNoModule says a cartridge names no module.
var ErrNoModule = errors.New("modules: the cartridge names no module")

// maxModuleSize bounds a module's files, so a mistaken directory (/) cannot exhaust memory.
const maxModuleSize = 256 << 20

// Source is where a cartridge's module comes from: Dir or Repo (at Ref).
type Source struct {
	Dir  string
	Repo string
	Ref  string
}

// SourceOf reads a cartridge's module properties. A cartridge that names none gets ErrNoModule;
// one that names both a directory and a repository is refused.
func SourceOf(ct model.Cartridge) (Source, error) {
	dir, _ := model.LookupProperty(ct.Property, PropertyDir)
	repo, _ := model.LookupProperty(ct.Property, PropertyRepo)
	ref, _ := model.LookupProperty(ct.Property, PropertyRef)
	s := Source{Dir: strings.TrimSpace(dir), Repo: strings.TrimSpace(repo), Ref: strings.TrimSpace(ref)}
	switch {
	case s.Dir == "" && s.Repo == "":
		return Source{}, fmt.Errorf("cartridge %s: %w", ct.Type, ErrNoModule)
	case s.Dir != "" && s.Repo != "":
		return Source{}, fmt.Errorf("cartridge %s: both %s and %s are set; name one", ct.Type, PropertyDir, PropertyRepo)
	case s.Dir != "" && !filepath.IsAbs(s.Dir):
		return Source{}, fmt.Errorf("cartridge %s: %s %q is not an absolute path", ct.Type, PropertyDir, s.Dir)
	}
	return s, nil
}

// Module is one version of a module: its version and its files as a gzipped tar archive.
type Module struct {
	Version string
	Archive []byte
}

// Options configure a Store.
type Options struct {
	// Cartridge returns a cartridge definition by type. Required.
	Cartridge func(typ string) (model.Cartridge, error)
	// Member checks a member's credential and returns its cartridge type. Required.
	Member func(user, password string) (cartridgeType string, ok bool)
	// Logger receives the store's logs; nil discards them.
	Logger *slog.Logger
}

// Store serves the cartridges' modules.
type Store struct {
	opts Options
	log  *slog.Logger

	mu  sync.Mutex        // guards git
	git map[string]Module // repository + "\x00" + commit -> module
}

// New checks the options and returns the store.
func New(o Options) (*Store, error) {
	if o.Cartridge == nil || o.Member == nil {
		return nil, errors.New("modules: Cartridge and Member are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Store{opts: o, log: o.Logger.With("component", "modules"), git: map[string]Module{}}, nil
}

// Module returns the current version of a cartridge type's module. versionOnly skips building
// the archive where the version is known without it.
func (s *Store) Module(ctx context.Context, typ string, versionOnly bool) (Module, error) {
	ct, err := s.opts.Cartridge(typ)
	if err != nil {
		return Module{}, err
	}
	src, err := SourceOf(ct)
	if err != nil {
		return Module{}, err
	}
	if src.Dir != "" {
		return loadDir(src.Dir, versionOnly)
	}
	return s.loadGit(ctx, src, versionOnly)
}

// file is one file of a module.
type file struct {
	name string // slash-separated, relative
	exec bool
	data []byte
}

// mode is a module file's mode in the archive and in its version.
func (f file) mode() int64 {
	if f.exec {
		return 0o755
	}
	return 0o644
}

// sortFiles orders files by name, so the same files always give the same version and archive.
func sortFiles(files []file) {
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
}

// versionOf is the version of sorted files: the sha256 of their names, modes and contents.
func versionOf(files []file) string {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%o\x00%d\x00", f.name, f.mode(), len(f.data))
		h.Write(f.data)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:16]
}

// pack returns the gzipped tar archive of sorted files.
func pack(files []file) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode(), Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := errors.Join(tw.Close(), zw.Close()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// loadDir reads a directory module (regular files; .git is left out) and checks that it has
// an install script. versionOnly skips the archive: a member's bootstrap asks for the version at
// every start, and compressing the module was most of that answer's cost.
func loadDir(dir string, versionOnly bool) (Module, error) {
	var files []file
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if total += info.Size(); total > maxModuleSize {
			return fmt.Errorf("larger than %d bytes", maxModuleSize)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		files = append(files, file{name: filepath.ToSlash(rel), exec: info.Mode()&0o111 != 0, data: b})
		return nil
	})
	if err != nil {
		return Module{}, fmt.Errorf("module directory %s: %w", dir, err)
	}
	return build(dir, files, versionOnly)
}

// build checks a module's files and returns its version and, unless versionOnly, its archive.
func build(where string, files []file, versionOnly bool) (Module, error) {
	if !hasInstall(files) {
		return Module{}, fmt.Errorf("module %s: no %s", where, InstallScript)
	}
	sortFiles(files)
	m := Module{Version: versionOf(files)}
	if versionOnly {
		return m, nil
	}
	a, err := pack(files)
	if err != nil {
		return Module{}, fmt.Errorf("module %s: %w", where, err)
	}
	m.Archive = a
	return m, nil
}

func hasInstall(files []file) bool {
	for _, f := range files {
		if f.name == InstallScript {
			return true
		}
	}
	return false
}

// repoAuth splits the credentials off a repository URL.
func repoAuth(raw string) (string, transport.AuthMethod) {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw, nil
	}
	p, _ := u.User.Password()
	auth := &githttp.BasicAuth{Username: u.User.Username(), Password: p}
	u.User = nil
	return u.String(), auth
}

// loadGit resolves the source's ref on the remote (ls-remote) and returns the module of that
// commit, cloning the repository when the commit is not cached.
func (s *Store) loadGit(ctx context.Context, src Source, versionOnly bool) (Module, error) {
	repoURL, auth := repoAuth(src.Repo)
	commit, err := resolveRemote(ctx, repoURL, auth, src.Ref)
	if err != nil {
		return Module{}, fmt.Errorf("module repository %s: %w", repoURL, err)
	}
	if versionOnly {
		return Module{Version: commit}, nil
	}
	key := src.Repo + "\x00" + commit
	s.mu.Lock()
	m, ok := s.git[key]
	s.mu.Unlock()
	if ok {
		return m, nil
	}
	files, err := cloneFiles(ctx, repoURL, auth, commit)
	if err != nil {
		return Module{}, fmt.Errorf("module repository %s at %s: %w", repoURL, commit, err)
	}
	if m, err = build(repoURL, files, false); err != nil {
		return Module{}, err
	}
	m.Version = commit
	s.mu.Lock()
	for k := range s.git {
		if strings.HasPrefix(k, src.Repo+"\x00") {
			delete(s.git, k) // only the newest commit of a repository is kept
		}
	}
	s.git[key] = m
	s.mu.Unlock()
	s.log.Info("module fetched from git", "repository", repoURL, "commit", commit)
	return m, nil
}

// resolveRemote returns the commit ref names on the remote: a full commit hash as it is, else
// the branch or tag of that name, else the remote's HEAD for an empty ref.
func resolveRemote(ctx context.Context, repoURL string, auth transport.AuthMethod, ref string) (string, error) {
	if plumbing.IsHash(ref) {
		return ref, nil
	}
	rem := git.NewRemote(memory.NewStorage(), &gitconfig.RemoteConfig{Name: "origin", URLs: []string{repoURL}})
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: auth, PeelingOption: git.AppendPeeled})
	if err != nil {
		return "", err
	}
	byName := map[plumbing.ReferenceName]*plumbing.Reference{}
	for _, r := range refs {
		byName[r.Name()] = r
	}
	var names []plumbing.ReferenceName
	if ref == "" {
		names = []plumbing.ReferenceName{plumbing.HEAD}
	} else {
		// A peeled tag (tag^{}) names the commit of an annotated tag.
		names = []plumbing.ReferenceName{plumbing.NewBranchReferenceName(ref), plumbing.NewTagReferenceName(ref + "^{}"),
			plumbing.NewTagReferenceName(ref), plumbing.ReferenceName(ref)}
	}
	for _, n := range names {
		r := byName[n]
		for hops := 0; r != nil && r.Type() == plumbing.SymbolicReference && hops < 5; hops++ {
			r = byName[r.Target()]
		}
		if r != nil && !r.Hash().IsZero() {
			return r.Hash().String(), nil
		}
	}
	if ref == "" {
		return "", errors.New("the remote has no HEAD")
	}
	return "", fmt.Errorf("no branch or tag %q", ref)
}

// cloneFiles clones the repository into memory and returns the files of commit.
func cloneFiles(ctx context.Context, repoURL string, auth transport.AuthMethod, commit string) ([]file, error) {
	repo, err := git.CloneContext(ctx, memory.NewStorage(), nil, &git.CloneOptions{URL: repoURL, Auth: auth, NoCheckout: true, Tags: git.AllTags})
	if err != nil {
		return nil, err
	}
	c, err := repo.CommitObject(plumbing.NewHash(commit))
	if err != nil {
		return nil, err
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, err
	}
	var files []file
	var total int64
	err = tree.Files().ForEach(func(f *object.File) error {
		if !f.Mode.IsFile() {
			return nil
		}
		if total += f.Size; total > maxModuleSize {
			return fmt.Errorf("larger than %d bytes", maxModuleSize)
		}
		r, err := f.Reader()
		if err != nil {
			return err
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		exec := f.Mode&0o111 != 0
		files = append(files, file{name: f.Name, exec: exec, data: b})
		return nil
	})
	return files, err
}
