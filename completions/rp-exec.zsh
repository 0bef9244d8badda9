#compdef rp-exec

autoload -U is-at-least

_rp-exec() {
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
'--host=[Run on this box\: \`\[user@\]host\[\:port\]\` or an ssh-config alias. Without it, run here]:HOST:_default' \
'--job=[A job.json (\`-\` reads stdin) whose \`ssh.user\`, \`ssh.port\` and \`ssh.ssh_key_path\` are used for the connection (with --host; a user or port in --host wins)]:JOB:_files' \
'--ssh-config=[ssh config file, passed to ssh as \`-F\` (default\: \$RUNPLZ_SSH_CONFIG, else ssh'\''s own)]:FILE:_files' \
'--timeout=[Hard wall-clock limit in seconds (fractions allowed, at most 2592000, 30 days); past it the command is stopped and rp-exec exits 124. Without it the command runs until it ends]:SECS:_default' \
'--max-inactivity=[The inactivity watch\: act when the command prints nothing for this many seconds (at most 2592000); see --inactivity-action. On a box it runs there, in whole seconds (and under runplz a new file in the run'\''s outputs folder counts as activity too)]:SECS:_default' \
'--inactivity-action=[What the inactivity watch does\: \`diagnose\` says on stderr what the command'\''s processes are doing (ps, load, GPUs, its last lines) and lets it run on, each time it is quiet that long; \`terminate\` stops it as at a deadline (exit 124, ending "inactive")]:ACTION:(diagnose terminate)' \
'--grace=[Seconds between TERM and KILL when the command is stopped (at most 2592000)]:SECS:_default' \
'--workdir=[Working directory, created when missing. \`~\` is the home directory and \`~/x\` is x in it, here and on a box (\`~user\` is refused); other relative paths are relative to the home on a box, and to the current directory here]:DIR:_default' \
'*--env=[Set K=V in the command'\''s environment (repeatable; K must be a shell identifier). The value shows in \`ps\` on this machine while rp-exec runs\: pass secrets with --env-file. A --env K=V replaces the --env-file'\''s K]:K=V:_default' \
'--env-file=[Read the command'\''s environment from FILE, a JSON object of strings, e.g. \`{"WANDB_API_KEY"\: "...", "MODE"\: "offline"}\` (keys shell identifiers). Values travel byte for byte and never appear on a command line. Applied before --env]:FILE:_files' \
'--stdin=[Feed this file to the command'\''s stdin (default\: /dev/null), e.g. a Dockerfile for \`docker build -f - .\` or a script for \`bash -s\`]:FILE:_files' \
'--log=[Also append the command'\''s output to this file]:FILE:_files' \
'--run-id=[The run id the command carries as RUNPLZ_RUN_ID (\[A-Za-z0-9._-\]; default\: a fresh one from the time, rp-exec'\''s pid and random bits)]:ID:_default' \
'--json[Print the JSON record on stdout (see OUTPUT), sending the command'\''s stdout to stderr; as \`cargo --message-format=json\`]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'-V[Print version]' \
'--version[Print version]' \
'*::command -- The command and its arguments (after `--` when an argument starts with `-`):_default' \
&& ret=0
}

(( $+functions[_rp-exec_commands] )) ||
_rp-exec_commands() {
    local commands; commands=()
    _describe -t commands 'rp-exec commands' commands "$@"
}

if [ "$funcstack[1]" = "_rp-exec" ]; then
    _rp-exec "$@"
else
    compdef _rp-exec rp-exec
fi
