// Package buildinfo says which build of strata is running: the module version, or the one given
// with -ldflags "-X main.version=…", and the VCS state the Go toolchain stamped into the binary
// (go build in a git checkout; not with -buildvcs=false). `strata version` prints it and the
// platform logs it at start. Nothing here keeps state.
package buildinfo
