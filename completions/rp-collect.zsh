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
'(--from)--run-id=[The run whose outputs to bring back (with --host)\: --from is then where runplz left them, \`runplz-out/<ID>\` (the \`run_id\` of its record)]:ID:_default' \
'--job=[The job file, as the JOB argument (kept for scripts that pass it this way)]:JOB:_files' \
'(--host --from --run-id --ssh-config)--from-tar=[An outputs archive (.tar.gz or .tar) to unpack instead]:FILE:_files' \
'--to=[The local folder the files go to (created if needed); default\: the job'\''s outputs folder (its \`outputs_dir\`, else \`out/\` beside the job file), as runplz]:DIR:_files' \
'--ssh-config=[An ssh config file passed to ssh and rsync as \`-F\` (env\: RUNPLZ_SSH_CONFIG)]:FILE:_files' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'-V[Print version]' \
'--version[Print version]' \
'::job_file -- The job file, as for every runplz tool (`-` reads stdin; default `./job.json`, read only when --to is not given)\: its outputs folder is the default --to, and with --host its `ssh.user`, `ssh.port` and `ssh.ssh_key_path` are used for the connection:_files' \
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
