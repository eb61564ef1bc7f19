# bash completion for strata. Load it with: source <(strata completion bash)
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
