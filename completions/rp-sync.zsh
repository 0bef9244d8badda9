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
'--host=[The box\: \`\[user@\]host\[\:port\]\` or a Host alias from your ssh config. Not needed with --dry-run]:HOST:_default' \
'--dest=[The folder on the box, relative to the remote home unless absolute (created when missing); \`~/x\` is x in the home, as for every runplz tool (\`~user\` is refused). Default with --job\: \`runplz/<job name>\`; required otherwise. The home itself, \`/\` and \`..\` are refused]:DIR:_default' \
'--job=[The job, with the positional then the folder to ship (\`--job job.json sub/\`); the older spelling of a positional JOB, kept for scripts]:JOB:_files' \
'*--exclude=[A gitignore-style pattern never to ship, relative to SRC (repeatable). \`!PATTERN\` re-includes something a cache pattern or an earlier pattern excluded, but never a secret]:PAT:_default' \
'--ssh-config=[An ssh config file, passed to ssh and rsync as \`-F\` (default\: \$RUNPLZ_SSH_CONFIG, else ssh'\''s own)]:FILE:_files' \
'(--dry-run)--snapshot=[After shipping, copy DIR to this folder on the box (hard links, so it costs no data; a full copy, with a warning, where they fail)\: a snapshot that later syncs into DIR leave as it is, e.g. \`runplz-runs/<run id>\` for one run'\''s own code. The sync and the copy hold a lock on DIR on the box (\`flock\`; a warning where the box has none), so two rp-syncs into one DIR at once each copy exactly what they shipped. Relative to the remote home unless absolute; must not exist yet; best on DIR'\''s file system]:SNAP:_default' \
'*--allow-secret=[Allow a finding of the content scan that is not a secret\: a gitignore-style path relative to SRC, optionally \`\:LINE\` (repeatable; adds to the job'\''s \`sync.allow_secrets\`)]:PATH[:LINE]:_default' \
'--to=[\`pack\` only\: where the archive goes\: a file path, \`file\:///abs/path\`, an \`http\://\` or \`https\://\` URL (PUT, \`Content-Type\: application/gzip\`; a presigned URL works), or \`-\` for stdout (the default; then the record goes to stderr)]:URL:_default' \
'--dry-run[List what would ship (count, bytes, the largest files, the files too large or binary to be content-scanned) without connecting]' \
'--table[Print a table for people on stdout instead of the JSON record]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'-V[Print version]' \
'--version[Print version]' \
':direction -- `up`\: ship SRC to the box; `scan`\: only scan what would ship for secrets; `pack`\: write what would ship as a `tar.gz`:((up\:"Ship SRC to the box (outputs come back with rp-collect)"
scan\:"Only scan what would ship for secrets\: the \`scan\` record on stdout, exit 4 when a finding is not allowed (unless the job'\''s \`sync.secret_scan\` is \`warn\`); a pre-commit hook. The positional may be a job file"
pack\:"Pack what would ship into one deterministic \`tar.gz\` (the same tree gives the same bytes) and write it to --to (a file, \`file\:///path\`, an \`http(s)\://\` URL taken by PUT, or \`-\`, stdout, the default); the scan applies as for \`up\`. The positional may be a job file"))' \
'::src -- A job.json (`-` reads stdin) or the folder to ship. A job (default\: ./job.json when there is one) names the folder (its `sync.root`, else the top of the git work tree holding the job file, else its folder) and the default --dest `runplz/<job name>`; its `sync.exclude` patterns and outputs folder are excluded, and its `ssh.user`, `ssh.port` and `ssh.ssh_key_path` are used for the connection. A folder is shipped as it is, with no job (unless one is given with --job); without either, the current folder:_files' \
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
