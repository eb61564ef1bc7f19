package bootstrap

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/strata-paas/strata/agent"
	"github.com/strata-paas/strata/internal/model"
)

// Files of the install directory.
const (
	VersionFile = "VERSION"     // the installed module's version
	ModuleDir   = "module"      // the installed module's files; install.sh runs here
	InstallLog  = "install.log" // every install script's output, appended
	AgentFile   = "agent"       // an agent the module installed; the hand-over runs it
)

// The module store's protocol, as package controller/modules serves it (the agent does not
// import the controller).
const (
	InstallScript = "install.sh"            // the module's install script
	VersionHeader = "Strata-Module-Version" // a module's version in the store's answers
)

// Environment variables the install script receives besides the payload's keys (and
// model.EnvAgentConf and model.EnvLaunchParams).
const (
	EnvInstallDir      = "STRATA_INSTALL_DIR"
	EnvModuleVersion   = "STRATA_MODULE_VERSION"
	EnvPreviousVersion = "STRATA_MODULE_PREVIOUS_VERSION" // empty on a first install
	EnvExecutable      = "STRATA_EXECUTABLE"              // the strata binary
)

// maxArchive bounds a module download.
const maxArchive = 256 << 20

// Options configure Run.
type Options struct {
	// Conf is agent.conf (may be empty) and Payload the launch-params file, as `strata agent`
	// reads them.
	Conf, Payload string
	// Dir is the install directory (VERSION, module/, install.log, agent). Required.
	Dir string
	// Configured marks a fully configured cartridge: only a version other than VERSION is
	// installed, and a store that cannot be reached is no failure.
	Configured bool
	// Executable is the strata binary the default hand-over runs (`strata agent`).
	Executable string
	// WaitInitialized bounds the wait for the member to be Initialized; default 5 minutes.
	WaitInitialized time.Duration
	// Output receives the install script's output besides install.log (the member's log).
	Output io.Writer
	// Logger receives the bootstrapper's logs; nil discards them.
	Logger *slog.Logger
	// HTTP fetches from the store; nil: a client with a 2-minute timeout.
	HTTP *http.Client
}

// HandOver is the command Run hands over to: Path run with Args (Args[0] included) and Env.
type HandOver struct {
	Path string
	Args []string
	Env  []string
}

// Run installs the member's module when the store has a version other than the installed one,
// and returns the agent to hand over to.
func Run(ctx context.Context, o Options) (HandOver, error) {
	if o.Dir == "" {
		return HandOver{}, errors.New("bootstrap: no install directory")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Output == nil {
		o.Output = io.Discard
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 2 * time.Minute}
	}
	if o.WaitInitialized <= 0 {
		o.WaitInitialized = 5 * time.Minute
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return HandOver{}, fmt.Errorf("install directory: %w", err)
	}
	o.Dir = dir
	cfg, err := agent.LoadConfig(o.Conf, o.Payload)
	if err != nil {
		return HandOver{}, err
	}
	log := o.Logger.With("component", "init", "member_id", cfg.MemberID)
	base, _ := cfg.Payload.Get(model.PayloadModulesURL)
	if base == "" || base == "null" {
		return HandOver{}, fmt.Errorf("the payload has no %s: the platform serves no module store", model.PayloadModulesURL)
	}
	st := store{url: strings.TrimSuffix(base, "/") + "/" + cfg.ServiceName, user: cfg.BrokerUsername, password: cfg.BrokerPassword, http: o.HTTP}
	installed := readVersion(filepath.Join(dir, VersionFile))

	var archive []byte
	current := ""
	if o.Configured {
		if current, err = st.version(ctx); err != nil {
			if installed == "" {
				return HandOver{}, err
			}
			log.Warn("the module store cannot be reached; the installed module stays", "version", installed, "error", err)
			return o.handOver(), nil
		}
	} else if current, archive, err = st.module(ctx); err != nil {
		return HandOver{}, err
	}
	if current == installed {
		log.Info("the installed module is current", "version", installed)
		return o.handOver(), nil
	}
	if archive == nil {
		if current, archive, err = st.module(ctx); err != nil {
			return HandOver{}, err
		}
	}

	// The member is Starting while it installs.
	if err := announceStarted(ctx, cfg, o.WaitInitialized, log); err != nil {
		return HandOver{}, err
	}
	log.Info("installing the module", "cartridge_type", cfg.ServiceName, "version", current, "previous", installed)
	lines, err := o.install(ctx, cfg, archive, current, installed)
	publishLogs(ctx, cfg, lines, log)
	if err != nil {
		return HandOver{}, fmt.Errorf("install module %s %s: %w", cfg.ServiceName, current, err)
	}
	if err := os.WriteFile(filepath.Join(dir, VersionFile), []byte(current+"\n"), 0o644); err != nil {
		return HandOver{}, fmt.Errorf("write %s: %w", VersionFile, err)
	}
	log.Info("module installed", "version", current)
	return o.handOver(), nil
}

