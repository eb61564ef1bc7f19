// Package completion writes the shell completion scripts of the strata command: one bash
// function (bash.sh) that zsh runs through bashcompinit, filled in with the commands, each
// command's flags and those of them that take a value, and the kinds deploy and list take.
//
// The flags come from each command's own usage, what flag.PrintDefaults prints for `strata CMD
// -h` (Flags reads it), so the script cannot miss a flag a command has. Nothing here keeps state
// or runs concurrently.
package completion
