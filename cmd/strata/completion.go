package main

import (
	"bytes"
	"fmt"
	"io"

	"github.com/strata-paas/strata/internal/completion"
	"github.com/strata-paas/strata/manager/client"
)

// runCompletion is `strata completion bash|zsh`: a shell completion script for commands, their
// flags, the kinds of deploy and list, --output's values and policy's subcommands. The flags are
// read from each command's own usage (what `strata CMD -h` prints), so the script cannot miss a
// flag a command has.
func runCompletion(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || (args[0] != "bash" && args[0] != "zsh") {
		fmt.Fprintln(stderr, "usage: strata completion bash|zsh")
		fmt.Fprintln(stderr, "  bash: source <(strata completion bash), or save it in /etc/bash_completion.d/strata")
		fmt.Fprintln(stderr, "  zsh:  source <(strata completion zsh), or save it as _strata in a directory of $fpath")
		return 2
	}
	var cmds []completion.Command
	for _, c := range commands() {
		var usage bytes.Buffer
		c.run([]string{"-h"}, io.Discard, &usage)
		cmds = append(cmds, completion.Flags(c.name, usage.String()))
	}
	var kinds []string
	for _, k := range client.Kinds {
		kinds = append(kinds, k.Plural, k.Name, k.RESTName())
	}
	script := completion.Bash(cmds, kinds)
	if args[0] == "zsh" {
		script = completion.Zsh(cmds, kinds)
	}
	_, _ = io.WriteString(stdout, script)
	return 0
}
