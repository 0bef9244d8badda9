#compdef rp-box

autoload -U is-at-least

_rp-box() {
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
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'-V[Print version]' \
'--version[Print version]' \
":: :_rp-box_commands" \
"*::: :->rp-box" \
&& ret=0
    case $state in
    (rp-box)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:rp-box-command-$line[1]:"
        case $line[1] in
            (create)
_arguments "${_arguments_options[@]}" : \
'--type=[Instance types to try in order, comma-separated (brev'\''s fallback chain)]:T[,T...]:_default' \
'--job=[The job whose name, image and \`brev.mode\` are used]:JOB:_files' \
'--mode=[\`container\` (the box is --container-image) or \`vm\`; default from --job, else vm]:MODE:(container vm)' \
'--container-image=[The image of a container-mode box; default the job'\''s \`image.from_registry\`]:IMAGE:_default' \
'-h[Print help]' \
'--help[Print help]' \
'::name -- The box'\''s name; default `runplz-<job>-<8 hex>` (needs --job):_default' \
&& ret=0
;;
(start)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
':name -- The box:_default' \
&& ret=0
;;
(wait)
_arguments "${_arguments_options[@]}" : \
'--timeout=[Give up after this many seconds (exit 124)]:SECONDS:_default' \
'--ssh-config=[Write the ssh config that reaches the box (Host NAME, over brev'\''s own) here]:FILE:_files' \
'--user-ssh-config=[Your own ssh config, included after brev'\''s (default ~/.ssh/config)]:FILE:_files' \
'-h[Print help]' \
'--help[Print help]' \
':name -- The box:_default' \
&& ret=0
;;
(stop)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
':name -- The box:_default' \
&& ret=0
;;
(delete)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
':name -- The box:_default' \
&& ret=0
;;
(status)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
':name -- The box:_default' \
&& ret=0
;;
(ls)
_arguments "${_arguments_options[@]}" : \
'--all[Every box, not only runplz'\''s]' \
'--table[A table for people instead of the JSON record]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_rp-box__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:rp-box-help-command-$line[1]:"
        case $line[1] in
            (create)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(start)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(wait)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(stop)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(delete)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(status)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(ls)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
}

(( $+functions[_rp-box_commands] )) ||
_rp-box_commands() {
    local commands; commands=(
'create:Create a box (detached). Types from --type, else rp-pick'\''s record on stdin' \
'start:Start a stopped box (a running one is left as it is)' \
'wait:Wait until the box is RUNNING with its shell READY, then until ssh answers' \
'stop:Stop the box' \
'delete:Delete the box (a box that is not there is deleted)' \
'status:The box as \`brev ls\` shows it (null when there is none; exit 0 either way)' \
'ls:runplz'\''s boxes (\`runplz-*\`), or every box with --all' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'rp-box commands' commands "$@"
}
(( $+functions[_rp-box__subcmd__create_commands] )) ||
_rp-box__subcmd__create_commands() {
    local commands; commands=()
    _describe -t commands 'rp-box create commands' commands "$@"
}
(( $+functions[_rp-box__subcmd__delete_commands] )) ||
_rp-box__subcmd__delete_commands() {
    local commands; commands=()
    _describe -t commands 'rp-box delete commands' commands "$@"
}
(( $+functions[_rp-box__subcmd__help_commands] )) ||
_rp-box__subcmd__help_commands() {
    local commands; commands=(
'create:Create a box (detached). Types from --type, else rp-pick'\''s record on stdin' \
'start:Start a stopped box (a running one is left as it is)' \
'wait:Wait until the box is RUNNING with its shell READY, then until ssh answers' \
'stop:Stop the box' \
'delete:Delete the box (a box that is not there is deleted)' \
'status:The box as \`brev ls\` shows it (null when there is none; exit 0 either way)' \
'ls:runplz'\''s boxes (\`runplz-*\`), or every box with --all' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'rp-box help commands' commands "$@"
}
(( $+functions[_rp-box__subcmd__help__subcmd__create_commands] )) ||
_rp-box__subcmd__help__subcmd__create_commands() {
    local commands; commands=()
    _describe -t commands 'rp-box help create commands' commands "$@"
}
(( $+functions[_rp-box__subcmd__help__subcmd__delete_commands] )) ||
_rp-box__subcmd__help__subcmd__delete_commands() {
    local commands; commands=()
    _describe -t commands 'rp-box help delete commands' commands "$@"
}
(( $+functions[_rp-box__subcmd__help__subcmd__help_commands] )) ||
_rp-box__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'rp-box help help commands' commands "$@"
}
(( $+functions[_rp-box__subcmd__help__subcmd__ls_commands] )) ||
_rp-box__subcmd__help__subcmd__ls_commands() {
    local commands; commands=()
    _describe -t commands 'rp-box help ls commands' commands "$@"
}
(( $+functions[_rp-box__subcmd__help__subcmd__start_commands] )) ||
_rp-box__subcmd__help__subcmd__start_commands() {
    local commands; commands=()
    _describe -t commands 'rp-box help start commands' commands "$@"
}
(( $+functions[_rp-box__subcmd__help__subcmd__status_commands] )) ||
_rp-box__subcmd__help__subcmd__status_commands() {
    local commands; commands=()
    _describe -t commands 'rp-box help status commands' commands "$@"
}
(( $+functions[_rp-box__subcmd__help__subcmd__stop_commands] )) ||
_rp-box__subcmd__help__subcmd__stop_commands() {
    local commands; commands=()
    _describe -t commands 'rp-box help stop commands' commands "$@"
}
(( $+functions[_rp-box__subcmd__help__subcmd__wait_commands] )) ||
_rp-box__subcmd__help__subcmd__wait_commands() {
    local commands; commands=()
    _describe -t commands 'rp-box help wait commands' commands "$@"
}
(( $+functions[_rp-box__subcmd__ls_commands] )) ||
_rp-box__subcmd__ls_commands() {
    local commands; commands=()
    _describe -t commands 'rp-box ls commands' commands "$@"
}
(( $+functions[_rp-box__subcmd__start_commands] )) ||
_rp-box__subcmd__start_commands() {
    local commands; commands=()
    _describe -t commands 'rp-box start commands' commands "$@"
}
(( $+functions[_rp-box__subcmd__status_commands] )) ||
_rp-box__subcmd__status_commands() {
    local commands; commands=()
    _describe -t commands 'rp-box status commands' commands "$@"
}
(( $+functions[_rp-box__subcmd__stop_commands] )) ||
_rp-box__subcmd__stop_commands() {
    local commands; commands=()
    _describe -t commands 'rp-box stop commands' commands "$@"
}
(( $+functions[_rp-box__subcmd__wait_commands] )) ||
_rp-box__subcmd__wait_commands() {
    local commands; commands=()
    _describe -t commands 'rp-box wait commands' commands "$@"
}

if [ "$funcstack[1]" = "_rp-box" ]; then
    _rp-box "$@"
else
    compdef _rp-box rp-box
fi
