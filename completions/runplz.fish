# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_runplz_global_optspecs
    string join \n h/help V/version
end

function __fish_runplz_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_runplz_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_runplz_using_subcommand
    set -l cmd (__fish_runplz_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c runplz -n "__fish_runplz_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runplz -n "__fish_runplz_needs_command" -s V -l version -d 'Print version'
complete -c runplz -n "__fish_runplz_needs_command" -f -a "local" -d 'Run on this machine: in docker (default) or natively in a venv (`--native`)'
complete -c runplz -n "__fish_runplz_needs_command" -f -a "ssh" -d 'Run on an SSH box you own (`--host`); runplz never stops or deletes it'
complete -c runplz -n "__fish_runplz_needs_command" -f -a "brev" -d 'Run on a Brev box (not built yet: validates the job and stops)'
complete -c runplz -n "__fish_runplz_needs_command" -f -a "modal" -d 'Run on Modal (not built yet: validates the job and stops)'
complete -c runplz -n "__fish_runplz_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c runplz -n "__fish_runplz_using_subcommand local" -l outputs-dir -d 'Where `$RUNPLZ_OUT` comes back to (default: the job\'s `outputs_dir`, else `out/` beside the job file). Relative to the current folder; it must be a new or existing folder strictly inside the job\'s folder, reached through no symlink' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand local" -l var -d 'Fill a `{NAME}` placeholder of `run` (repeatable; beats `--vars-file`)' -r
complete -c runplz -n "__fish_runplz_using_subcommand local" -l vars-file -d 'A JSON object of strings filling `{NAME}` placeholders (beats the job\'s `args`)' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand local" -l env -d 'Pass NAME to the job with its value from runplz\'s environment, or as given (`NAME=VALUE`, which `ps` shows on runplz\'s own command line: prefer `NAME`). Repeatable; beats `--env-file` and the job\'s `pass_env` and `env`. The value travels as the job\'s `env` does (over stdin, never on a command line or in a file left on the box); the run record lists the name, never the value. An unset NAME is exit 2' -r
complete -c runplz -n "__fish_runplz_using_subcommand local" -l env-file -d 'Pass the variables of FILE, a JSON object of strings (`{"HF_TOKEN": "..."}`), to the job, as `--env` does; beats the job\'s `pass_env` and `env`, loses to `--env`' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand local" -l allow-secret -d 'Allow a finding of the secret scan that is not a secret: a gitignore-style path relative to the shipped folder, optionally `:LINE` (repeatable; adds to the job\'s `sync.allow_secrets`). Every file the run would ship is scanned first; a finding not allowed stops the run before anything is created (exit 2)' -r
complete -c runplz -n "__fish_runplz_using_subcommand local" -l plan -d 'Print the equivalent POSIX shell script of rp-* calls instead of running anything. It never holds a value of the environment passed to the job: it reads `pass_env` and `--env NAME` from its own environment when it runs (so `--env NAME=VALUE` is refused with `--plan`) and the `--env-file` by its path'
complete -c runplz -n "__fish_runplz_using_subcommand local" -l no-build -d 'Reuse the image tagged by the last build instead of building (docker mode)'
complete -c runplz -n "__fish_runplz_using_subcommand local" -l native -d 'Run natively in a venv instead of docker (same as `"local": {"use_docker": false}`)'
complete -c runplz -n "__fish_runplz_using_subcommand local" -s h -l help -d 'Print help'
complete -c runplz -n "__fish_runplz_using_subcommand ssh" -l outputs-dir -d 'Where `$RUNPLZ_OUT` comes back to (default: the job\'s `outputs_dir`, else `out/` beside the job file). Relative to the current folder; it must be a new or existing folder strictly inside the job\'s folder, reached through no symlink' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand ssh" -l var -d 'Fill a `{NAME}` placeholder of `run` (repeatable; beats `--vars-file`)' -r
complete -c runplz -n "__fish_runplz_using_subcommand ssh" -l vars-file -d 'A JSON object of strings filling `{NAME}` placeholders (beats the job\'s `args`)' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand ssh" -l env -d 'Pass NAME to the job with its value from runplz\'s environment, or as given (`NAME=VALUE`, which `ps` shows on runplz\'s own command line: prefer `NAME`). Repeatable; beats `--env-file` and the job\'s `pass_env` and `env`. The value travels as the job\'s `env` does (over stdin, never on a command line or in a file left on the box); the run record lists the name, never the value. An unset NAME is exit 2' -r
complete -c runplz -n "__fish_runplz_using_subcommand ssh" -l env-file -d 'Pass the variables of FILE, a JSON object of strings (`{"HF_TOKEN": "..."}`), to the job, as `--env` does; beats the job\'s `pass_env` and `env`, loses to `--env`' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand ssh" -l allow-secret -d 'Allow a finding of the secret scan that is not a secret: a gitignore-style path relative to the shipped folder, optionally `:LINE` (repeatable; adds to the job\'s `sync.allow_secrets`). Every file the run would ship is scanned first; a finding not allowed stops the run before anything is created (exit 2)' -r
complete -c runplz -n "__fish_runplz_using_subcommand ssh" -l host -d 'The box, as `[user@]host[:port]` or an ssh-config alias' -r
complete -c runplz -n "__fish_runplz_using_subcommand ssh" -l ssh-config -d 'An ssh config file passed to ssh and rsync as `-F`' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand ssh" -l plan -d 'Print the equivalent POSIX shell script of rp-* calls instead of running anything. It never holds a value of the environment passed to the job: it reads `pass_env` and `--env NAME` from its own environment when it runs (so `--env NAME=VALUE` is refused with `--plan`) and the `--env-file` by its path'
complete -c runplz -n "__fish_runplz_using_subcommand ssh" -s h -l help -d 'Print help'
complete -c runplz -n "__fish_runplz_using_subcommand brev" -l outputs-dir -d 'Where `$RUNPLZ_OUT` comes back to (default: the job\'s `outputs_dir`, else `out/` beside the job file). Relative to the current folder; it must be a new or existing folder strictly inside the job\'s folder, reached through no symlink' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand brev" -l var -d 'Fill a `{NAME}` placeholder of `run` (repeatable; beats `--vars-file`)' -r
complete -c runplz -n "__fish_runplz_using_subcommand brev" -l vars-file -d 'A JSON object of strings filling `{NAME}` placeholders (beats the job\'s `args`)' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand brev" -l env -d 'Pass NAME to the job with its value from runplz\'s environment, or as given (`NAME=VALUE`, which `ps` shows on runplz\'s own command line: prefer `NAME`). Repeatable; beats `--env-file` and the job\'s `pass_env` and `env`. The value travels as the job\'s `env` does (over stdin, never on a command line or in a file left on the box); the run record lists the name, never the value. An unset NAME is exit 2' -r
complete -c runplz -n "__fish_runplz_using_subcommand brev" -l env-file -d 'Pass the variables of FILE, a JSON object of strings (`{"HF_TOKEN": "..."}`), to the job, as `--env` does; beats the job\'s `pass_env` and `env`, loses to `--env`' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand brev" -l allow-secret -d 'Allow a finding of the secret scan that is not a secret: a gitignore-style path relative to the shipped folder, optionally `:LINE` (repeatable; adds to the job\'s `sync.allow_secrets`). Every file the run would ship is scanned first; a finding not allowed stops the run before anything is created (exit 2)' -r
complete -c runplz -n "__fish_runplz_using_subcommand brev" -l instance -d 'The instance name' -r
complete -c runplz -n "__fish_runplz_using_subcommand brev" -l ssh-config -d 'An ssh config file passed to ssh and rsync as `-F`' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand brev" -l plan -d 'Print the equivalent POSIX shell script of rp-* calls instead of running anything. It never holds a value of the environment passed to the job: it reads `pass_env` and `--env NAME` from its own environment when it runs (so `--env NAME=VALUE` is refused with `--plan`) and the `--env-file` by its path'
complete -c runplz -n "__fish_runplz_using_subcommand brev" -s h -l help -d 'Print help'
complete -c runplz -n "__fish_runplz_using_subcommand modal" -l outputs-dir -d 'Where `$RUNPLZ_OUT` comes back to (default: the job\'s `outputs_dir`, else `out/` beside the job file). Relative to the current folder; it must be a new or existing folder strictly inside the job\'s folder, reached through no symlink' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand modal" -l var -d 'Fill a `{NAME}` placeholder of `run` (repeatable; beats `--vars-file`)' -r
complete -c runplz -n "__fish_runplz_using_subcommand modal" -l vars-file -d 'A JSON object of strings filling `{NAME}` placeholders (beats the job\'s `args`)' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand modal" -l env -d 'Pass NAME to the job with its value from runplz\'s environment, or as given (`NAME=VALUE`, which `ps` shows on runplz\'s own command line: prefer `NAME`). Repeatable; beats `--env-file` and the job\'s `pass_env` and `env`. The value travels as the job\'s `env` does (over stdin, never on a command line or in a file left on the box); the run record lists the name, never the value. An unset NAME is exit 2' -r
complete -c runplz -n "__fish_runplz_using_subcommand modal" -l env-file -d 'Pass the variables of FILE, a JSON object of strings (`{"HF_TOKEN": "..."}`), to the job, as `--env` does; beats the job\'s `pass_env` and `env`, loses to `--env`' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand modal" -l allow-secret -d 'Allow a finding of the secret scan that is not a secret: a gitignore-style path relative to the shipped folder, optionally `:LINE` (repeatable; adds to the job\'s `sync.allow_secrets`). Every file the run would ship is scanned first; a finding not allowed stops the run before anything is created (exit 2)' -r
complete -c runplz -n "__fish_runplz_using_subcommand modal" -l plan -d 'Print the equivalent POSIX shell script of rp-* calls instead of running anything. It never holds a value of the environment passed to the job: it reads `pass_env` and `--env NAME` from its own environment when it runs (so `--env NAME=VALUE` is refused with `--plan`) and the `--env-file` by its path'
complete -c runplz -n "__fish_runplz_using_subcommand modal" -s h -l help -d 'Print help'
complete -c runplz -n "__fish_runplz_using_subcommand help; and not __fish_seen_subcommand_from local ssh brev modal help" -f -a "local" -d 'Run on this machine: in docker (default) or natively in a venv (`--native`)'
complete -c runplz -n "__fish_runplz_using_subcommand help; and not __fish_seen_subcommand_from local ssh brev modal help" -f -a "ssh" -d 'Run on an SSH box you own (`--host`); runplz never stops or deletes it'
complete -c runplz -n "__fish_runplz_using_subcommand help; and not __fish_seen_subcommand_from local ssh brev modal help" -f -a "brev" -d 'Run on a Brev box (not built yet: validates the job and stops)'
complete -c runplz -n "__fish_runplz_using_subcommand help; and not __fish_seen_subcommand_from local ssh brev modal help" -f -a "modal" -d 'Run on Modal (not built yet: validates the job and stops)'
complete -c runplz -n "__fish_runplz_using_subcommand help; and not __fish_seen_subcommand_from local ssh brev modal help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
