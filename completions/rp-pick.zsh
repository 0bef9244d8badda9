#compdef rp-pick

autoload -U is-at-least

_rp-pick() {
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
'--job=[The job file whose \`resources\` and \`brev\` settings are used (\`-\` reads stdin)]:JOB:_files' \
'--catalog=[Read offers from this file, in \`brev search --json\`'\''s shape (\`-\` reads stdin), instead of running \`brev search\`]:FILE:_files' \
'(--all)--top=[How many ranked types to list (default\: the job'\''s \`brev.instance_type_fallback_count\`, else 3)]:N:_default' \
'--gpu=[GPU model wanted, matched by name words, ignoring case\: \`A100\` matches \`A100\`, \`A10\` does not]:MODEL:_default' \
'--num-gpus=[At least this many GPUs (default 1 when a model or VRAM is asked)]:N:_default' \
'--min-cpu=[Minimum vCPUs (the job'\''s \`min_cpu\`)]:N:_default' \
'--min-ram=[Minimum RAM, GB (the job'\''s \`min_memory\`)]:GB:_default' \
'--min-vram=[Minimum VRAM per GPU, GB (the job'\''s \`min_gpu_memory\`)]:GB:_default' \
'--min-disk=[Minimum disk, GB (the job'\''s \`min_disk\`; a type whose disk can grow that large fits)]:GB:_default' \
'--max-price=[Highest price, US dollars per hour]:USD_PER_HOUR:_default' \
'--provider=[Only providers whose name contains this, ignoring case (as \`brev search --provider\`)]:P:_default' \
'--all[List every matching offer, ranked]' \
'--table[Print a table for people on stdout instead of the JSON record]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'-V[Print version]' \
'--version[Print version]' \
&& ret=0
}

(( $+functions[_rp-pick_commands] )) ||
_rp-pick_commands() {
    local commands; commands=()
    _describe -t commands 'rp-pick commands' commands "$@"
}

if [ "$funcstack[1]" = "_rp-pick" ]; then
    _rp-pick "$@"
else
    compdef _rp-pick rp-pick
fi
