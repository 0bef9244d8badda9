#compdef rp-collect

autoload -U is-at-least

_rp-collect() {
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
'--host=[The box\: \`\[user@\]host\[\:port\]\` or an alias from your ssh config (with --from)]:HOST:_default' \
'--from=[The folder on the box to bring back (with --host). \`~\` is the home and \`~/x\` is x in it; another relative path is relative to the home (\`~user\` is refused)]:REMOTE_DIR:_default' \
'--job=[A job.json (\`-\` reads stdin) whose \`ssh.user\`, \`ssh.port\` and \`ssh.ssh_key_path\` are used for the connection (with --host; a user or port in --host wins)]:JOB:_files' \
'(--host --from --ssh-config --job)--from-tar=[An outputs archive (.tar.gz or .tar) to unpack instead]:FILE:_files' \
'--to=[The local folder the files go to (created if needed)]:DIR:_files' \
'--ssh-config=[An ssh config file passed to ssh and rsync as \`-F\` (env\: RUNPLZ_SSH_CONFIG)]:FILE:_files' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'-V[Print version]' \
'--version[Print version]' \
&& ret=0
}

(( $+functions[_rp-collect_commands] )) ||
_rp-collect_commands() {
    local commands; commands=()
    _describe -t commands 'rp-collect commands' commands "$@"
}

if [ "$funcstack[1]" = "_rp-collect" ]; then
    _rp-collect "$@"
else
    compdef _rp-collect rp-collect
fi
