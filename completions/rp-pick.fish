complete -c rp-pick -l job -d 'The job file whose `resources` and `brev` settings are used (`-` reads stdin)' -r -F
complete -c rp-pick -l catalog -d 'Read offers from this file, in `brev search --json`\'s shape (`-` reads stdin), instead of running `brev search`' -r -F
complete -c rp-pick -l top -d 'How many ranked types to list (default: the job\'s `brev.instance_type_fallback_count`, else 3)' -r
complete -c rp-pick -l gpu -d 'GPU model wanted, matched by name words, ignoring case: `A100` matches `A100`, `A10` does not' -r
complete -c rp-pick -l num-gpus -d 'At least this many GPUs (default 1 when a model or VRAM is asked)' -r
complete -c rp-pick -l min-cpu -d 'Minimum vCPUs (the job\'s `min_cpu`)' -r
complete -c rp-pick -l min-ram -d 'Minimum RAM, GB (the job\'s `min_memory`)' -r
complete -c rp-pick -l min-vram -d 'Minimum VRAM per GPU, GB (the job\'s `min_gpu_memory`)' -r
complete -c rp-pick -l min-disk -d 'Minimum disk, GB (the job\'s `min_disk`; a type whose disk can grow that large fits)' -r
complete -c rp-pick -l max-price -d 'Highest price, US dollars per hour' -r
complete -c rp-pick -l provider -d 'Only providers whose name contains this, ignoring case (as `brev search --provider`)' -r
complete -c rp-pick -l all -d 'List every matching offer, ranked'
complete -c rp-pick -l table -d 'Print a table for people on stdout instead of the JSON record'
complete -c rp-pick -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rp-pick -s V -l version -d 'Print version'
