complete -c rp-exec -s h -l help -d 'Print help'
complete -c rp-exec -s V -l version -d 'Print version'
