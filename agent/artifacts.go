package agent

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	"github.com/strata-paas/strata/internal/model"
)

// superTenantID is Stratos' super tenant (-1234).
const superTenantID = "-1234"

// repo is what a checkout needs from an ArtifactUpdatedEvent, with the password decrypted.
type repo struct {
	url, user, password, tenantID string
	commitEnabled                 bool
}

// artifactRetryMax caps the wait between attempts at an update that failed: a member whose
// first checkout fails cannot activate, so the update is retried until it succeeds, a newer
// ArtifactUpdatedEvent replaces it, or the agent stops.
const artifactRetryMax = 2 * time.Minute

// artifactLoop serializes every checkout: ArtifactUpdatedEvents (§7.3 step 8) and, after the
// first successful one, the periodic update every ArtifactUpdateInterval (auto-commit, then
// auto-checkout). An update that fails (after the clone's own retries) is tried again, waiting
// CloneInterval, then twice as long each time up to artifactRetryMax.
func (a *Agent) artifactLoop(ctx context.Context) {
	var (
		last     *repo
		tick     <-chan time.Time
		stopTick = func() {}
		failed   *model.ArtifactUpdatedEvent // the update to try again when retryT fires
		retryT   *time.Timer
		wait     time.Duration
	)
	defer func() {
		stopTick()
		if retryT != nil {
			retryT.Stop()
		}
	}()
	// update returns an error worth retrying; a refused event is logged and not retried.
	update := func(ev *model.ArtifactUpdatedEvent) error {
		r, err := a.repoFromEvent(ev)
		if err != nil {
			a.log.Error("artifact update refused", "repo_url", ev.RepoURL, "error", err)
			return nil
		}
		if err := a.checkout(ctx, r, true); err != nil {
			return err
		}
		a.log.Info("artifacts checked out", "repo_url", r.url, "path", a.repoPath(r.tenantID))
		a.extension(ctx, ExtArtifactUpdated, map[string]string{
			"ARTIFACT_UPDATED_CLUSTER_ID":    ev.ClusterID,
			"ARTIFACT_UPDATED_TENANT_ID":     r.tenantID,
			"ARTIFACT_UPDATED_REPO_URL":      r.url,
			"ARTIFACT_UPDATED_REPO_PASSWORD": r.password,
			"ARTIFACT_UPDATED_REPO_USERNAME": r.user,
			"ARTIFACT_UPDATED_STATUS":        ev.Status,
		})
		a.activate(ctx)
		if last == nil && a.cfg.ArtifactUpdate && (a.cfg.AutoCheckout || a.cfg.AutoCommit) {
			t := time.NewTicker(a.cfg.ArtifactUpdateInterval)
			tick, stopTick = t.C, t.Stop
		}
		last = r
		return nil
	}
	for {
		var ev *model.ArtifactUpdatedEvent
		var retry <-chan time.Time // nil, never ready, without a retry pending
		if retryT != nil {
			retry = retryT.C
		}
		select {
		case <-ctx.Done():
			return
		case ev = <-a.artifactReq:
			wait = 0 // a new request starts its own back-off
		case <-retry:
			ev = failed
		case <-tick:
			if a.cfg.AutoCommit && last.commitEnabled {
				if err := a.commit(ctx, last); err != nil && ctx.Err() == nil {
					a.log.Warn("artifact auto-commit failed", "error", err)
				}
			}
			if a.cfg.AutoCheckout {
				if err := a.checkout(ctx, last, false); err != nil && ctx.Err() == nil {
					a.log.Warn("periodic artifact update failed", "error", err)
				}
			}
			continue
		}
		if retryT != nil {
			retryT.Stop()
			retryT, failed = nil, nil
		}
		if err := update(ev); err != nil && ctx.Err() == nil {
			wait = min(max(2*wait, a.cfg.CloneInterval), artifactRetryMax)
			a.log.Error("artifact update failed; trying again", "repo_url", ev.RepoURL, "in", wait, "error", err)
			failed, retryT = ev, time.NewTimer(wait)
		}
	}
}

