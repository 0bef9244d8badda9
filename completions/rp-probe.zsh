#compdef rp-probe

autoload -U is-at-least

_rp-probe() {
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
'--host=[The box\: \`\[user@\]host\[\:port\]\` or an alias from your ssh config]:HOST:_default' \
'--ssh-config=[An ssh config file passed to ssh as \`-F\` (env\: RUNPLZ_SSH_CONFIG)]:FILE:_files' \
'--gpu=[GPU model wanted, matched by name words, ignoring case\: \`A100\` matches \`NVIDIA A100-SXM4-80GB\`, \`A10\` does not]:MODEL:_default' \
'--num-gpus=[GPUs of that model wanted (default 1 when a model or GPU memory is asked)]:N:_default' \
'--min-cpu=[Minimum vCPUs]:N:_default' \
'--min-memory=[Minimum RAM, GB]:GB:_default' \
'--min-gpu-memory=[Minimum memory per GPU, GB]:GB:_default' \
'--min-disk=[Minimum size of the disk holding \`\$HOME\`, GB]:GB:_default' \
'--shm-gb=[Precondition\: free /dev/shm, GB]:GB:_default' \
'--disk-free-gb=[Precondition\: free disk in \`\$HOME\`, GB]:GB:_default' \
'--gpu-count=[Precondition\: GPUs visible]:N:_default' \
'--gpu-memory-gb=[Precondition\: memory per GPU, GB]:GB:_default' \
'--local[Probe this machine, without ssh]' \
'--table[Print a table for people on stdout instead of the JSON record]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'-V[Print version]' \
'--version[Print version]' \
'::job -- The job file whose `resources` and `preconditions` are checked (`-` reads stdin). Its `ssh.user`, `ssh.port` and `ssh.ssh_key_path` are used to connect:_files' \
&& ret=0
}

(( $+functions[_rp-probe_commands] )) ||
_rp-probe_commands() {
    local commands; commands=()
    _describe -t commands 'rp-probe commands' commands "$@"
}

if [ "$funcstack[1]" = "_rp-probe" ]; then
    _rp-probe "$@"
else
    compdef _rp-probe rp-probe
fi
