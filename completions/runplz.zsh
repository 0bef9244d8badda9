#compdef runplz

autoload -U is-at-least

_runplz() {
    typeset -A opt_args
    typeset -a _arguments_options
    local ret=1

    if is-at-least 5.2; then
        _arguments_options=(-s -S -C)
    else
        _arguments_options=(-s -C)
    fi

    local context curcontext="$curcontext" state line
    _arguments "${_arguments_options[@]}" : \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'-V[Print version]' \
'--version[Print version]' \
":: :_runplz_commands" \
"*::: :->runplz" \
&& ret=0
    case $state in
    (runplz)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:runplz-command-$line[1]:"
        case $line[1] in
            (local)
_arguments "${_arguments_options[@]}" : \
'--outputs-dir=[Where \`\$RUNPLZ_OUT\` comes back to (default\: the job'\''s \`outputs_dir\`, else \`out/\` beside the job file). Relative to the current folder; it must be a new or existing folder strictly inside the job'\''s folder, reached through no symlink]:DIR:_files' \
'*--var=[Fill a \`{NAME}\` placeholder of \`run\` (repeatable; beats \`--vars-file\`)]:NAME=VALUE:_default' \
'--vars-file=[A JSON object of strings filling \`{NAME}\` placeholders (beats the job'\''s \`args\`)]:FILE:_files' \
'*--env=[Pass NAME to the job with its value from runplz'\''s environment, or as given (\`NAME=VALUE\`, which \`ps\` shows on runplz'\''s own command line\: prefer \`NAME\`). Repeatable; beats \`--env-file\` and the job'\''s \`pass_env\` and \`env\`. The value travels as the job'\''s \`env\` does (over stdin, never on a command line or in a file left on the box); the run record lists the name, never the value. An unset NAME is exit 2]:NAME[=VALUE]:_default' \
'--env-file=[Pass the variables of FILE, a JSON object of strings (\`{"HF_TOKEN"\: "..."}\`), to the job, as \`--env\` does; beats the job'\''s \`pass_env\` and \`env\`, loses to \`--env\`]:FILE:_files' \
'*--allow-secret=[Allow a finding of the secret scan that is not a secret\: a gitignore-style path relative to the shipped folder, optionally \`\:LINE\` (repeatable; adds to the job'\''s \`sync.allow_secrets\`). Every file the run would ship is scanned first; a finding not allowed stops the run before anything is created (exit 2)]:PATH[:LINE]:_default' \
'--plan[Print the equivalent POSIX shell script of rp-* calls instead of running anything. It never holds a value of the environment passed to the job\: it reads \`pass_env\` and \`--env NAME\` from its own environment when it runs (so \`--env NAME=VALUE\` is refused with \`--plan\`) and the \`--env-file\` by its path]' \
'(--native)--no-build[Reuse the image tagged by the last build instead of building (docker mode)]' \
'--native[Run natively in a venv instead of docker (same as \`"local"\: {"use_docker"\: false}\`)]' \
'-h[Print help]' \
'--help[Print help]' \
':job -- The job file (`-` reads it from stdin):_files' \
'*::params -- `--NAME=VALUE` words after the job file fill the job'\''s `args` and win over `--var`:_default' \
&& ret=0
;;
(ssh)
_arguments "${_arguments_options[@]}" : \
'--outputs-dir=[Where \`\$RUNPLZ_OUT\` comes back to (default\: the job'\''s \`outputs_dir\`, else \`out/\` beside the job file). Relative to the current folder; it must be a new or existing folder strictly inside the job'\''s folder, reached through no symlink]:DIR:_files' \
'*--var=[Fill a \`{NAME}\` placeholder of \`run\` (repeatable; beats \`--vars-file\`)]:NAME=VALUE:_default' \
'--vars-file=[A JSON object of strings filling \`{NAME}\` placeholders (beats the job'\''s \`args\`)]:FILE:_files' \
'*--env=[Pass NAME to the job with its value from runplz'\''s environment, or as given (\`NAME=VALUE\`, which \`ps\` shows on runplz'\''s own command line\: prefer \`NAME\`). Repeatable; beats \`--env-file\` and the job'\''s \`pass_env\` and \`env\`. The value travels as the job'\''s \`env\` does (over stdin, never on a command line or in a file left on the box); the run record lists the name, never the value. An unset NAME is exit 2]:NAME[=VALUE]:_default' \
'--env-file=[Pass the variables of FILE, a JSON object of strings (\`{"HF_TOKEN"\: "..."}\`), to the job, as \`--env\` does; beats the job'\''s \`pass_env\` and \`env\`, loses to \`--env\`]:FILE:_files' \
'*--allow-secret=[Allow a finding of the secret scan that is not a secret\: a gitignore-style path relative to the shipped folder, optionally \`\:LINE\` (repeatable; adds to the job'\''s \`sync.allow_secrets\`). Every file the run would ship is scanned first; a finding not allowed stops the run before anything is created (exit 2)]:PATH[:LINE]:_default' \
'--host=[The box, as \`\[user@\]host\[\:port\]\` or an ssh-config alias]:HOST:_default' \
'--ssh-config=[An ssh config file passed to ssh and rsync as \`-F\`]:FILE:_files' \
'--plan[Print the equivalent POSIX shell script of rp-* calls instead of running anything. It never holds a value of the environment passed to the job\: it reads \`pass_env\` and \`--env NAME\` from its own environment when it runs (so \`--env NAME=VALUE\` is refused with \`--plan\`) and the \`--env-file\` by its path]' \
'-h[Print help]' \
'--help[Print help]' \
':job -- The job file (`-` reads it from stdin):_files' \
'*::params -- `--NAME=VALUE` words after the job file fill the job'\''s `args` and win over `--var`:_default' \
&& ret=0
;;
(brev)
_arguments "${_arguments_options[@]}" : \
'--outputs-dir=[Where \`\$RUNPLZ_OUT\` comes back to (default\: the job'\''s \`outputs_dir\`, else \`out/\` beside the job file). Relative to the current folder; it must be a new or existing folder strictly inside the job'\''s folder, reached through no symlink]:DIR:_files' \
'*--var=[Fill a \`{NAME}\` placeholder of \`run\` (repeatable; beats \`--vars-file\`)]:NAME=VALUE:_default' \
'--vars-file=[A JSON object of strings filling \`{NAME}\` placeholders (beats the job'\''s \`args\`)]:FILE:_files' \
'*--env=[Pass NAME to the job with its value from runplz'\''s environment, or as given (\`NAME=VALUE\`, which \`ps\` shows on runplz'\''s own command line\: prefer \`NAME\`). Repeatable; beats \`--env-file\` and the job'\''s \`pass_env\` and \`env\`. The value travels as the job'\''s \`env\` does (over stdin, never on a command line or in a file left on the box); the run record lists the name, never the value. An unset NAME is exit 2]:NAME[=VALUE]:_default' \
'--env-file=[Pass the variables of FILE, a JSON object of strings (\`{"HF_TOKEN"\: "..."}\`), to the job, as \`--env\` does; beats the job'\''s \`pass_env\` and \`env\`, loses to \`--env\`]:FILE:_files' \
'*--allow-secret=[Allow a finding of the secret scan that is not a secret\: a gitignore-style path relative to the shipped folder, optionally \`\:LINE\` (repeatable; adds to the job'\''s \`sync.allow_secrets\`). Every file the run would ship is scanned first; a finding not allowed stops the run before anything is created (exit 2)]:PATH[:LINE]:_default' \
'--instance=[The instance name]:NAME:_default' \
'--ssh-config=[An ssh config file passed to ssh and rsync as \`-F\`]:FILE:_files' \
'--plan[Print the equivalent POSIX shell script of rp-* calls instead of running anything. It never holds a value of the environment passed to the job\: it reads \`pass_env\` and \`--env NAME\` from its own environment when it runs (so \`--env NAME=VALUE\` is refused with \`--plan\`) and the \`--env-file\` by its path]' \
'-h[Print help]' \
'--help[Print help]' \
':job -- The job file (`-` reads it from stdin):_files' \
'*::params -- `--NAME=VALUE` words after the job file fill the job'\''s `args` and win over `--var`:_default' \
&& ret=0
;;
(modal)
_arguments "${_arguments_options[@]}" : \
'--outputs-dir=[Where \`\$RUNPLZ_OUT\` comes back to (default\: the job'\''s \`outputs_dir\`, else \`out/\` beside the job file). Relative to the current folder; it must be a new or existing folder strictly inside the job'\''s folder, reached through no symlink]:DIR:_files' \
'*--var=[Fill a \`{NAME}\` placeholder of \`run\` (repeatable; beats \`--vars-file\`)]:NAME=VALUE:_default' \
'--vars-file=[A JSON object of strings filling \`{NAME}\` placeholders (beats the job'\''s \`args\`)]:FILE:_files' \
'*--env=[Pass NAME to the job with its value from runplz'\''s environment, or as given (\`NAME=VALUE\`, which \`ps\` shows on runplz'\''s own command line\: prefer \`NAME\`). Repeatable; beats \`--env-file\` and the job'\''s \`pass_env\` and \`env\`. The value travels as the job'\''s \`env\` does (over stdin, never on a command line or in a file left on the box); the run record lists the name, never the value. An unset NAME is exit 2]:NAME[=VALUE]:_default' \
'--env-file=[Pass the variables of FILE, a JSON object of strings (\`{"HF_TOKEN"\: "..."}\`), to the job, as \`--env\` does; beats the job'\''s \`pass_env\` and \`env\`, loses to \`--env\`]:FILE:_files' \
'*--allow-secret=[Allow a finding of the secret scan that is not a secret\: a gitignore-style path relative to the shipped folder, optionally \`\:LINE\` (repeatable; adds to the job'\''s \`sync.allow_secrets\`). Every file the run would ship is scanned first; a finding not allowed stops the run before anything is created (exit 2)]:PATH[:LINE]:_default' \
'--plan[Print the equivalent POSIX shell script of rp-* calls instead of running anything. It never holds a value of the environment passed to the job\: it reads \`pass_env\` and \`--env NAME\` from its own environment when it runs (so \`--env NAME=VALUE\` is refused with \`--plan\`) and the \`--env-file\` by its path]' \
'-h[Print help]' \
'--help[Print help]' \
':job -- The job file (`-` reads it from stdin):_files' \
'*::params -- `--NAME=VALUE` words after the job file fill the job'\''s `args` and win over `--var`:_default' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_runplz__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:runplz-help-command-$line[1]:"
        case $line[1] in
            (local)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(ssh)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(brev)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(modal)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
}

(( $+functions[_runplz_commands] )) ||
_runplz_commands() {
    local commands; commands=(
'local:Run on this machine\: in docker (default) or natively in a venv (\`--native\`)' \
'ssh:Run on an SSH box you own (\`--host\`); runplz never stops or deletes it' \
'brev:Run on a Brev box (not built yet\: validates the job and stops)' \
'modal:Run on Modal (not built yet\: validates the job and stops)' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'runplz commands' commands "$@"
}
(( $+functions[_runplz__subcmd__brev_commands] )) ||
_runplz__subcmd__brev_commands() {
    local commands; commands=()
    _describe -t commands 'runplz brev commands' commands "$@"
}
(( $+functions[_runplz__subcmd__help_commands] )) ||
_runplz__subcmd__help_commands() {
    local commands; commands=(
'local:Run on this machine\: in docker (default) or natively in a venv (\`--native\`)' \
'ssh:Run on an SSH box you own (\`--host\`); runplz never stops or deletes it' \
'brev:Run on a Brev box (not built yet\: validates the job and stops)' \
'modal:Run on Modal (not built yet\: validates the job and stops)' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'runplz help commands' commands "$@"
}
(( $+functions[_runplz__subcmd__help__subcmd__brev_commands] )) ||
_runplz__subcmd__help__subcmd__brev_commands() {
    local commands; commands=()
    _describe -t commands 'runplz help brev commands' commands "$@"
}
(( $+functions[_runplz__subcmd__help__subcmd__help_commands] )) ||
_runplz__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'runplz help help commands' commands "$@"
}
(( $+functions[_runplz__subcmd__help__subcmd__local_commands] )) ||
_runplz__subcmd__help__subcmd__local_commands() {
    local commands; commands=()
    _describe -t commands 'runplz help local commands' commands "$@"
}
(( $+functions[_runplz__subcmd__help__subcmd__modal_commands] )) ||
_runplz__subcmd__help__subcmd__modal_commands() {
    local commands; commands=()
    _describe -t commands 'runplz help modal commands' commands "$@"
}
(( $+functions[_runplz__subcmd__help__subcmd__ssh_commands] )) ||
_runplz__subcmd__help__subcmd__ssh_commands() {
    local commands; commands=()
    _describe -t commands 'runplz help ssh commands' commands "$@"
}
(( $+functions[_runplz__subcmd__local_commands] )) ||
_runplz__subcmd__local_commands() {
    local commands; commands=()
    _describe -t commands 'runplz local commands' commands "$@"
}
(( $+functions[_runplz__subcmd__modal_commands] )) ||
_runplz__subcmd__modal_commands() {
    local commands; commands=()
    _describe -t commands 'runplz modal commands' commands "$@"
}
(( $+functions[_runplz__subcmd__ssh_commands] )) ||
_runplz__subcmd__ssh_commands() {
    local commands; commands=()
    _describe -t commands 'runplz ssh commands' commands "$@"
}

if [ "$funcstack[1]" = "_runplz" ]; then
    _runplz "$@"
else
    compdef _runplz runplz
fi