func (a *Agent) repoFromEvent(ev *model.ArtifactUpdatedEvent) (*repo, error) {
	r := &repo{url: ev.RepoURL, user: ev.RepoUserName, tenantID: string(ev.TenantID), commitEnabled: bool(ev.CommitEnabled)}
	if r.url == "" {
		r.url = a.cfg.RepoURL
	}
	if r.url == "" {
		return nil, errors.New("no repository URL in the event or the payload")
	}
	if r.tenantID == "" {
		r.tenantID = a.cfg.TenantID
	}
	if ev.RepoPassword != "" {
		p, err := model.DecryptPassword(a.cfg.CartridgeKey, ev.RepoPassword)
		if err != nil {
			return nil, fmt.Errorf("decrypt repository password with CARTRIDGE_KEY: %w", err)
		}
		r.password = p
	}
	return r, nil
}

// repoPath is where a tenant's artifacts go, as the PCA decides: APPLICATION_PATH for a
// single-tenant cartridge; under it, super.tenant.repository.path or tenant.repository.path/<id>
// for a multi-tenant one.
func (a *Agent) repoPath(tenantID string) string {
	base := a.cfg.ApplicationPath
	if !a.cfg.Multitenant {
		return base
	}
	if tenantID == superTenantID {
		return filepath.Join(base, a.cfg.SuperTenantRepoPath)
	}
	return filepath.Join(base, a.cfg.TenantRepoPath, tenantID)
}

func authFor(r *repo) transport.AuthMethod {
	if r.user == "" && r.password == "" {
		return nil
	}
	if strings.HasPrefix(r.url, "http://") || strings.HasPrefix(r.url, "https://") {
		return &githttp.BasicAuth{Username: r.user, Password: r.password}
	}
	return nil
}

