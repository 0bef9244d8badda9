#compdef rp-image

autoload -U is-at-least

_rp-image() {
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
'-f+[What to render]:FORMAT:((dockerfile\:"A Dockerfile\: \`FROM\`, one layer per step, \`WORKDIR /workspace\`; the repo root is the build context. A \`from_dockerfile\` job prints the user'\''s Dockerfile unchanged"
shell\:"A bash script applying the steps on a box that already runs the base image, from the workspace root\: waits for another apt/dpkg, repairs dpkg, uses sudo when not root, pip installs with the first \`python3\` on PATH. Safe to run again"
modal\:"A JSON record listing the Modal image chain (\`modal.Image\` method names and arguments) for a Python driver to replay"))' \
'--format=[What to render]:FORMAT:((dockerfile\:"A Dockerfile\: \`FROM\`, one layer per step, \`WORKDIR /workspace\`; the repo root is the build context. A \`from_dockerfile\` job prints the user'\''s Dockerfile unchanged"
shell\:"A bash script applying the steps on a box that already runs the base image, from the workspace root\: waits for another apt/dpkg, repairs dpkg, uses sudo when not root, pip installs with the first \`python3\` on PATH. Safe to run again"
modal\:"A JSON record listing the Modal image chain (\`modal.Image\` method names and arguments) for a Python driver to replay"))' \
'--context=[With \`--format dockerfile\`\: also write the docker build context to FILE, a tar of the job'\''s folder minus secrets, caches and \`sync.exclude\` (exactly what rp-sync ships) plus the Dockerfile as \`.runplz.Dockerfile\`, for \`docker build -f .runplz.Dockerfile - < FILE\`. Its files are scanned for secrets first, as rp-sync'\''s are (the job'\''s \`sync.secret_scan\` and \`sync.allow_secrets\` apply)\: a finding is exit 4 and FILE is not written]:FILE:_files' \
'--json[Print a JSON record instead of the raw text]' \
'--skip-apt[With \`--format shell\`\: skip \`apt_install\` steps]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'-V[Print version]' \
'--version[Print version]' \
'::job -- The job file, or `-` for standard input:_files' \
&& ret=0
}

(( $+functions[_rp-image_commands] )) ||
_rp-image_commands() {
    local commands; commands=()
    _describe -t commands 'rp-image commands' commands "$@"
}

if [ "$funcstack[1]" = "_rp-image" ]; then
    _rp-image "$@"
else
    compdef _rp-image rp-image
fi
