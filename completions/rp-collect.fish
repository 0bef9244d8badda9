complete -c rp-collect -s h -l help -d 'Print help'
complete -c rp-collect -s V -l version -d 'Print version'