// checkout clones the repository into its path, or brings an existing clone to the remote's
// state. A first clone is retried CloneRetries times, CloneInterval apart, when retry is set.
func (a *Agent) checkout(ctx context.Context, r *repo, retry bool) error {
	dir := a.repoPath(r.tenantID)
	if dir == "" {
		return errors.New("no APPLICATION_PATH to check out into")
	}
	g, err := git.PlainOpen(dir)
	if err == nil {
		return a.sync(ctx, g, r)
	}
	if !errors.Is(err, git.ErrRepositoryNotExists) {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	tries := 1
	if retry {
		tries = a.cfg.CloneRetries
	}
	for i := 1; ; i++ {
		_, err = git.PlainCloneContext(ctx, dir, false, &git.CloneOptions{URL: r.url, Auth: authFor(r)})
		switch {
		case err == nil:
			return nil
		case errors.Is(err, transport.ErrEmptyRemoteRepository):
			// Nothing to check out yet; keep an initialized clone so later updates pull.
			return nil
		}
		if g, oerr := git.PlainOpen(dir); oerr == nil {
			// The clone went into an existing directory and left a repository behind.
			if serr := a.sync(ctx, g, r); serr == nil {
				return nil
			}
		}
		if i >= tries || ctx.Err() != nil {
			return fmt.Errorf("clone %s into %s (%d tries): %w", r.url, dir, i, err)
		}
		a.log.Warn("clone failed, retrying", "repo_url", r.url, "attempt", i, "error", err)
		t := time.NewTimer(a.cfg.CloneInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// sync fetches from origin (pointing it at r.url first) and resets the work tree hard to the
// remote branch: the repository is the source of truth for a member's artifacts, and local
// changes worth keeping were committed by the auto-commit before.
func (a *Agent) sync(ctx context.Context, g *git.Repository, r *repo) error {
	if rem, err := g.Remote("origin"); err != nil || len(rem.Config().URLs) == 0 || rem.Config().URLs[0] != r.url {
		_ = g.DeleteRemote("origin")
		if _, err := g.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{r.url}}); err != nil {
			return fmt.Errorf("set origin: %w", err)
		}
	}
	auth := authFor(r)
	err := g.FetchContext(ctx, &git.FetchOptions{
		RemoteName: "origin", Auth: auth, Force: true,
		RefSpecs: []config.RefSpec{"+refs/heads/*:refs/remotes/origin/*"},
	})
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return nil
	default:
		return fmt.Errorf("fetch %s: %w", r.url, err)
	}
	branch, err := a.branch(ctx, g, auth)
	if err != nil {
		return err
	}
	remoteRef, err := g.Reference(plumbing.NewRemoteReferenceName("origin", branch.Short()), true)
	if err != nil {
		return fmt.Errorf("remote branch %s: %w", branch.Short(), err)
	}
	wt, err := g.Worktree()
	if err != nil {
		return fmt.Errorf("worktree: %w", err)
	}
	head, err := g.Head()
	if err != nil || head.Name() != branch {
		// An unborn or other branch: check the remote branch out as a local one.
		if err := wt.Checkout(&git.CheckoutOptions{Branch: branch, Hash: remoteRef.Hash(), Create: !a.hasBranch(g, branch), Force: true}); err != nil {
			return fmt.Errorf("checkout %s: %w", branch.Short(), err)
		}
	}
	if err := wt.Reset(&git.ResetOptions{Commit: remoteRef.Hash(), Mode: git.HardReset}); err != nil {
		return fmt.Errorf("reset to %s: %w", remoteRef.Hash(), err)
	}
	return nil
}

func (a *Agent) hasBranch(g *git.Repository, b plumbing.ReferenceName) bool {
	_, err := g.Reference(b, false)
	return err == nil
}

// branch is the local branch to follow: HEAD's, or the remote's default when HEAD is unborn.
func (a *Agent) branch(ctx context.Context, g *git.Repository, auth transport.AuthMethod) (plumbing.ReferenceName, error) {
	if head, err := g.Reference(plumbing.HEAD, false); err == nil && head.Type() == plumbing.SymbolicReference {
		if _, err := g.Reference(plumbing.NewRemoteReferenceName("origin", head.Target().Short()), true); err == nil {
			return head.Target(), nil
		}
	}
	rem, err := g.Remote("origin")
	if err != nil {
		return "", fmt.Errorf("origin: %w", err)
	}
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: auth})
	if err != nil {
		return "", fmt.Errorf("list %s: %w", rem.Config().URLs[0], err)
	}
	for _, ref := range refs {
		if ref.Name() == plumbing.HEAD && ref.Type() == plumbing.SymbolicReference {
			return ref.Target(), nil
		}
	}
	for _, ref := range refs {
		if ref.Name().IsBranch() {
			return ref.Name(), nil
		}
	}
	return "", errors.New("the remote has no branch")
}

// commit commits every local change and pushes it (auto.commit, when the ArtifactUpdatedEvent
// set commitEnabled).
func (a *Agent) commit(ctx context.Context, r *repo) error {
	g, err := git.PlainOpen(a.repoPath(r.tenantID))
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	wt, err := g.Worktree()
	if err != nil {
		return fmt.Errorf("worktree: %w", err)
	}
	st, err := wt.Status()
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if st.IsClean() {
		return nil
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		return fmt.Errorf("add: %w", err)
	}
	sig := &object.Signature{Name: "Strata agent", Email: "agent@strata.invalid", When: a.cfg.Now()}
	if _, err := wt.Commit("Strata agent: commit of local changes by "+a.cfg.MemberID, &git.CommitOptions{Author: sig}); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	err = g.PushContext(ctx, &git.PushOptions{RemoteName: "origin", Auth: authFor(r)})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return fmt.Errorf("push: %w", err)
	}
	return nil
}
