complete -c rp-exec -l host -d 'Run on this box: `[user@]host[:port]` or an ssh-config alias. Without it, run here' -r
complete -c rp-exec -l job -d 'A job.json (`-` reads stdin) whose `ssh.user`, `ssh.port` and `ssh.ssh_key_path` are used for the connection (with --host; a user or port in --host wins)' -r -F
complete -c rp-exec -l ssh-config -d 'ssh config file, passed to ssh as `-F` (default: $RUNPLZ_SSH_CONFIG, else ssh\'s own)' -r -F
complete -c rp-exec -l timeout -d 'Hard wall-clock limit in seconds (fractions allowed, at most 2592000, 30 days); past it the command is stopped and rp-exec exits 124. Without it the command runs until it ends' -r
complete -c rp-exec -l max-inactivity -d 'The inactivity watch: act when the command prints nothing for this many seconds (at most 2592000); see --inactivity-action. On a box it runs there, in whole seconds (and under runplz a new file in the run\'s outputs folder counts as activity too)' -r
complete -c rp-exec -l inactivity-action -d 'What the inactivity watch does: `diagnose` says on stderr what the command\'s processes are doing (ps, load, GPUs, its last lines) and lets it run on, each time it is quiet that long; `terminate` stops it as at a deadline (exit 124, ending "inactive")' -r -f -a "diagnose\t''
terminate\t''"
complete -c rp-exec -l grace -d 'Seconds between TERM and KILL when the command is stopped (at most 2592000)' -r
complete -c rp-exec -l workdir -d 'Working directory, created when missing. `~` is the home directory and `~/x` is x in it, here and on a box (`~user` is refused); other relative paths are relative to the home on a box, and to the current directory here' -r
complete -c rp-exec -l env -d 'Set K=V in the command\'s environment (repeatable; K must be a shell identifier). The value shows in `ps` on this machine while rp-exec runs: pass secrets with --env-file. A --env K=V replaces the --env-file\'s K' -r
complete -c rp-exec -l env-file -d 'Read the command\'s environment from FILE, a JSON object of strings, e.g. `{"WANDB_API_KEY": "...", "MODE": "offline"}` (keys shell identifiers). Values travel byte for byte and never appear on a command line. Applied before --env' -r -F
complete -c rp-exec -l stdin -d 'Feed this file to the command\'s stdin (default: /dev/null), e.g. a Dockerfile for `docker build -f - .` or a script for `bash -s`' -r -F
complete -c rp-exec -l log -d 'Also append the command\'s output to this file' -r -F
complete -c rp-exec -l run-id -d 'The run id the command carries as RUNPLZ_RUN_ID ([A-Za-z0-9._-]; default: a fresh one from the time, rp-exec\'s pid and random bits)' -r
complete -c rp-exec -l json -d 'Print the JSON record on stdout (see OUTPUT), sending the command\'s stdout to stderr; as `cargo --message-format=json`'
complete -c rp-exec -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rp-exec -s V -l version -d 'Print version'
