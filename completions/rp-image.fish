complete -c rp-image -s h -l help -d 'Print help'
complete -c rp-image -s V -l version -d 'Print version'
