complete -c rp-probe -l host -d 'The box: `[user@]host[:port]` or an alias from your ssh config' -r
complete -c rp-probe -l ssh-config -d 'An ssh config file passed to ssh as `-F` (env: RUNPLZ_SSH_CONFIG)' -r -F
complete -c rp-probe -l gpu -d 'GPU model wanted, matched by name words, ignoring case: `A100` matches `NVIDIA A100-SXM4-80GB`, `A10` does not' -r
complete -c rp-probe -l num-gpus -d 'GPUs of that model wanted (default 1 when a model or GPU memory is asked)' -r
complete -c rp-probe -l min-cpu -d 'Minimum vCPUs' -r
complete -c rp-probe -l min-memory -d 'Minimum RAM, GB' -r
complete -c rp-probe -l min-gpu-memory -d 'Minimum memory per GPU, GB' -r
complete -c rp-probe -l min-disk -d 'Minimum size of the disk holding `$HOME`, GB' -r
complete -c rp-probe -l shm-gb -d 'Precondition: free /dev/shm, GB' -r
complete -c rp-probe -l disk-free-gb -d 'Precondition: free disk in `$HOME`, GB' -r
complete -c rp-probe -l gpu-count -d 'Precondition: GPUs visible' -r
complete -c rp-probe -l gpu-memory-gb -d 'Precondition: memory per GPU, GB' -r
complete -c rp-probe -l local -d 'Probe this machine, without ssh'
complete -c rp-probe -l table -d 'Print a table for people on stdout instead of the JSON record'
complete -c rp-probe -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rp-probe -s V -l version -d 'Print version'
