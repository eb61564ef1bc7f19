package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Version is a build's version as `strata version --output json` writes it.
type Version struct {
	Version  string `json:"version"`            // module version, e.g. v0.0.0-20261206050000-9fb0555def00+dirty
	Commit   string `json:"commit,omitempty"`   // vcs.revision
	Time     string `json:"time,omitempty"`     // vcs.time, the commit's time
	Modified bool   `json:"modified,omitempty"` // vcs.modified: built from a tree with uncommitted changes
	Go       string `json:"go"`
}

// Read reads a version from ldflags (the value given with -ldflags "-X …", may be empty) and
// the build info.
func Read(ldflags string, bi *debug.BuildInfo) Version {
	v := Version{Version: ldflags}
	if bi == nil {
		if v.Version == "" {
			v.Version = "unknown"
		}
		return v
	}
	v.Go = bi.GoVersion
	if v.Version == "" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	if v.Version == "" {
		v.Version = "(devel)"
	}
	return v
}

// Current is the running binary's version; ldflags as for Read.
func Current(ldflags string) Version {
	bi, _ := debug.ReadBuildInfo()
	return Read(ldflags, bi)
}

// String is the one-line form: "v0.0.0-… commit 9fb0555def00 (2026-12-06T05:00:00Z, modified) go1.26.8".
func (v Version) String() string {
	var b strings.Builder
	b.WriteString(v.Version)
	if v.Commit != "" {
		fmt.Fprintf(&b, " commit %s (%s", v.Commit, v.Time)
		if v.Modified {
			b.WriteString(", modified")
		}
		b.WriteString(")")
	} else if v.Version == "(devel)" {
		b.WriteString(" (no VCS information: built outside a git checkout or with -buildvcs=false)")
	}
	if v.Go != "" {
		b.WriteString(" " + v.Go)
	}
	return b.String()
}

// Short is the version for logs: the module version and the commit's first 12 digits, unless
// the version already names them.
func (v Version) Short() string {
	short := v.Commit[:min(12, len(v.Commit))]
	if v.Commit == "" || strings.Contains(v.Version, short) {
		return v.Version
	}
	return v.Version + " " + short
}
