complete -c rp-sync -l host -d 'The box: `[user@]host[:port]` or a Host alias from your ssh config. Not needed with --dry-run' -r
complete -c rp-sync -l dest -d 'The folder on the box, relative to the remote home unless absolute (created when missing); `~/x` is x in the home, as for every runplz tool (`~user` is refused). Default with --job: `runplz/<job name>`; required otherwise. The home itself, `/` and `..` are refused' -r
complete -c rp-sync -l job -d 'The job, with the positional then the folder to ship (`--job job.json sub/`); the older spelling of a positional JOB, kept for scripts' -r -F
complete -c rp-sync -l exclude -d 'A gitignore-style pattern never to ship, relative to SRC (repeatable). `!PATTERN` re-includes something a cache pattern or an earlier pattern excluded, but never a secret' -r
complete -c rp-sync -l ssh-config -d 'An ssh config file, passed to ssh and rsync as `-F` (default: $RUNPLZ_SSH_CONFIG, else ssh\'s own)' -r -F
complete -c rp-sync -l snapshot -d 'After shipping, copy DIR to this folder on the box (hard links, so it costs no data; a full copy, with a warning, where they fail): a snapshot that later syncs into DIR leave as it is, e.g. `runplz-runs/<run id>` for one run\'s own code. The sync and the copy hold a lock on DIR on the box (`flock`; a warning where the box has none), so two rp-syncs into one DIR at once each copy exactly what they shipped. Relative to the remote home unless absolute; must not exist yet; best on DIR\'s file system' -r
complete -c rp-sync -l allow-secret -d 'Allow a finding of the content scan that is not a secret: a gitignore-style path relative to SRC, optionally `:LINE` (repeatable; adds to the job\'s `sync.allow_secrets`)' -r
complete -c rp-sync -l to -d '`pack` only: where the archive goes: a file path, `file:///abs/path`, an `http://` or `https://` URL (PUT, `Content-Type: application/gzip`; a presigned URL works), or `-` for stdout (the default; then the record goes to stderr)' -r
complete -c rp-sync -l dry-run -d 'List what would ship (count, bytes, the largest files, the files too large or binary to be content-scanned) without connecting'
complete -c rp-sync -l table -d 'Print a table for people on stdout instead of the JSON record'
complete -c rp-sync -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rp-sync -s V -l version -d 'Print version'
