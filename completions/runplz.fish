complete -c runplz -s h -l help -d 'Print help'
complete -c runplz -s V -l version -d 'Print version'
