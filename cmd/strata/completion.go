package main

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
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
	script := bashCompletion()
	if args[0] == "zsh" {
		// zsh runs the bash function through bashcompinit, so both shells complete alike.
		script = "#compdef strata\n\nautoload -U +X bashcompinit && bashcompinit\n" + script
	}
	_, _ = io.WriteString(stdout, script)
	return 0
}

// usageFlag matches a flag line of flag.PrintDefaults: "  -name" (bool) or "  -name type".
var usageFlag = regexp.MustCompile(`(?m)^  -([\w.-]+)(?: (\S+))?\s*$`)

// commandFlags returns a command's flags, "--name" and "-name", and those that take a value.
func commandFlags(c command) (flags, valued []string) {
	var usage bytes.Buffer
	c.run([]string{"-h"}, io.Discard, &usage)
	for _, m := range usageFlag.FindAllStringSubmatch(usage.String(), -1) {
		flags = append(flags, "--"+m[1])
		if m[2] != "" {
			valued = append(valued, "--"+m[1], "-"+m[1])
		}
	}
	slices.Sort(flags)
	return slices.Compact(flags), valued
}

func bashCompletion() string {
	var names, cases []string
	for _, c := range commands() {
		names = append(names, c.name)
		flags, valued := commandFlags(c)
		if len(flags) > 0 {
			cases = append(cases, fmt.Sprintf("        %s) flags=%q; valued=%q ;;", c.name, strings.Join(flags, " "), " "+strings.Join(valued, " ")+" "))
		}
	}
	var kindWords []string
	for _, k := range kinds {
		kindWords = append(kindWords, k.plural, k.name, k.restName())
	}
	r := strings.NewReplacer(
		"@COMMANDS@", strings.Join(names, " "),
		"@FLAGS@", strings.Join(cases, "\n"),
		"@KINDS@", strings.Join(kindWords, " "),
	)
	return r.Replace(bashTemplate)
}

// bashTemplate is the completion function; a flag's value is not counted as a positional
// argument, so `strata deploy --update KIND FILE` completes KIND then files.
const bashTemplate = `# bash completion for strata. Load it with: source <(strata completion bash)
_strata() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    COMPREPLY=()
    if (( COMP_CWORD == 1 )); then
        COMPREPLY=($(compgen -W "@COMMANDS@" -- "$cur"))
        return 0
    fi
    local cmd=${COMP_WORDS[1]} flags="" valued=" "
    case $cmd in
@FLAGS@
    esac
    case $prev in
        --output|-output)
            COMPREPLY=($(compgen -W "table json yaml" -- "$cur"))
            return 0 ;;
    esac
    if [[ $valued == *" $prev "* ]]; then
        COMPREPLY=($(compgen -f -- "$cur"))
        return 0
    fi
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
        return 0
    fi
    local i n=0 w
    for (( i = 2; i < COMP_CWORD; i++ )); do
        w=${COMP_WORDS[i]}
        if [[ $w == -* ]]; then
            [[ $valued == *" $w "* ]] && (( i++ ))
            continue
        fi
        (( n++ ))
    done
    case $cmd in
        deploy)
            if (( n == 0 )); then
                COMPREPLY=($(compgen -W "@KINDS@" -- "$cur"))
            else
                COMPREPLY=($(compgen -f -- "$cur"))
            fi ;;
        list)
            if (( n == 0 )); then
                COMPREPLY=($(compgen -W "@KINDS@" -- "$cur"))
            fi ;;
        policy)
            if (( n == 0 )); then
                COMPREPLY=($(compgen -W "check test replay" -- "$cur"))
            else
                COMPREPLY=($(compgen -d -- "$cur"))
            fi ;;
        completion)
            if (( n == 0 )); then
                COMPREPLY=($(compgen -W "bash zsh" -- "$cur"))
            fi ;;
        *)
            COMPREPLY=($(compgen -f -- "$cur")) ;;
    esac
    return 0
}
complete -F _strata strata
`