// handOver is the module's agent when it installed one, else `strata agent`.
func (o Options) handOver() HandOver {
	env := os.Environ()
	if p := filepath.Join(o.Dir, AgentFile); isExecutable(p) {
		return HandOver{Path: p, Args: []string{p}, Env: env}
	}
	args := []string{o.Executable, "agent", "--payload", o.Payload}
	if o.Conf != "" {
		args = append(args, "--conf", o.Conf)
	}
	return HandOver{Path: o.Executable, Args: args, Env: env}
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func readVersion(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// install unpacks the module into <dir>/module and runs its install script; it returns the
// script's output lines.
func (o Options) install(ctx context.Context, cfg agent.Config, archive []byte, version, previous string) ([]string, error) {
	modDir := filepath.Join(o.Dir, ModuleDir)
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(modDir); err != nil {
		return nil, err
	}
	if err := unpack(archive, modDir); err != nil {
		return nil, fmt.Errorf("unpack: %w", err)
	}
	logPath := filepath.Join(o.Dir, InstallLog)
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	start, _ := logFile.Seek(0, io.SeekEnd)
	cmd := exec.CommandContext(ctx, "/bin/sh", InstallScript)
	cmd.Dir = modDir
	cmd.Env = append(os.Environ(), cfg.Payload.Environ()...)
	cmd.Env = append(cmd.Env, EnvInstallDir+"="+o.Dir, EnvModuleVersion+"="+version, EnvPreviousVersion+"="+previous,
		EnvExecutable+"="+o.Executable, model.EnvAgentConf+"="+o.Conf, model.EnvLaunchParams+"="+o.Payload)
	// A file, not a pipe: a server the script starts in the background keeps its output open,
	// and the wait must end with the script.
	cmd.Stdout, cmd.Stderr = logFile, logFile
	runErr := cmd.Run()
	out, _ := os.ReadFile(logPath)
	if int64(len(out)) >= start {
		out = out[start:]
	}
	_, _ = o.Output.Write(out)
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(out) == 0 {
		lines = nil
	}
	if runErr != nil {
		if len(lines) > 0 {
			return lines, fmt.Errorf("%s: %w: %s", InstallScript, runErr, strings.TrimSpace(lines[len(lines)-1]))
		}
		return lines, fmt.Errorf("%s: %w", InstallScript, runErr)
	}
	return lines, nil
}

// unpack writes a gzipped tar of regular files under dir, refusing names that leave it.
func unpack(archive []byte, dir string) error {
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean(h.Name)
		if h.Typeflag != tar.TypeReg || path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("bad entry %q", h.Name)
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o755|0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, tr)
		if err := errors.Join(err, f.Close()); err != nil {
			return err
		}
	}
}

// store is the module store's URL for the member's cartridge type, with its credential.
type store struct {
	url, user, password string
	http                *http.Client
}

func (s store) get(ctx context.Context, url string) ([]byte, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", err
	}
	req.SetBasicAuth(s.user, s.password)
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("module store: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxArchive+1))
	if err != nil {
		return nil, "", fmt.Errorf("module store: GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("module store: GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	if len(b) > maxArchive {
		return nil, "", fmt.Errorf("module store: GET %s: larger than %d bytes", url, maxArchive)
	}
	v := resp.Header.Get(VersionHeader)
	if v == "" {
		return nil, "", fmt.Errorf("module store: GET %s: no %s", url, VersionHeader)
	}
	return b, v, nil
}

func (s store) version(ctx context.Context) (string, error) {
	_, v, err := s.get(ctx, s.url+"/version")
	return v, err
}

func (s store) module(ctx context.Context) (string, []byte, error) {
	b, v, err := s.get(ctx, s.url)
	return v, b, err
}
