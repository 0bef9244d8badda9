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
complete -c runplz -n "__fish_runplz_needs_command" -f -a "brev" -d 'Run on a Brev box: picked and created for the run and deleted after it, or a named one (`--instance`) started and then stopped (`brev.on_finish`)'
complete -c runplz -n "__fish_runplz_needs_command" -f -a "modal" -d 'Run on Modal: a Sandbox built from the job\'s image, outputs back as a tarball; `--detach` leaves the job running there'
complete -c runplz -n "__fish_runplz_needs_command" -f -a "slurm" -d 'Run on a Slurm cluster through its login node (`--host`, or `--host local`): sbatch, wait, collect'
complete -c runplz -n "__fish_runplz_needs_command" -f -a "status" -d 'Where a run started earlier stands (`run-status` record). Modal runs so far'
complete -c runplz -n "__fish_runplz_needs_command" -f -a "tail" -d 'The job\'s output so far, on stdout; `-f` follows it to the end'
complete -c runplz -n "__fish_runplz_needs_command" -f -a "kill" -d 'Stop a run and what it holds (a Modal run\'s sandbox is terminated)'
complete -c runplz -n "__fish_runplz_needs_command" -f -a "collect" -d 'Bring a detached run\'s outputs back (`collect` record), then release what it holds'
complete -c runplz -n "__fish_runplz_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c runplz -n "__fish_runplz_using_subcommand local" -l outputs-dir -d 'Where `$RUNPLZ_OUT` comes back to (default: the job\'s `outputs_dir`, else `out/` beside the job file). Relative to the current folder; it must be a new or existing folder strictly inside the job\'s folder, reached through no symlink' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand local" -l var -d 'Fill a `{NAME}` placeholder of `run` (repeatable; beats `--vars-file`)' -r
complete -c runplz -n "__fish_runplz_using_subcommand local" -l vars-file -d 'A JSON object of strings filling `{NAME}` placeholders (beats the job\'s `args`)' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand local" -l env -d 'Pass NAME to the job with its value from runplz\'s environment, or as given (`NAME=VALUE`, which `ps` shows on runplz\'s own command line: prefer `NAME`). Repeatable; beats `--env-file` and the job\'s `pass_env` and `env`. The value travels as the job\'s `env` does (over stdin, never on a command line or in a file left on the box); the run record lists the name, never the value. An unset NAME is exit 2' -r
complete -c runplz -n "__fish_runplz_using_subcommand local" -l env-file -d 'Pass the variables of FILE, a JSON object of strings (`{"HF_TOKEN": "..."}`), to the job, as `--env` does; beats the job\'s `pass_env` and `env`, loses to `--env`' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand local" -l allow-secret -d 'Allow a finding of the secret scan that is not a secret: a gitignore-style path relative to the shipped folder, optionally `:LINE` (repeatable; adds to the job\'s `sync.allow_secrets`). Every file the run would ship is scanned first; a finding not allowed stops the run before anything is created (exit 2)' -r
complete -c runplz -n "__fish_runplz_using_subcommand local" -l sweep -d 'Run once per arg set of FILE: a JSON object of name -> list of values (the cross product) or JSON Lines of objects name -> value. Each set fills the job\'s `args` as `--NAME=VALUE` does; each run gets its own run id and outputs folder (`<outputs>/<sweep id>-<index>`). stdout: one `sweep_run` record per run as it ends, then a `sweep` summary. Exit 0 when every run passed, 1 when any failed' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand local" -l parallel -d 'With --sweep: at most N runs at once (default 4; 1 on brev; on slurm every run, up to 32)' -r
complete -c runplz -n "__fish_runplz_using_subcommand local" -l plan -d 'Print the equivalent POSIX shell script of rp-* calls instead of running anything. It never holds a value of the environment passed to the job: it reads `pass_env` and `--env NAME` from its own environment when it runs (so `--env NAME=VALUE` is refused with `--plan`) and the `--env-file` by its path'
complete -c runplz -n "__fish_runplz_using_subcommand local" -l json -d 'Print the run record (see OUTPUT) on stdout, and send the job\'s stdout to stderr, as `cargo --message-format=json` does. The record is kept in the run state either way'
complete -c runplz -n "__fish_runplz_using_subcommand local" -s q -l quiet -d 'Say only warnings and errors on stderr (the job\'s own output still comes): no step lines, no set-up output (a failed step\'s error still ends with its last lines)'
complete -c runplz -n "__fish_runplz_using_subcommand local" -l table -d 'With --sweep: one table for people at the end instead of JSON records'
complete -c runplz -n "__fish_runplz_using_subcommand local" -l no-build -d 'Reuse the image tagged by the last build instead of building (docker mode)'
complete -c runplz -n "__fish_runplz_using_subcommand local" -l native -d 'Run natively in a venv instead of docker (same as `"local": {"use_docker": false}`)'
complete -c runplz -n "__fish_runplz_using_subcommand local" -s h -l help -d 'Print help'
complete -c runplz -n "__fish_runplz_using_subcommand ssh" -l outputs-dir -d 'Where `$RUNPLZ_OUT` comes back to (default: the job\'s `outputs_dir`, else `out/` beside the job file). Relative to the current folder; it must be a new or existing folder strictly inside the job\'s folder, reached through no symlink' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand ssh" -l var -d 'Fill a `{NAME}` placeholder of `run` (repeatable; beats `--vars-file`)' -r
complete -c runplz -n "__fish_runplz_using_subcommand ssh" -l vars-file -d 'A JSON object of strings filling `{NAME}` placeholders (beats the job\'s `args`)' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand ssh" -l env -d 'Pass NAME to the job with its value from runplz\'s environment, or as given (`NAME=VALUE`, which `ps` shows on runplz\'s own command line: prefer `NAME`). Repeatable; beats `--env-file` and the job\'s `pass_env` and `env`. The value travels as the job\'s `env` does (over stdin, never on a command line or in a file left on the box); the run record lists the name, never the value. An unset NAME is exit 2' -r
complete -c runplz -n "__fish_runplz_using_subcommand ssh" -l env-file -d 'Pass the variables of FILE, a JSON object of strings (`{"HF_TOKEN": "..."}`), to the job, as `--env` does; beats the job\'s `pass_env` and `env`, loses to `--env`' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand ssh" -l allow-secret -d 'Allow a finding of the secret scan that is not a secret: a gitignore-style path relative to the shipped folder, optionally `:LINE` (repeatable; adds to the job\'s `sync.allow_secrets`). Every file the run would ship is scanned first; a finding not allowed stops the run before anything is created (exit 2)' -r
complete -c runplz -n "__fish_runplz_using_subcommand ssh" -l sweep -d 'Run once per arg set of FILE: a JSON object of name -> list of values (the cross product) or JSON Lines of objects name -> value. Each set fills the job\'s `args` as `--NAME=VALUE` does; each run gets its own run id and outputs folder (`<outputs>/<sweep id>-<index>`). stdout: one `sweep_run` record per run as it ends, then a `sweep` summary. Exit 0 when every run passed, 1 when any failed' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand ssh" -l parallel -d 'With --sweep: at most N runs at once (default 4; 1 on brev; on slurm every run, up to 32)' -r
complete -c runplz -n "__fish_runplz_using_subcommand ssh" -l host -d 'The box, as `[user@]host[:port]` or an ssh-config alias' -r
complete -c runplz -n "__fish_runplz_using_subcommand ssh" -l ssh-config -d 'An ssh config file passed to ssh and rsync as `-F`' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand ssh" -l plan -d 'Print the equivalent POSIX shell script of rp-* calls instead of running anything. It never holds a value of the environment passed to the job: it reads `pass_env` and `--env NAME` from its own environment when it runs (so `--env NAME=VALUE` is refused with `--plan`) and the `--env-file` by its path'
complete -c runplz -n "__fish_runplz_using_subcommand ssh" -l json -d 'Print the run record (see OUTPUT) on stdout, and send the job\'s stdout to stderr, as `cargo --message-format=json` does. The record is kept in the run state either way'
complete -c runplz -n "__fish_runplz_using_subcommand ssh" -s q -l quiet -d 'Say only warnings and errors on stderr (the job\'s own output still comes): no step lines, no set-up output (a failed step\'s error still ends with its last lines)'
complete -c runplz -n "__fish_runplz_using_subcommand ssh" -l table -d 'With --sweep: one table for people at the end instead of JSON records'
complete -c runplz -n "__fish_runplz_using_subcommand ssh" -l no-keep -d 'Close the ssh connection with the run. By default it stays open for 60 s after the run (the job\'s `ssh.keep_connection_seconds`), its socket in a private folder (`$XDG_RUNTIME_DIR/runplz`, else `$TMPDIR/runplz-UID`), so the next run to the same box skips ssh\'s handshake'
complete -c runplz -n "__fish_runplz_using_subcommand ssh" -l detach -d 'Return once the job runs on the box, printing the run record (ending {"kind":"detached"}). The job runs on under its supervisor there (deadline and inactivity watch included); its output and end wait in ~/.runplz/runs/RUN on the box, its outputs in the run\'s outputs folder: `runplz status / tail / kill / collect RUN` take it from here'
complete -c runplz -n "__fish_runplz_using_subcommand ssh" -s h -l help -d 'Print help'
complete -c runplz -n "__fish_runplz_using_subcommand brev" -l outputs-dir -d 'Where `$RUNPLZ_OUT` comes back to (default: the job\'s `outputs_dir`, else `out/` beside the job file). Relative to the current folder; it must be a new or existing folder strictly inside the job\'s folder, reached through no symlink' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand brev" -l var -d 'Fill a `{NAME}` placeholder of `run` (repeatable; beats `--vars-file`)' -r
complete -c runplz -n "__fish_runplz_using_subcommand brev" -l vars-file -d 'A JSON object of strings filling `{NAME}` placeholders (beats the job\'s `args`)' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand brev" -l env -d 'Pass NAME to the job with its value from runplz\'s environment, or as given (`NAME=VALUE`, which `ps` shows on runplz\'s own command line: prefer `NAME`). Repeatable; beats `--env-file` and the job\'s `pass_env` and `env`. The value travels as the job\'s `env` does (over stdin, never on a command line or in a file left on the box); the run record lists the name, never the value. An unset NAME is exit 2' -r
complete -c runplz -n "__fish_runplz_using_subcommand brev" -l env-file -d 'Pass the variables of FILE, a JSON object of strings (`{"HF_TOKEN": "..."}`), to the job, as `--env` does; beats the job\'s `pass_env` and `env`, loses to `--env`' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand brev" -l allow-secret -d 'Allow a finding of the secret scan that is not a secret: a gitignore-style path relative to the shipped folder, optionally `:LINE` (repeatable; adds to the job\'s `sync.allow_secrets`). Every file the run would ship is scanned first; a finding not allowed stops the run before anything is created (exit 2)' -r
complete -c runplz -n "__fish_runplz_using_subcommand brev" -l sweep -d 'Run once per arg set of FILE: a JSON object of name -> list of values (the cross product) or JSON Lines of objects name -> value. Each set fills the job\'s `args` as `--NAME=VALUE` does; each run gets its own run id and outputs folder (`<outputs>/<sweep id>-<index>`). stdout: one `sweep_run` record per run as it ends, then a `sweep` summary. Exit 0 when every run passed, 1 when any failed' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand brev" -l parallel -d 'With --sweep: at most N runs at once (default 4; 1 on brev; on slurm every run, up to 32)' -r
complete -c runplz -n "__fish_runplz_using_subcommand brev" -l instance -d 'A Brev box you made (`brev ls` lists it): started if stopped, used, then stopped (`brev.on_finish`). A name brev does not know is refused before anything is billed, unless `brev.auto_create_instances`. Without it, runplz picks the cheapest type that fits, creates `runplz-<job>-<8 hex>` and deletes it on every exit path' -r
complete -c runplz -n "__fish_runplz_using_subcommand brev" -l ssh-config -d 'Your ssh config, included after brev\'s `~/.brev/ssh_config` in the run\'s own' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand brev" -l plan -d 'Print the equivalent POSIX shell script of rp-* calls instead of running anything. It never holds a value of the environment passed to the job: it reads `pass_env` and `--env NAME` from its own environment when it runs (so `--env NAME=VALUE` is refused with `--plan`) and the `--env-file` by its path'
complete -c runplz -n "__fish_runplz_using_subcommand brev" -l json -d 'Print the run record (see OUTPUT) on stdout, and send the job\'s stdout to stderr, as `cargo --message-format=json` does. The record is kept in the run state either way'
complete -c runplz -n "__fish_runplz_using_subcommand brev" -s q -l quiet -d 'Say only warnings and errors on stderr (the job\'s own output still comes): no step lines, no set-up output (a failed step\'s error still ends with its last lines)'
complete -c runplz -n "__fish_runplz_using_subcommand brev" -l table -d 'With --sweep: one table for people at the end instead of JSON records'
complete -c runplz -n "__fish_runplz_using_subcommand brev" -l detach -d 'Return once the job runs on the box, printing the run record (ending {"kind":"detached"}). The box stays up, billed, until `runplz collect RUN` (outputs back) or `runplz kill RUN` releases it as `brev.on_finish` says; the job runs on under its supervisor there (deadline and inactivity watch included)'
complete -c runplz -n "__fish_runplz_using_subcommand brev" -s h -l help -d 'Print help'
complete -c runplz -n "__fish_runplz_using_subcommand modal" -l outputs-dir -d 'Where `$RUNPLZ_OUT` comes back to (default: the job\'s `outputs_dir`, else `out/` beside the job file). Relative to the current folder; it must be a new or existing folder strictly inside the job\'s folder, reached through no symlink' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand modal" -l var -d 'Fill a `{NAME}` placeholder of `run` (repeatable; beats `--vars-file`)' -r
complete -c runplz -n "__fish_runplz_using_subcommand modal" -l vars-file -d 'A JSON object of strings filling `{NAME}` placeholders (beats the job\'s `args`)' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand modal" -l env -d 'Pass NAME to the job with its value from runplz\'s environment, or as given (`NAME=VALUE`, which `ps` shows on runplz\'s own command line: prefer `NAME`). Repeatable; beats `--env-file` and the job\'s `pass_env` and `env`. The value travels as the job\'s `env` does (over stdin, never on a command line or in a file left on the box); the run record lists the name, never the value. An unset NAME is exit 2' -r
complete -c runplz -n "__fish_runplz_using_subcommand modal" -l env-file -d 'Pass the variables of FILE, a JSON object of strings (`{"HF_TOKEN": "..."}`), to the job, as `--env` does; beats the job\'s `pass_env` and `env`, loses to `--env`' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand modal" -l allow-secret -d 'Allow a finding of the secret scan that is not a secret: a gitignore-style path relative to the shipped folder, optionally `:LINE` (repeatable; adds to the job\'s `sync.allow_secrets`). Every file the run would ship is scanned first; a finding not allowed stops the run before anything is created (exit 2)' -r
complete -c runplz -n "__fish_runplz_using_subcommand modal" -l sweep -d 'Run once per arg set of FILE: a JSON object of name -> list of values (the cross product) or JSON Lines of objects name -> value. Each set fills the job\'s `args` as `--NAME=VALUE` does; each run gets its own run id and outputs folder (`<outputs>/<sweep id>-<index>`). stdout: one `sweep_run` record per run as it ends, then a `sweep` summary. Exit 0 when every run passed, 1 when any failed' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand modal" -l parallel -d 'With --sweep: at most N runs at once (default 4; 1 on brev; on slurm every run, up to 32)' -r
complete -c runplz -n "__fish_runplz_using_subcommand modal" -l plan -d 'Print the equivalent POSIX shell script of rp-* calls instead of running anything. It never holds a value of the environment passed to the job: it reads `pass_env` and `--env NAME` from its own environment when it runs (so `--env NAME=VALUE` is refused with `--plan`) and the `--env-file` by its path'
complete -c runplz -n "__fish_runplz_using_subcommand modal" -l json -d 'Print the run record (see OUTPUT) on stdout, and send the job\'s stdout to stderr, as `cargo --message-format=json` does. The record is kept in the run state either way'
complete -c runplz -n "__fish_runplz_using_subcommand modal" -s q -l quiet -d 'Say only warnings and errors on stderr (the job\'s own output still comes): no step lines, no set-up output (a failed step\'s error still ends with its last lines)'
complete -c runplz -n "__fish_runplz_using_subcommand modal" -l table -d 'With --sweep: one table for people at the end instead of JSON records'
complete -c runplz -n "__fish_runplz_using_subcommand modal" -l detach -d 'Return once the sandbox runs the job, printing the run record (ending {"kind":"detached"}); then `runplz status / tail / kill / collect RUN`'
complete -c runplz -n "__fish_runplz_using_subcommand modal" -l dry-run -d 'Validate, then print what would be sent to Modal as one `modal-plan` record (app, gpu string, cpu, memory in MiB, timeouts, image chain, env names, never values); nothing is touched'
complete -c runplz -n "__fish_runplz_using_subcommand modal" -s h -l help -d 'Print help'
complete -c runplz -n "__fish_runplz_using_subcommand slurm" -l outputs-dir -d 'Where `$RUNPLZ_OUT` comes back to (default: the job\'s `outputs_dir`, else `out/` beside the job file). Relative to the current folder; it must be a new or existing folder strictly inside the job\'s folder, reached through no symlink' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand slurm" -l var -d 'Fill a `{NAME}` placeholder of `run` (repeatable; beats `--vars-file`)' -r
complete -c runplz -n "__fish_runplz_using_subcommand slurm" -l vars-file -d 'A JSON object of strings filling `{NAME}` placeholders (beats the job\'s `args`)' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand slurm" -l env -d 'Pass NAME to the job with its value from runplz\'s environment, or as given (`NAME=VALUE`, which `ps` shows on runplz\'s own command line: prefer `NAME`). Repeatable; beats `--env-file` and the job\'s `pass_env` and `env`. The value travels as the job\'s `env` does (over stdin, never on a command line or in a file left on the box); the run record lists the name, never the value. An unset NAME is exit 2' -r
complete -c runplz -n "__fish_runplz_using_subcommand slurm" -l env-file -d 'Pass the variables of FILE, a JSON object of strings (`{"HF_TOKEN": "..."}`), to the job, as `--env` does; beats the job\'s `pass_env` and `env`, loses to `--env`' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand slurm" -l allow-secret -d 'Allow a finding of the secret scan that is not a secret: a gitignore-style path relative to the shipped folder, optionally `:LINE` (repeatable; adds to the job\'s `sync.allow_secrets`). Every file the run would ship is scanned first; a finding not allowed stops the run before anything is created (exit 2)' -r
complete -c runplz -n "__fish_runplz_using_subcommand slurm" -l sweep -d 'Run once per arg set of FILE: a JSON object of name -> list of values (the cross product) or JSON Lines of objects name -> value. Each set fills the job\'s `args` as `--NAME=VALUE` does; each run gets its own run id and outputs folder (`<outputs>/<sweep id>-<index>`). stdout: one `sweep_run` record per run as it ends, then a `sweep` summary. Exit 0 when every run passed, 1 when any failed' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand slurm" -l parallel -d 'With --sweep: at most N runs at once (default 4; 1 on brev; on slurm every run, up to 32)' -r
complete -c runplz -n "__fish_runplz_using_subcommand slurm" -l host -d 'The cluster\'s login node, as `[user@]host[:port]` or an ssh-config alias, or `local` when runplz runs on the login node itself' -r
complete -c runplz -n "__fish_runplz_using_subcommand slurm" -l ssh-config -d 'An ssh config file passed to ssh and rsync as `-F`' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand slurm" -l nodes -d 'Nodes to run on (beats the job\'s `slurm.nodes`); above 1 the command runs once per node through srun, with RUNPLZ_NODE_RANK, RUNPLZ_NODE_COUNT and RUNPLZ_MASTER_ADDR set' -r
complete -c runplz -n "__fish_runplz_using_subcommand slurm" -l plan -d 'Print the equivalent POSIX shell script of rp-* calls instead of running anything. It never holds a value of the environment passed to the job: it reads `pass_env` and `--env NAME` from its own environment when it runs (so `--env NAME=VALUE` is refused with `--plan`) and the `--env-file` by its path'
complete -c runplz -n "__fish_runplz_using_subcommand slurm" -l json -d 'Print the run record (see OUTPUT) on stdout, and send the job\'s stdout to stderr, as `cargo --message-format=json` does. The record is kept in the run state either way'
complete -c runplz -n "__fish_runplz_using_subcommand slurm" -s q -l quiet -d 'Say only warnings and errors on stderr (the job\'s own output still comes): no step lines, no set-up output (a failed step\'s error still ends with its last lines)'
complete -c runplz -n "__fish_runplz_using_subcommand slurm" -l table -d 'With --sweep: one table for people at the end instead of JSON records'
complete -c runplz -n "__fish_runplz_using_subcommand slurm" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runplz -n "__fish_runplz_using_subcommand status" -l backend -d 'The backend to ask when this machine kept no run state for RUN (a Modal run is then found by its tag)' -r -f -a "modal\t''"
complete -c runplz -n "__fish_runplz_using_subcommand status" -s h -l help -d 'Print help'
complete -c runplz -n "__fish_runplz_using_subcommand tail" -l backend -d 'The backend to ask when this machine kept no run state for RUN (a Modal run is then found by its tag)' -r -f -a "modal\t''"
complete -c runplz -n "__fish_runplz_using_subcommand tail" -s f -l follow -d 'Keep printing until the job ends'
complete -c runplz -n "__fish_runplz_using_subcommand tail" -s h -l help -d 'Print help'
complete -c runplz -n "__fish_runplz_using_subcommand kill" -l backend -d 'The backend to ask when this machine kept no run state for RUN (a Modal run is then found by its tag)' -r -f -a "modal\t''"
complete -c runplz -n "__fish_runplz_using_subcommand kill" -s h -l help -d 'Print help'
complete -c runplz -n "__fish_runplz_using_subcommand collect" -l backend -d 'The backend to ask when this machine kept no run state for RUN (a Modal run is then found by its tag)' -r -f -a "modal\t''"
complete -c runplz -n "__fish_runplz_using_subcommand collect" -l outputs-dir -d 'Where the outputs go (default: the run\'s own outputs folder, from its run state)' -r -F
complete -c runplz -n "__fish_runplz_using_subcommand collect" -s h -l help -d 'Print help'
complete -c runplz -n "__fish_runplz_using_subcommand help; and not __fish_seen_subcommand_from local ssh brev modal slurm status tail kill collect help" -f -a "local" -d 'Run on this machine: in docker (default) or natively in a venv (`--native`)'
complete -c runplz -n "__fish_runplz_using_subcommand help; and not __fish_seen_subcommand_from local ssh brev modal slurm status tail kill collect help" -f -a "ssh" -d 'Run on an SSH box you own (`--host`); runplz never stops or deletes it'
complete -c runplz -n "__fish_runplz_using_subcommand help; and not __fish_seen_subcommand_from local ssh brev modal slurm status tail kill collect help" -f -a "brev" -d 'Run on a Brev box: picked and created for the run and deleted after it, or a named one (`--instance`) started and then stopped (`brev.on_finish`)'
complete -c runplz -n "__fish_runplz_using_subcommand help; and not __fish_seen_subcommand_from local ssh brev modal slurm status tail kill collect help" -f -a "modal" -d 'Run on Modal: a Sandbox built from the job\'s image, outputs back as a tarball; `--detach` leaves the job running there'
complete -c runplz -n "__fish_runplz_using_subcommand help; and not __fish_seen_subcommand_from local ssh brev modal slurm status tail kill collect help" -f -a "slurm" -d 'Run on a Slurm cluster through its login node (`--host`, or `--host local`): sbatch, wait, collect'
complete -c runplz -n "__fish_runplz_using_subcommand help; and not __fish_seen_subcommand_from local ssh brev modal slurm status tail kill collect help" -f -a "status" -d 'Where a run started earlier stands (`run-status` record). Modal runs so far'
complete -c runplz -n "__fish_runplz_using_subcommand help; and not __fish_seen_subcommand_from local ssh brev modal slurm status tail kill collect help" -f -a "tail" -d 'The job\'s output so far, on stdout; `-f` follows it to the end'
complete -c runplz -n "__fish_runplz_using_subcommand help; and not __fish_seen_subcommand_from local ssh brev modal slurm status tail kill collect help" -f -a "kill" -d 'Stop a run and what it holds (a Modal run\'s sandbox is terminated)'
complete -c runplz -n "__fish_runplz_using_subcommand help; and not __fish_seen_subcommand_from local ssh brev modal slurm status tail kill collect help" -f -a "collect" -d 'Bring a detached run\'s outputs back (`collect` record), then release what it holds'
complete -c runplz -n "__fish_runplz_using_subcommand help; and not __fish_seen_subcommand_from local ssh brev modal slurm status tail kill collect help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
