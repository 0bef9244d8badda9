complete -c rp-sync -s h -l help -d 'Print help'
complete -c rp-sync -s V -l version -d 'Print version'
