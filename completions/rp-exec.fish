complete -c rp-exec -l host -d 'Run on this box: `[user@]host[:port]` or an ssh-config alias. Without it, run here' -r
complete -c rp-exec -l ssh-config -d 'ssh config file, passed to ssh as `-F` (default: $RUNPLZ_SSH_CONFIG, else ssh\'s own)' -r -F
complete -c rp-exec -l timeout -d 'Hard wall-clock limit in seconds (fractions allowed); past it the command is stopped and rp-exec exits 124. Without it the command runs until it ends' -r
complete -c rp-exec -l grace -d 'Seconds between TERM and KILL when the command is stopped' -r
complete -c rp-exec -l workdir -d 'Working directory, created when missing. On a box a relative path is relative to the login directory; `~/` means the home directory' -r
complete -c rp-exec -l env -d 'Set K=V in the command\'s environment (repeatable; K must be a shell identifier)' -r
complete -c rp-exec -l stdin -d 'Feed this file to the command\'s stdin (default: /dev/null), e.g. a Dockerfile for `docker build -f - .` or a script for `bash -s`' -r -F
complete -c rp-exec -l log -d 'Also append the command\'s output to this file' -r -F
complete -c rp-exec -l run-id -d 'The run id the command carries as RUNPLZ_RUN_ID ([A-Za-z0-9._-]; default: a fresh one from the time, rp-exec\'s pid and random bits)' -r
complete -c rp-exec -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rp-exec -s V -l version -d 'Print version'
