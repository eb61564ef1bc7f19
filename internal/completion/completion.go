package completion

import (
	_ "embed"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Command is one command to complete.
type Command struct {
	Name   string
	Flags  []string // "--name" for every flag, sorted
	Valued []string // "--name" and "-name" for every flag that takes a value
}

// usageFlag matches a flag line of flag.PrintDefaults: "  -name" (bool) or "  -name type".
var usageFlag = regexp.MustCompile(`(?m)^  -([\w.-]+)(?: (\S+))?\s*$`)

// Flags reads a command's flags from its usage as flag.PrintDefaults writes it.
func Flags(name, usage string) Command {
	c := Command{Name: name}
	for _, m := range usageFlag.FindAllStringSubmatch(usage, -1) {
		c.Flags = append(c.Flags, "--"+m[1])
		if m[2] != "" {
			c.Valued = append(c.Valued, "--"+m[1], "-"+m[1])
		}
	}
	slices.Sort(c.Flags)
	c.Flags = slices.Compact(c.Flags)
	return c
}

// bashTemplate is the completion function; a flag's value is not counted as a positional
// argument, so `strata deploy --update KIND FILE` completes KIND then files.
//
//go:embed bash.sh
var bashTemplate string

// Bash is the bash completion script for cmds, with kinds as the words of deploy's and list's
// first argument.
func Bash(cmds []Command, kinds []string) string {
	var names, cases []string
	for _, c := range cmds {
		names = append(names, c.Name)
		if len(c.Flags) > 0 {
			cases = append(cases, fmt.Sprintf("        %s) flags=%q; valued=%q ;;", c.Name, strings.Join(c.Flags, " "), " "+strings.Join(c.Valued, " ")+" "))
		}
	}
	r := strings.NewReplacer(
		"@COMMANDS@", strings.Join(names, " "),
		"@FLAGS@", strings.Join(cases, "\n"),
		"@KINDS@", strings.Join(kinds, " "),
	)
	return r.Replace(bashTemplate)
}

// Zsh is the zsh completion script: zsh runs the bash function through bashcompinit, so both
// shells complete alike.
func Zsh(cmds []Command, kinds []string) string {
	return "#compdef strata\n\nautoload -U +X bashcompinit && bashcompinit\n" + Bash(cmds, kinds)
}
