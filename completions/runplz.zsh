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
'--grace=[Seconds between the signal that stops the job (TERM at its deadline, INT for Ctrl-C) and KILL (fractions allowed, at most 2592000), as rp-exec'\''s --grace; overrides the job'\''s \`stop_grace_seconds\` (default 5). Modal and Slurm stop a job their own way]:SECS:_default' \
'(--plan)--sweep=[Run once per arg set of FILE\: a JSON object of name -> list of values (the cross product) or JSON Lines of objects name -> value. Each set fills the job'\''s \`args\` as \`--NAME=VALUE\` does; each run gets its own run id and outputs folder (\`<outputs>/<sweep id>-<index>\`). stdout\: one \`sweep_run\` record per run as it ends, then a \`sweep\` summary. Exit 0 when every run passed, 1 when any failed]:FILE:_files' \
'--parallel=[With --sweep\: at most N runs at once (default 4; 1 on brev; on slurm every run, as one job array)]:N:_default' \
'--plan[Print the equivalent POSIX shell script of rp-* calls instead of running anything. It never holds a value of the environment passed to the job\: it reads \`pass_env\` and \`--env NAME\` from its own environment when it runs (so \`--env NAME=VALUE\` is refused with \`--plan\`) and the \`--env-file\` by its path]' \
'(--plan)--json[Print the run record (see OUTPUT) on stdout, and send the job'\''s stdout to stderr, as \`cargo --message-format=json\` does. The record is kept in the run state either way]' \
'-q[Say only warnings and errors on stderr (the job'\''s own output still comes)\: no step lines, no set-up output (a failed step'\''s error still ends with its last lines)]' \
'--quiet[Say only warnings and errors on stderr (the job'\''s own output still comes)\: no step lines, no set-up output (a failed step'\''s error still ends with its last lines)]' \
'--table[With --sweep\: one table for people at the end instead of JSON records]' \
'(--native)--no-build[Reuse the image tagged by the last build instead of building (docker mode)]' \
'--native[Run natively in a venv instead of docker (same as \`"local"\: {"use_docker"\: false}\`)]' \
'-h[Print help]' \
'--help[Print help]' \
'::job -- The job file (`-` reads it from stdin):_files' \
'*::params -- `--NAME=VALUE` or `--NAME VALUE` words after the job file fill the job'\''s `args` and win over `--var`; a placeholder whose default is "true" or "false" also takes `--NAME` alone (true) and `--no-NAME` (false):_default' \
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
'--grace=[Seconds between the signal that stops the job (TERM at its deadline, INT for Ctrl-C) and KILL (fractions allowed, at most 2592000), as rp-exec'\''s --grace; overrides the job'\''s \`stop_grace_seconds\` (default 5). Modal and Slurm stop a job their own way]:SECS:_default' \
'(--plan)--sweep=[Run once per arg set of FILE\: a JSON object of name -> list of values (the cross product) or JSON Lines of objects name -> value. Each set fills the job'\''s \`args\` as \`--NAME=VALUE\` does; each run gets its own run id and outputs folder (\`<outputs>/<sweep id>-<index>\`). stdout\: one \`sweep_run\` record per run as it ends, then a \`sweep\` summary. Exit 0 when every run passed, 1 when any failed]:FILE:_files' \
'--parallel=[With --sweep\: at most N runs at once (default 4; 1 on brev; on slurm every run, as one job array)]:N:_default' \
'--host=[The box, as \`\[user@\]host\[\:port\]\` or an ssh-config alias]:HOST:_default' \
'--ssh-config=[An ssh config file passed to ssh and rsync as \`-F\`]:FILE:_files' \
'--plan[Print the equivalent POSIX shell script of rp-* calls instead of running anything. It never holds a value of the environment passed to the job\: it reads \`pass_env\` and \`--env NAME\` from its own environment when it runs (so \`--env NAME=VALUE\` is refused with \`--plan\`) and the \`--env-file\` by its path]' \
'(--plan)--json[Print the run record (see OUTPUT) on stdout, and send the job'\''s stdout to stderr, as \`cargo --message-format=json\` does. The record is kept in the run state either way]' \
'-q[Say only warnings and errors on stderr (the job'\''s own output still comes)\: no step lines, no set-up output (a failed step'\''s error still ends with its last lines)]' \
'--quiet[Say only warnings and errors on stderr (the job'\''s own output still comes)\: no step lines, no set-up output (a failed step'\''s error still ends with its last lines)]' \
'--table[With --sweep\: one table for people at the end instead of JSON records]' \
'--no-keep[Close the ssh connection with the run. By default it stays open for 60 s after the run (the job'\''s \`ssh.keep_connection_seconds\`), its socket in a private folder (\`\$XDG_RUNTIME_DIR/runplz\`, else \`\$TMPDIR/runplz-UID\`), so the next run to the same box skips ssh'\''s handshake]' \
'(--plan)--detach[Return once the job runs on the box, printing the run record (ending {"kind"\:"detached"}). The job runs on under its supervisor there (deadline and inactivity watch included); its output and end wait in ~/.runplz/runs/RUN on the box, its outputs in the run'\''s outputs folder\: \`runplz status / tail / kill / collect RUN\` take it from here]' \
'-h[Print help]' \
'--help[Print help]' \
'::job -- The job file (`-` reads it from stdin):_files' \
'*::params -- `--NAME=VALUE` or `--NAME VALUE` words after the job file fill the job'\''s `args` and win over `--var`; a placeholder whose default is "true" or "false" also takes `--NAME` alone (true) and `--no-NAME` (false):_default' \
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
'--grace=[Seconds between the signal that stops the job (TERM at its deadline, INT for Ctrl-C) and KILL (fractions allowed, at most 2592000), as rp-exec'\''s --grace; overrides the job'\''s \`stop_grace_seconds\` (default 5). Modal and Slurm stop a job their own way]:SECS:_default' \
'(--plan)--sweep=[Run once per arg set of FILE\: a JSON object of name -> list of values (the cross product) or JSON Lines of objects name -> value. Each set fills the job'\''s \`args\` as \`--NAME=VALUE\` does; each run gets its own run id and outputs folder (\`<outputs>/<sweep id>-<index>\`). stdout\: one \`sweep_run\` record per run as it ends, then a \`sweep\` summary. Exit 0 when every run passed, 1 when any failed]:FILE:_files' \
'--parallel=[With --sweep\: at most N runs at once (default 4; 1 on brev; on slurm every run, as one job array)]:N:_default' \
'--instance=[A Brev box you made (\`brev ls\` lists it)\: started if stopped, used, then stopped (\`brev.on_finish\`). A name brev does not know is refused before anything is billed, unless \`brev.auto_create_instances\`. Without it, runplz picks the cheapest type that fits, creates \`runplz-<job>-<8 hex>\` and deletes it on every exit path]:NAME:_default' \
'--ssh-config=[Your ssh config, included after brev'\''s \`~/.brev/ssh_config\` in the run'\''s own]:FILE:_files' \
'(--plan)--cost-cap-usd=[The run'\''s budget in US dollars\: with the picked type'\''s price per hour it becomes a deadline of cap / price hours from the start of provisioning (creating the box and setting it up count). A set-up step or the job running then is stopped on the box (by its supervisor, even with runplz gone; exit 124, ending and failure \`cost_cap\`); a budget spent before a step starts ends the run there. Needs a known price\: refused with --instance]:USD:_default' \
'--plan[Print the equivalent POSIX shell script of rp-* calls instead of running anything. It never holds a value of the environment passed to the job\: it reads \`pass_env\` and \`--env NAME\` from its own environment when it runs (so \`--env NAME=VALUE\` is refused with \`--plan\`) and the \`--env-file\` by its path]' \
'(--plan)--json[Print the run record (see OUTPUT) on stdout, and send the job'\''s stdout to stderr, as \`cargo --message-format=json\` does. The record is kept in the run state either way]' \
'-q[Say only warnings and errors on stderr (the job'\''s own output still comes)\: no step lines, no set-up output (a failed step'\''s error still ends with its last lines)]' \
'--quiet[Say only warnings and errors on stderr (the job'\''s own output still comes)\: no step lines, no set-up output (a failed step'\''s error still ends with its last lines)]' \
'--table[With --sweep\: one table for people at the end instead of JSON records]' \
'(--plan)--detach[Return once the job runs on the box, printing the run record (ending {"kind"\:"detached"}). The box stays up, billed, until \`runplz collect RUN\` (outputs back) or \`runplz kill RUN\` releases it as \`brev.on_finish\` says; the job runs on under its supervisor there (deadline and inactivity watch included)]' \
'-h[Print help]' \
'--help[Print help]' \
'::job -- The job file (`-` reads it from stdin):_files' \
'*::params -- `--NAME=VALUE` or `--NAME VALUE` words after the job file fill the job'\''s `args` and win over `--var`; a placeholder whose default is "true" or "false" also takes `--NAME` alone (true) and `--no-NAME` (false):_default' \
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
'--grace=[Seconds between the signal that stops the job (TERM at its deadline, INT for Ctrl-C) and KILL (fractions allowed, at most 2592000), as rp-exec'\''s --grace; overrides the job'\''s \`stop_grace_seconds\` (default 5). Modal and Slurm stop a job their own way]:SECS:_default' \
'(--plan)--sweep=[Run once per arg set of FILE\: a JSON object of name -> list of values (the cross product) or JSON Lines of objects name -> value. Each set fills the job'\''s \`args\` as \`--NAME=VALUE\` does; each run gets its own run id and outputs folder (\`<outputs>/<sweep id>-<index>\`). stdout\: one \`sweep_run\` record per run as it ends, then a \`sweep\` summary. Exit 0 when every run passed, 1 when any failed]:FILE:_files' \
'--parallel=[With --sweep\: at most N runs at once (default 4; 1 on brev; on slurm every run, as one job array)]:N:_default' \
'--plan[Print the equivalent POSIX shell script of rp-* calls instead of running anything. It never holds a value of the environment passed to the job\: it reads \`pass_env\` and \`--env NAME\` from its own environment when it runs (so \`--env NAME=VALUE\` is refused with \`--plan\`) and the \`--env-file\` by its path]' \
'(--plan)--json[Print the run record (see OUTPUT) on stdout, and send the job'\''s stdout to stderr, as \`cargo --message-format=json\` does. The record is kept in the run state either way]' \
'-q[Say only warnings and errors on stderr (the job'\''s own output still comes)\: no step lines, no set-up output (a failed step'\''s error still ends with its last lines)]' \
'--quiet[Say only warnings and errors on stderr (the job'\''s own output still comes)\: no step lines, no set-up output (a failed step'\''s error still ends with its last lines)]' \
'--table[With --sweep\: one table for people at the end instead of JSON records]' \
'--detach[Return once the sandbox runs the job, printing the run record (ending {"kind"\:"detached"}); then \`runplz status / tail / kill / collect RUN\`]' \
'(--plan)--dry-run[Validate, then print what would be sent to Modal as one \`modal-plan\` record (app, gpu string, cpu, memory in MiB, timeouts, image chain, env names, never values); nothing is touched]' \
'-h[Print help]' \
'--help[Print help]' \
'::job -- The job file (`-` reads it from stdin):_files' \
'*::params -- `--NAME=VALUE` or `--NAME VALUE` words after the job file fill the job'\''s `args` and win over `--var`; a placeholder whose default is "true" or "false" also takes `--NAME` alone (true) and `--no-NAME` (false):_default' \
&& ret=0
;;
(slurm)
_arguments "${_arguments_options[@]}" : \
'--outputs-dir=[Where \`\$RUNPLZ_OUT\` comes back to (default\: the job'\''s \`outputs_dir\`, else \`out/\` beside the job file). Relative to the current folder; it must be a new or existing folder strictly inside the job'\''s folder, reached through no symlink]:DIR:_files' \
'*--var=[Fill a \`{NAME}\` placeholder of \`run\` (repeatable; beats \`--vars-file\`)]:NAME=VALUE:_default' \
'--vars-file=[A JSON object of strings filling \`{NAME}\` placeholders (beats the job'\''s \`args\`)]:FILE:_files' \
'*--env=[Pass NAME to the job with its value from runplz'\''s environment, or as given (\`NAME=VALUE\`, which \`ps\` shows on runplz'\''s own command line\: prefer \`NAME\`). Repeatable; beats \`--env-file\` and the job'\''s \`pass_env\` and \`env\`. The value travels as the job'\''s \`env\` does (over stdin, never on a command line or in a file left on the box); the run record lists the name, never the value. An unset NAME is exit 2]:NAME[=VALUE]:_default' \
'--env-file=[Pass the variables of FILE, a JSON object of strings (\`{"HF_TOKEN"\: "..."}\`), to the job, as \`--env\` does; beats the job'\''s \`pass_env\` and \`env\`, loses to \`--env\`]:FILE:_files' \
'*--allow-secret=[Allow a finding of the secret scan that is not a secret\: a gitignore-style path relative to the shipped folder, optionally \`\:LINE\` (repeatable; adds to the job'\''s \`sync.allow_secrets\`). Every file the run would ship is scanned first; a finding not allowed stops the run before anything is created (exit 2)]:PATH[:LINE]:_default' \
'--grace=[Seconds between the signal that stops the job (TERM at its deadline, INT for Ctrl-C) and KILL (fractions allowed, at most 2592000), as rp-exec'\''s --grace; overrides the job'\''s \`stop_grace_seconds\` (default 5). Modal and Slurm stop a job their own way]:SECS:_default' \
'(--plan)--sweep=[Run once per arg set of FILE\: a JSON object of name -> list of values (the cross product) or JSON Lines of objects name -> value. Each set fills the job'\''s \`args\` as \`--NAME=VALUE\` does; each run gets its own run id and outputs folder (\`<outputs>/<sweep id>-<index>\`). stdout\: one \`sweep_run\` record per run as it ends, then a \`sweep\` summary. Exit 0 when every run passed, 1 when any failed]:FILE:_files' \
'--parallel=[With --sweep\: at most N runs at once (default 4; 1 on brev; on slurm every run, as one job array)]:N:_default' \
'--host=[The cluster'\''s login node, as \`\[user@\]host\[\:port\]\` or an ssh-config alias, or \`local\` when runplz runs on the login node itself]:LOGIN_NODE:_default' \
'--ssh-config=[An ssh config file passed to ssh and rsync as \`-F\`]:FILE:_files' \
'--nodes=[Nodes to run on (beats the job'\''s \`slurm.nodes\`); above 1 the command runs once per node through srun, with RUNPLZ_NODE_RANK, RUNPLZ_NODE_COUNT and RUNPLZ_MASTER_ADDR set]:N:_default' \
'--slurm-array=[Internal\: the sweep'\''s arg sets, run as one job array (written by --sweep)]:FILE:_files' \
'--plan[Print the equivalent POSIX shell script of rp-* calls instead of running anything. It never holds a value of the environment passed to the job\: it reads \`pass_env\` and \`--env NAME\` from its own environment when it runs (so \`--env NAME=VALUE\` is refused with \`--plan\`) and the \`--env-file\` by its path]' \
'(--plan)--json[Print the run record (see OUTPUT) on stdout, and send the job'\''s stdout to stderr, as \`cargo --message-format=json\` does. The record is kept in the run state either way]' \
'-q[Say only warnings and errors on stderr (the job'\''s own output still comes)\: no step lines, no set-up output (a failed step'\''s error still ends with its last lines)]' \
'--quiet[Say only warnings and errors on stderr (the job'\''s own output still comes)\: no step lines, no set-up output (a failed step'\''s error still ends with its last lines)]' \
'--table[With --sweep\: one table for people at the end instead of JSON records]' \
'--detach[Return once the job is submitted, printing the run record (ending {"kind"\:"detached"}); then \`runplz status / tail / kill / collect RUN\`]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'::job -- The job file (`-` reads it from stdin):_files' \
'*::params -- `--NAME=VALUE` or `--NAME VALUE` words after the job file fill the job'\''s `args` and win over `--var`; a placeholder whose default is "true" or "false" also takes `--NAME` alone (true) and `--no-NAME` (false):_default' \
&& ret=0
;;
(runpod)
_arguments "${_arguments_options[@]}" : \
'--outputs-dir=[Where \`\$RUNPLZ_OUT\` comes back to (default\: the job'\''s \`outputs_dir\`, else \`out/\` beside the job file). Relative to the current folder; it must be a new or existing folder strictly inside the job'\''s folder, reached through no symlink]:DIR:_files' \
'*--var=[Fill a \`{NAME}\` placeholder of \`run\` (repeatable; beats \`--vars-file\`)]:NAME=VALUE:_default' \
'--vars-file=[A JSON object of strings filling \`{NAME}\` placeholders (beats the job'\''s \`args\`)]:FILE:_files' \
'*--env=[Pass NAME to the job with its value from runplz'\''s environment, or as given (\`NAME=VALUE\`, which \`ps\` shows on runplz'\''s own command line\: prefer \`NAME\`). Repeatable; beats \`--env-file\` and the job'\''s \`pass_env\` and \`env\`. The value travels as the job'\''s \`env\` does (over stdin, never on a command line or in a file left on the box); the run record lists the name, never the value. An unset NAME is exit 2]:NAME[=VALUE]:_default' \
'--env-file=[Pass the variables of FILE, a JSON object of strings (\`{"HF_TOKEN"\: "..."}\`), to the job, as \`--env\` does; beats the job'\''s \`pass_env\` and \`env\`, loses to \`--env\`]:FILE:_files' \
'*--allow-secret=[Allow a finding of the secret scan that is not a secret\: a gitignore-style path relative to the shipped folder, optionally \`\:LINE\` (repeatable; adds to the job'\''s \`sync.allow_secrets\`). Every file the run would ship is scanned first; a finding not allowed stops the run before anything is created (exit 2)]:PATH[:LINE]:_default' \
'--grace=[Seconds between the signal that stops the job (TERM at its deadline, INT for Ctrl-C) and KILL (fractions allowed, at most 2592000), as rp-exec'\''s --grace; overrides the job'\''s \`stop_grace_seconds\` (default 5). Modal and Slurm stop a job their own way]:SECS:_default' \
'(--plan)--sweep=[Run once per arg set of FILE\: a JSON object of name -> list of values (the cross product) or JSON Lines of objects name -> value. Each set fills the job'\''s \`args\` as \`--NAME=VALUE\` does; each run gets its own run id and outputs folder (\`<outputs>/<sweep id>-<index>\`). stdout\: one \`sweep_run\` record per run as it ends, then a \`sweep\` summary. Exit 0 when every run passed, 1 when any failed]:FILE:_files' \
'--parallel=[With --sweep\: at most N runs at once (default 4; 1 on brev; on slurm every run, as one job array)]:N:_default' \
'--gpu-id=[The GPU type id to create (\`"NVIDIA RTX A6000"\`), skipping the pick; needs --datacenter-id]:ID:_default' \
'--datacenter-id=[The datacenter id (\`US-TX-3\`); needs --gpu-id]:ID:_default' \
'--max-gpu-price=[Pick no GPU type priced above this, in USD per GPU-hour]:USD:_default' \
'--cost-cap-usd=[The run'\''s budget in US dollars\: with the pod'\''s price per hour (known before the create) it becomes a deadline of cap / price hours from the start of provisioning (creating the pod and setting it up count). A set-up step or the job running then is stopped on the pod (by its supervisor, even with runplz gone; exit 124, ending and failure \`cost_cap\`); a budget spent before a step starts ends the run there]:USD:_default' \
'--max-runtime-minutes=[The run'\''s own deadline in minutes from the start of provisioning (the job'\''s \`timeout\` still applies; the earlier one stops it, exit 124, ending \`timed_out\`)]:MINUTES:_default' \
'--plan[Print the equivalent POSIX shell script of rp-* calls instead of running anything. It never holds a value of the environment passed to the job\: it reads \`pass_env\` and \`--env NAME\` from its own environment when it runs (so \`--env NAME=VALUE\` is refused with \`--plan\`) and the \`--env-file\` by its path]' \
'(--plan)--json[Print the run record (see OUTPUT) on stdout, and send the job'\''s stdout to stderr, as \`cargo --message-format=json\` does. The record is kept in the run state either way]' \
'-q[Say only warnings and errors on stderr (the job'\''s own output still comes)\: no step lines, no set-up output (a failed step'\''s error still ends with its last lines)]' \
'--quiet[Say only warnings and errors on stderr (the job'\''s own output still comes)\: no step lines, no set-up output (a failed step'\''s error still ends with its last lines)]' \
'--table[With --sweep\: one table for people at the end instead of JSON records]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'::job -- The job file (`-` reads it from stdin):_files' \
'*::params -- `--NAME=VALUE` or `--NAME VALUE` words after the job file fill the job'\''s `args` and win over `--var`; a placeholder whose default is "true" or "false" also takes `--NAME` alone (true) and `--no-NAME` (false):_default' \
&& ret=0
;;
(status)
_arguments "${_arguments_options[@]}" : \
'--backend=[The backend to ask when this machine kept no run state for RUN (a Modal run is then found by its tag)]:BACKEND:(modal)' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
':run -- The run\: its run id (`run_id` in the run record), a prefix only one run id here has, or `last` (the run started most recently on this machine):_default' \
&& ret=0
;;
(tail)
_arguments "${_arguments_options[@]}" : \
'--backend=[The backend to ask when this machine kept no run state for RUN (a Modal run is then found by its tag)]:BACKEND:(modal)' \
'-n+[Start from the last N lines (default\: all of it)]:N:_default' \
'--lines=[Start from the last N lines (default\: all of it)]:N:_default' \
'-f[Keep printing until the job ends]' \
'--follow[Keep printing until the job ends]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
':run -- The run\: its run id (`run_id` in the run record), a prefix only one run id here has, or `last` (the run started most recently on this machine):_default' \
&& ret=0
;;
(kill)
_arguments "${_arguments_options[@]}" : \
'--backend=[The backend to ask when this machine kept no run state for RUN (a Modal run is then found by its tag)]:BACKEND:(modal)' \
'--grace=[Seconds between TERM and KILL (fractions allowed, at most 2592000), as runplz'\''s and rp-exec'\''s --grace (default\: the run'\''s own, its job'\''s \`stop_grace_seconds\` or --grace, else 5)]:SECS:_default' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
':run -- The run\: its run id (`run_id` in the run record), a prefix only one run id here has, or `last` (the run started most recently on this machine):_default' \
&& ret=0
;;
(collect)
_arguments "${_arguments_options[@]}" : \
'--backend=[The backend to ask when this machine kept no run state for RUN (a Modal run is then found by its tag)]:BACKEND:(modal)' \
'--outputs-dir=[Where the outputs go (default\: the run'\''s own outputs folder, from its run state)]:DIR:_files' \
'--force[Stop the job first when it still runs on the box (its runplz gone); without it, collecting a running job is refused (exit 1)]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
':run -- The run\: its run id (`run_id` in the run record), a prefix only one run id here has, or `last` (the run started most recently on this machine):_default' \
&& ret=0
;;
(ps)
_arguments "${_arguments_options[@]}" : \
'--table[One table for people instead of JSON Lines]' \
'(--table)--json[JSON Lines on stdout (the default; for scripts that say so)]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
&& ret=0
;;
(reconcile)
_arguments "${_arguments_options[@]}" : \
'--apply[Delete (a RunPod pod, a Modal sandbox\: terminate) the orphaned boxes a run state here proves ours (a box no run state names is listed, never touched)]' \
'--table[One table for people instead of JSON Lines]' \
'(--table)--json[JSON Lines on stdout (the default; for scripts that say so)]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
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
(slurm)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(runpod)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(status)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(tail)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(kill)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(collect)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(ps)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(reconcile)
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
'brev:Run on a Brev box\: picked and created for the run and deleted after it, or a named one (\`--instance\`) started and then stopped (\`brev.on_finish\`)' \
'modal:Run on Modal\: a Sandbox built from the job'\''s image, outputs back as a tarball; \`--detach\` leaves the job running there' \
'slurm:Run on a Slurm cluster through its login node (\`--host\`, or \`--host local\`)\: sbatch, wait, collect' \
'runpod:Run on a RunPod pod created for the run (picked from live prices) and terminated after it' \
'status:Where a run started earlier stands (\`run-status\` record); RUN is a run id, a unique prefix of one, or \`last\`' \
'tail:The job'\''s output so far, on stdout; \`-n N\` the last N lines, \`-f\` follows it to the end' \
'kill:Stop a run (TERM to its processes, KILL after a grace) and release its box' \
'collect:Bring an interrupted or detached run'\''s outputs back (\`collect\` record), then release what it holds; safe to repeat' \
'ps:The runs recorded on this machine (\`ps\` records, or \`--table\`)' \
'reconcile:Billed boxes of runplz'\''s that no live run holds (\`orphan\` records); \`--apply\` deletes them' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'runplz commands' commands "$@"
}
(( $+functions[_runplz__subcmd__brev_commands] )) ||
_runplz__subcmd__brev_commands() {
    local commands; commands=()
    _describe -t commands 'runplz brev commands' commands "$@"
}
(( $+functions[_runplz__subcmd__collect_commands] )) ||
_runplz__subcmd__collect_commands() {
    local commands; commands=()
    _describe -t commands 'runplz collect commands' commands "$@"
}
(( $+functions[_runplz__subcmd__help_commands] )) ||
_runplz__subcmd__help_commands() {
    local commands; commands=(
'local:Run on this machine\: in docker (default) or natively in a venv (\`--native\`)' \
'ssh:Run on an SSH box you own (\`--host\`); runplz never stops or deletes it' \
'brev:Run on a Brev box\: picked and created for the run and deleted after it, or a named one (\`--instance\`) started and then stopped (\`brev.on_finish\`)' \
'modal:Run on Modal\: a Sandbox built from the job'\''s image, outputs back as a tarball; \`--detach\` leaves the job running there' \
'slurm:Run on a Slurm cluster through its login node (\`--host\`, or \`--host local\`)\: sbatch, wait, collect' \
'runpod:Run on a RunPod pod created for the run (picked from live prices) and terminated after it' \
'status:Where a run started earlier stands (\`run-status\` record); RUN is a run id, a unique prefix of one, or \`last\`' \
'tail:The job'\''s output so far, on stdout; \`-n N\` the last N lines, \`-f\` follows it to the end' \
'kill:Stop a run (TERM to its processes, KILL after a grace) and release its box' \
'collect:Bring an interrupted or detached run'\''s outputs back (\`collect\` record), then release what it holds; safe to repeat' \
'ps:The runs recorded on this machine (\`ps\` records, or \`--table\`)' \
'reconcile:Billed boxes of runplz'\''s that no live run holds (\`orphan\` records); \`--apply\` deletes them' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'runplz help commands' commands "$@"
}
(( $+functions[_runplz__subcmd__help__subcmd__brev_commands] )) ||
_runplz__subcmd__help__subcmd__brev_commands() {
    local commands; commands=()
    _describe -t commands 'runplz help brev commands' commands "$@"
}
(( $+functions[_runplz__subcmd__help__subcmd__collect_commands] )) ||
_runplz__subcmd__help__subcmd__collect_commands() {
    local commands; commands=()
    _describe -t commands 'runplz help collect commands' commands "$@"
}
(( $+functions[_runplz__subcmd__help__subcmd__help_commands] )) ||
_runplz__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'runplz help help commands' commands "$@"
}
(( $+functions[_runplz__subcmd__help__subcmd__kill_commands] )) ||
_runplz__subcmd__help__subcmd__kill_commands() {
    local commands; commands=()
    _describe -t commands 'runplz help kill commands' commands "$@"
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
(( $+functions[_runplz__subcmd__help__subcmd__ps_commands] )) ||
_runplz__subcmd__help__subcmd__ps_commands() {
    local commands; commands=()
    _describe -t commands 'runplz help ps commands' commands "$@"
}
(( $+functions[_runplz__subcmd__help__subcmd__reconcile_commands] )) ||
_runplz__subcmd__help__subcmd__reconcile_commands() {
    local commands; commands=()
    _describe -t commands 'runplz help reconcile commands' commands "$@"
}
(( $+functions[_runplz__subcmd__help__subcmd__runpod_commands] )) ||
_runplz__subcmd__help__subcmd__runpod_commands() {
    local commands; commands=()
    _describe -t commands 'runplz help runpod commands' commands "$@"
}
(( $+functions[_runplz__subcmd__help__subcmd__slurm_commands] )) ||
_runplz__subcmd__help__subcmd__slurm_commands() {
    local commands; commands=()
    _describe -t commands 'runplz help slurm commands' commands "$@"
}
(( $+functions[_runplz__subcmd__help__subcmd__ssh_commands] )) ||
_runplz__subcmd__help__subcmd__ssh_commands() {
    local commands; commands=()
    _describe -t commands 'runplz help ssh commands' commands "$@"
}
(( $+functions[_runplz__subcmd__help__subcmd__status_commands] )) ||
_runplz__subcmd__help__subcmd__status_commands() {
    local commands; commands=()
    _describe -t commands 'runplz help status commands' commands "$@"
}
(( $+functions[_runplz__subcmd__help__subcmd__tail_commands] )) ||
_runplz__subcmd__help__subcmd__tail_commands() {
    local commands; commands=()
    _describe -t commands 'runplz help tail commands' commands "$@"
}
(( $+functions[_runplz__subcmd__kill_commands] )) ||
_runplz__subcmd__kill_commands() {
    local commands; commands=()
    _describe -t commands 'runplz kill commands' commands "$@"
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
(( $+functions[_runplz__subcmd__ps_commands] )) ||
_runplz__subcmd__ps_commands() {
    local commands; commands=()
    _describe -t commands 'runplz ps commands' commands "$@"
}
(( $+functions[_runplz__subcmd__reconcile_commands] )) ||
_runplz__subcmd__reconcile_commands() {
    local commands; commands=()
    _describe -t commands 'runplz reconcile commands' commands "$@"
}
(( $+functions[_runplz__subcmd__runpod_commands] )) ||
_runplz__subcmd__runpod_commands() {
    local commands; commands=()
    _describe -t commands 'runplz runpod commands' commands "$@"
}
(( $+functions[_runplz__subcmd__slurm_commands] )) ||
_runplz__subcmd__slurm_commands() {
    local commands; commands=()
    _describe -t commands 'runplz slurm commands' commands "$@"
}
(( $+functions[_runplz__subcmd__ssh_commands] )) ||
_runplz__subcmd__ssh_commands() {
    local commands; commands=()
    _describe -t commands 'runplz ssh commands' commands "$@"
}
(( $+functions[_runplz__subcmd__status_commands] )) ||
_runplz__subcmd__status_commands() {
    local commands; commands=()
    _describe -t commands 'runplz status commands' commands "$@"
}
(( $+functions[_runplz__subcmd__tail_commands] )) ||
_runplz__subcmd__tail_commands() {
    local commands; commands=()
    _describe -t commands 'runplz tail commands' commands "$@"
}

if [ "$funcstack[1]" = "_runplz" ]; then
    _runplz "$@"
else
    compdef _runplz runplz
fi
