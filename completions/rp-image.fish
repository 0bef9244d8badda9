complete -c rp-image -s f -l format -d 'What to render' -r -f -a "dockerfile\t'A Dockerfile: `FROM`, one layer per step, `WORKDIR /workspace`; the repo root is the build context. A `from_dockerfile` job prints the user\'s Dockerfile unchanged'
shell\t'A bash script applying the steps on a box that already runs the base image, from the workspace root: waits for another apt/dpkg, repairs dpkg, uses sudo when not root, pip installs with the first `python3` on PATH. Safe to run again'
modal\t'A JSON record listing the Modal image chain (`modal.Image` method names and arguments) for a Python driver to replay'"
complete -c rp-image -l context -d 'With `--format dockerfile`: also write the docker build context to FILE, a tar of the job\'s folder minus secrets, caches and `sync.exclude` (exactly what rp-sync ships) plus the Dockerfile as `.runplz.Dockerfile`, for `docker build -f .runplz.Dockerfile - < FILE`. Its files are scanned for secrets first, as rp-sync\'s are (the job\'s `sync.secret_scan` and `sync.allow_secrets` apply): a finding is exit 4 and FILE is not written' -r -F
complete -c rp-image -l json -d 'Print a JSON record instead of the raw text'
complete -c rp-image -l skip-apt -d 'With `--format shell`: skip `apt_install` steps'
complete -c rp-image -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rp-image -s V -l version -d 'Print version'
