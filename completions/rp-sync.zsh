#compdef rp-sync

autoload -U is-at-least

_rp-sync() {
    typeset -A opt_args
    typeset -a _arguments_options
    local ret=1

    if is-at-least 5.2; then
        _arguments_options=(-s -S -C)
    else
        _arguments_options=(-s -C)
    fi

    local context curcontext="$curcontext" state line
    _arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
&& ret=0
}

(( $+functions[_rp-sync_commands] )) ||
_rp-sync_commands() {
    local commands; commands=()
    _describe -t commands 'rp-sync commands' commands "$@"
}

if [ "$funcstack[1]" = "_rp-sync" ]; then
    _rp-sync "$@"
else
    compdef _rp-sync rp-sync
fi
