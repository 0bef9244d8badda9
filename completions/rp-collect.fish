complete -c rp-collect -l host -d 'The box: `[user@]host[:port]` or an alias from your ssh config (with --from)' -r
complete -c rp-collect -l from -d 'The folder on the box to bring back (with --host). `~` is the home and `~/x` is x in it; another relative path is relative to the home (`~user` is refused)' -r
complete -c rp-collect -l run-id -d 'The run whose outputs to bring back (with --host): --from is then where runplz left them, `runplz-out/<ID>` (the `run_id` of its record)' -r
complete -c rp-collect -l job -d 'The job file, as the JOB argument (kept for scripts that pass it this way)' -r -F
complete -c rp-collect -l from-tar -d 'An outputs archive (.tar.gz or .tar) to unpack instead' -r -F
complete -c rp-collect -l to -d 'The local folder the files go to (created if needed); default: the job\'s outputs folder (its `outputs_dir`, else `out/` beside the job file), as runplz' -r -F
complete -c rp-collect -l ssh-config -d 'An ssh config file passed to ssh and rsync as `-F` (env: RUNPLZ_SSH_CONFIG)' -r -F
complete -c rp-collect -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rp-collect -s V -l version -d 'Print version'
