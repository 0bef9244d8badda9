complete -c rp-probe -s h -l help -d 'Print help'
complete -c rp-probe -s V -l version -d 'Print version'
