# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_rp_box_global_optspecs
    string join \n h/help V/version
end

function __fish_rp_box_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_rp_box_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_rp_box_using_subcommand
    set -l cmd (__fish_rp_box_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c rp-box -n "__fish_rp_box_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rp-box -n "__fish_rp_box_needs_command" -s V -l version -d 'Print version'
complete -c rp-box -n "__fish_rp_box_needs_command" -f -a "create" -d 'Create a box (detached). Types from --type, else rp-pick\'s record on stdin'
complete -c rp-box -n "__fish_rp_box_needs_command" -f -a "start" -d 'Start a stopped box (a running one is left as it is)'
complete -c rp-box -n "__fish_rp_box_needs_command" -f -a "wait" -d 'Wait until the box is RUNNING with its shell READY, then until ssh answers'
complete -c rp-box -n "__fish_rp_box_needs_command" -f -a "stop" -d 'Stop the box'
complete -c rp-box -n "__fish_rp_box_needs_command" -f -a "delete" -d 'Delete the box (a box that is not there is deleted)'
complete -c rp-box -n "__fish_rp_box_needs_command" -f -a "status" -d 'The box as `brev ls` shows it (null when there is none; exit 0 either way)'
complete -c rp-box -n "__fish_rp_box_needs_command" -f -a "ls" -d 'runplz\'s boxes (`runplz-*`), or every box with --all'
complete -c rp-box -n "__fish_rp_box_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rp-box -n "__fish_rp_box_using_subcommand create" -l type -d 'Instance types to try in order, comma-separated (brev\'s fallback chain)' -r
complete -c rp-box -n "__fish_rp_box_using_subcommand create" -l job -d 'The job whose name, image and `brev.mode` are used' -r -F
complete -c rp-box -n "__fish_rp_box_using_subcommand create" -l mode -d '`container` (the box is --container-image) or `vm`; default from --job, else vm' -r -f -a "container\t''
vm\t''"
complete -c rp-box -n "__fish_rp_box_using_subcommand create" -l container-image -d 'The image of a container-mode box; default the job\'s `image.from_registry`' -r
complete -c rp-box -n "__fish_rp_box_using_subcommand create" -s h -l help -d 'Print help'
complete -c rp-box -n "__fish_rp_box_using_subcommand start" -s h -l help -d 'Print help'
complete -c rp-box -n "__fish_rp_box_using_subcommand wait" -l timeout -d 'Give up after this many seconds (exit 124)' -r
complete -c rp-box -n "__fish_rp_box_using_subcommand wait" -l ssh-config -d 'Write the ssh config that reaches the box (Host NAME, over brev\'s own) here' -r -F
complete -c rp-box -n "__fish_rp_box_using_subcommand wait" -l user-ssh-config -d 'Your own ssh config, included after brev\'s (default ~/.ssh/config)' -r -F
complete -c rp-box -n "__fish_rp_box_using_subcommand wait" -s h -l help -d 'Print help'
complete -c rp-box -n "__fish_rp_box_using_subcommand stop" -s h -l help -d 'Print help'
complete -c rp-box -n "__fish_rp_box_using_subcommand delete" -s h -l help -d 'Print help'
complete -c rp-box -n "__fish_rp_box_using_subcommand status" -s h -l help -d 'Print help'
complete -c rp-box -n "__fish_rp_box_using_subcommand ls" -l all -d 'Every box, not only runplz\'s'
complete -c rp-box -n "__fish_rp_box_using_subcommand ls" -l table -d 'A table for people instead of the JSON record'
complete -c rp-box -n "__fish_rp_box_using_subcommand ls" -s h -l help -d 'Print help'
complete -c rp-box -n "__fish_rp_box_using_subcommand help; and not __fish_seen_subcommand_from create start wait stop delete status ls help" -f -a "create" -d 'Create a box (detached). Types from --type, else rp-pick\'s record on stdin'
complete -c rp-box -n "__fish_rp_box_using_subcommand help; and not __fish_seen_subcommand_from create start wait stop delete status ls help" -f -a "start" -d 'Start a stopped box (a running one is left as it is)'
complete -c rp-box -n "__fish_rp_box_using_subcommand help; and not __fish_seen_subcommand_from create start wait stop delete status ls help" -f -a "wait" -d 'Wait until the box is RUNNING with its shell READY, then until ssh answers'
complete -c rp-box -n "__fish_rp_box_using_subcommand help; and not __fish_seen_subcommand_from create start wait stop delete status ls help" -f -a "stop" -d 'Stop the box'
complete -c rp-box -n "__fish_rp_box_using_subcommand help; and not __fish_seen_subcommand_from create start wait stop delete status ls help" -f -a "delete" -d 'Delete the box (a box that is not there is deleted)'
complete -c rp-box -n "__fish_rp_box_using_subcommand help; and not __fish_seen_subcommand_from create start wait stop delete status ls help" -f -a "status" -d 'The box as `brev ls` shows it (null when there is none; exit 0 either way)'
complete -c rp-box -n "__fish_rp_box_using_subcommand help; and not __fish_seen_subcommand_from create start wait stop delete status ls help" -f -a "ls" -d 'runplz\'s boxes (`runplz-*`), or every box with --all'
complete -c rp-box -n "__fish_rp_box_using_subcommand help; and not __fish_seen_subcommand_from create start wait stop delete status ls help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
