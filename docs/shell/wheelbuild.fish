# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_wheelbuild_global_optspecs
    string join \n config= locked offline store= cache-dir= v/verbose q/quiet color= remote= h/help V/version
end

function __fish_wheelbuild_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_wheelbuild_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_wheelbuild_using_subcommand
    set -l cmd (__fish_wheelbuild_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c wheelbuild -n "__fish_wheelbuild_needs_command" -l config -d 'Path of the config file [default: wheelbuild.toml in this or a parent directory]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_needs_command" -l store -d 'Store directory [default: store.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_needs_command" -l cache-dir -d 'Cache directory, for git mirrors and build caches [default: cache.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_needs_command" -l color -d 'When to use colors' -r -f -a "auto\t''
always\t''
never\t''"
complete -c wheelbuild -n "__fish_wheelbuild_needs_command" -l remote -d 'Use the shared build cache: `--remote` for the configured one, `--remote=URL` (`registry[:port]/repository`) for another. `build` uses a configured remote anyway; `plan` and `check` only with this flag' -r
complete -c wheelbuild -n "__fish_wheelbuild_needs_command" -l locked -d 'Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline'
complete -c wheelbuild -n "__fish_wheelbuild_needs_command" -l offline -d 'Never touch the network: use only what the lock and local caches hold'
complete -c wheelbuild -n "__fish_wheelbuild_needs_command" -s v -l verbose -d 'More output; repeat for more'
complete -c wheelbuild -n "__fish_wheelbuild_needs_command" -s q -l quiet -d 'Less output'
complete -c wheelbuild -n "__fish_wheelbuild_needs_command" -s h -l help -d 'Print help'
complete -c wheelbuild -n "__fish_wheelbuild_needs_command" -s V -l version -d 'Print version'
complete -c wheelbuild -n "__fish_wheelbuild_needs_command" -f -a "init" -d 'Write a commented wheelbuild.toml for a repository, from what it declares (build requirements, CUDA/HIP code, requires-python, torch, [tool.cibuildwheel])'
complete -c wheelbuild -n "__fish_wheelbuild_needs_command" -f -a "lock" -d 'Resolve image tags to digests and git refs to commits, into wheelbuild.lock'
complete -c wheelbuild -n "__fish_wheelbuild_needs_command" -f -a "plan" -d 'Show every target with its key and whether it must be built, and why'
complete -c wheelbuild -n "__fish_wheelbuild_needs_command" -f -a "check" -d 'CI cache check: exit 0 when every target is in the store, 10 when some would build'
complete -c wheelbuild -n "__fish_wheelbuild_needs_command" -f -a "audit" -d 'Report inputs that are not pinned, mutable, or moved upstream since locking'
complete -c wheelbuild -n "__fish_wheelbuild_needs_command" -f -a "build" -d 'Build every target whose key is not in the store, in digest-pinned containers; put the wheels of the others back into the wheelhouse when they are missing there'
complete -c wheelbuild -n "__fish_wheelbuild_needs_command" -f -a "verify" -d 'Rebuild stored targets in fresh containers, with empty compiler caches, and compare their wheels byte for byte with the store'
complete -c wheelbuild -n "__fish_wheelbuild_needs_command" -f -a "gc" -d 'Remove store entries and environment images no target of the config uses'
complete -c wheelbuild -n "__fish_wheelbuild_needs_command" -f -a "index" -d 'Write the simple package index of each accelerator variant over the wheelhouse (`<output.dir>/index/<accel>/simple/`, for `pip install --index-url`)'
complete -c wheelbuild -n "__fish_wheelbuild_needs_command" -f -a "push" -d 'Push store entries to the remote cache (signed with `[remote] sign-with`)'
complete -c wheelbuild -n "__fish_wheelbuild_needs_command" -f -a "pull" -d 'Pull entries a trusted key signed from the remote cache into the store'
complete -c wheelbuild -n "__fish_wheelbuild_needs_command" -f -a "key" -d 'Signing keys for the remote cache'
complete -c wheelbuild -n "__fish_wheelbuild_needs_command" -f -a "completions" -d 'Print the shell completion script for SHELL, e.g. `wheelbuild completions bash > /etc/bash_completion.d/wheelbuild`'
complete -c wheelbuild -n "__fish_wheelbuild_needs_command" -f -a "man" -d 'Print a man page in roff: wheelbuild(1), or with COMMAND wheelbuild-COMMAND(1)'
complete -c wheelbuild -n "__fish_wheelbuild_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand init" -l python -d 'Python versions of the matrix (repeatable) [default: those of the default table that the project allows]' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand init" -l cuda -d 'Accelerator variants of the matrix (repeatable): `cpu`, `cudaX.Y`, `rocmX.Y` [default: from the GPU code found]' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand init" -l image -d 'One image template for every cell, e.g. `registry.internal/base:py{python}-{variant}` [default: the default image table]' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand init" -l config -d 'Path of the config file [default: wheelbuild.toml in this or a parent directory]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand init" -l store -d 'Store directory [default: store.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand init" -l cache-dir -d 'Cache directory, for git mirrors and build caches [default: cache.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand init" -l color -d 'When to use colors' -r -f -a "auto\t''
always\t''
never\t''"
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand init" -l remote -d 'Use the shared build cache: `--remote` for the configured one, `--remote=URL` (`registry[:port]/repository`) for another. `build` uses a configured remote anyway; `plan` and `check` only with this flag' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand init" -l locked -d 'Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand init" -l offline -d 'Never touch the network: use only what the lock and local caches hold'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand init" -s v -l verbose -d 'More output; repeat for more'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand init" -s q -l quiet -d 'Less output'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand init" -s h -l help -d 'Print help'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand lock" -l update -d 'Re-resolve only these projects (their git ref) or images (reference or repository). A pip package name re-resolves every environment that installs it' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand lock" -l config -d 'Path of the config file [default: wheelbuild.toml in this or a parent directory]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand lock" -l store -d 'Store directory [default: store.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand lock" -l cache-dir -d 'Cache directory, for git mirrors and build caches [default: cache.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand lock" -l color -d 'When to use colors' -r -f -a "auto\t''
always\t''
never\t''"
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand lock" -l remote -d 'Use the shared build cache: `--remote` for the configured one, `--remote=URL` (`registry[:port]/repository`) for another. `build` uses a configured remote anyway; `plan` and `check` only with this flag' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand lock" -l update-all -d 'Re-resolve every input'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand lock" -l update-env -d 'Re-resolve every environment (pip and apt packages) in its pinned image'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand lock" -l locked -d 'Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand lock" -l offline -d 'Never touch the network: use only what the lock and local caches hold'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand lock" -s v -l verbose -d 'More output; repeat for more'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand lock" -s q -l quiet -d 'Less output'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand lock" -s h -l help -d 'Print help'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand plan" -l format -d 'Output format. The JSON is documented in the README and versioned' -r -f -a "table\t''
json\t''"
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand plan" -l shard -d 'Only the targets to build that fall in part I of N (CI fan-out; see `build --shard`)' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand plan" -l matrix-shards -d 'In the JSON, a GitHub Actions matrix of one entry per shard of N (`{"shard": "2/4", "targets": 5}`) instead of one per target' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand plan" -l config -d 'Path of the config file [default: wheelbuild.toml in this or a parent directory]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand plan" -l store -d 'Store directory [default: store.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand plan" -l cache-dir -d 'Cache directory, for git mirrors and build caches [default: cache.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand plan" -l color -d 'When to use colors' -r -f -a "auto\t''
always\t''
never\t''"
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand plan" -l remote -d 'Use the shared build cache: `--remote` for the configured one, `--remote=URL` (`registry[:port]/repository`) for another. `build` uses a configured remote anyway; `plan` and `check` only with this flag' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand plan" -l locked -d 'Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand plan" -l offline -d 'Never touch the network: use only what the lock and local caches hold'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand plan" -s v -l verbose -d 'More output; repeat for more'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand plan" -s q -l quiet -d 'Less output'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand plan" -s h -l help -d 'Print help'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand check" -l format -d 'Output format. The JSON is documented in the README and versioned' -r -f -a "table\t''
json\t''"
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand check" -l shard -d 'Only the targets to build that fall in part I of N (CI fan-out; see `build --shard`)' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand check" -l matrix-shards -d 'In the JSON, a GitHub Actions matrix of one entry per shard of N (`{"shard": "2/4", "targets": 5}`) instead of one per target' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand check" -l config -d 'Path of the config file [default: wheelbuild.toml in this or a parent directory]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand check" -l store -d 'Store directory [default: store.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand check" -l cache-dir -d 'Cache directory, for git mirrors and build caches [default: cache.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand check" -l color -d 'When to use colors' -r -f -a "auto\t''
always\t''
never\t''"
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand check" -l remote -d 'Use the shared build cache: `--remote` for the configured one, `--remote=URL` (`registry[:port]/repository`) for another. `build` uses a configured remote anyway; `plan` and `check` only with this flag' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand check" -l locked -d 'Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand check" -l offline -d 'Never touch the network: use only what the lock and local caches hold'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand check" -s v -l verbose -d 'More output; repeat for more'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand check" -s q -l quiet -d 'Less output'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand check" -s h -l help -d 'Print help'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand audit" -l format -r -f -a "table\t''
json\t''"
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand audit" -l allow -d 'Accept findings of this kind (repeatable), e.g. `--allow mutable-ref`' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand audit" -l config -d 'Path of the config file [default: wheelbuild.toml in this or a parent directory]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand audit" -l store -d 'Store directory [default: store.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand audit" -l cache-dir -d 'Cache directory, for git mirrors and build caches [default: cache.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand audit" -l color -d 'When to use colors' -r -f -a "auto\t''
always\t''
never\t''"
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand audit" -l remote -d 'Use the shared build cache: `--remote` for the configured one, `--remote=URL` (`registry[:port]/repository`) for another. `build` uses a configured remote anyway; `plan` and `check` only with this flag' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand audit" -l locked -d 'Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand audit" -l offline -d 'Never touch the network: use only what the lock and local caches hold'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand audit" -s v -l verbose -d 'More output; repeat for more'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand audit" -s q -l quiet -d 'Less output'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand audit" -s h -l help -d 'Print help'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand build" -s j -l jobs -d 'Targets built at once on each engine [default: the engine\'s `jobs`, else from its cores and memory]' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand build" -l engine -d 'Build only on these `[[engine]]`s (repeatable)' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand build" -l only -d 'Only these projects or target ids (repeatable)' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand build" -l shard -d 'Build only the targets to build that fall in part I of N: every runner of a CI matrix computes the same split (use `--remote` so that they agree on what is cached)' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand build" -l config -d 'Path of the config file [default: wheelbuild.toml in this or a parent directory]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand build" -l store -d 'Store directory [default: store.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand build" -l cache-dir -d 'Cache directory, for git mirrors and build caches [default: cache.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand build" -l color -d 'When to use colors' -r -f -a "auto\t''
always\t''
never\t''"
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand build" -l remote -d 'Use the shared build cache: `--remote` for the configured one, `--remote=URL` (`registry[:port]/repository`) for another. `build` uses a configured remote anyway; `plan` and `check` only with this flag' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand build" -l keep-going -d 'Keep building the other targets after one fails'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand build" -l dry-run -d 'Show what would be built (as `plan`), build nothing'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand build" -l rebuild-env -d 'Rebuild the apt/pip environment images even when they exist (ATLAS\' NO_CACHE=1)'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand build" -l retest -d 'Run every test again, even one whose outcome is stored for its test key'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand build" -l lock -d 'Update wheelbuild.lock first when it does not match the config (else that is an error)'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand build" -l push -d 'Push what this run builds to the remote cache (as `[remote] push = true`)'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand build" -l locked -d 'Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand build" -l offline -d 'Never touch the network: use only what the lock and local caches hold'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand build" -s v -l verbose -d 'More output; repeat for more'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand build" -s q -l quiet -d 'Less output'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand build" -s h -l help -d 'Print help'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand verify" -s j -l jobs -d 'Targets rebuilt at once [default: from the daemon\'s cores and memory]' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand verify" -l keep -d 'Keep the rebuilt wheels in DIR/<target id>/ (to inspect what differs)' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand verify" -l format -r -f -a "table\t''
json\t''"
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand verify" -l config -d 'Path of the config file [default: wheelbuild.toml in this or a parent directory]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand verify" -l store -d 'Store directory [default: store.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand verify" -l cache-dir -d 'Cache directory, for git mirrors and build caches [default: cache.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand verify" -l color -d 'When to use colors' -r -f -a "auto\t''
always\t''
never\t''"
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand verify" -l remote -d 'Use the shared build cache: `--remote` for the configured one, `--remote=URL` (`registry[:port]/repository`) for another. `build` uses a configured remote anyway; `plan` and `check` only with this flag' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand verify" -l locked -d 'Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand verify" -l offline -d 'Never touch the network: use only what the lock and local caches hold'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand verify" -s v -l verbose -d 'More output; repeat for more'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand verify" -s q -l quiet -d 'Less output'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand verify" -s h -l help -d 'Print help'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand gc" -l keep-days -d 'Keep unused entries and images younger than this many days' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand gc" -l config -d 'Path of the config file [default: wheelbuild.toml in this or a parent directory]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand gc" -l store -d 'Store directory [default: store.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand gc" -l cache-dir -d 'Cache directory, for git mirrors and build caches [default: cache.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand gc" -l color -d 'When to use colors' -r -f -a "auto\t''
always\t''
never\t''"
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand gc" -l remote -d 'Use the shared build cache: `--remote` for the configured one, `--remote=URL` (`registry[:port]/repository`) for another. `build` uses a configured remote anyway; `plan` and `check` only with this flag' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand gc" -l dry-run -d 'Say what would be removed, remove nothing'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand gc" -l prune-caches -d 'Also remove the engine\'s cache volumes (ccache, pip) of channels and variants this config does not build (other projects on the engine may use them)'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand gc" -l locked -d 'Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand gc" -l offline -d 'Never touch the network: use only what the lock and local caches hold'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand gc" -s v -l verbose -d 'More output; repeat for more'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand gc" -s q -l quiet -d 'Less output'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand gc" -s h -l help -d 'Print help'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand index" -l config -d 'Path of the config file [default: wheelbuild.toml in this or a parent directory]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand index" -l store -d 'Store directory [default: store.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand index" -l cache-dir -d 'Cache directory, for git mirrors and build caches [default: cache.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand index" -l color -d 'When to use colors' -r -f -a "auto\t''
always\t''
never\t''"
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand index" -l remote -d 'Use the shared build cache: `--remote` for the configured one, `--remote=URL` (`registry[:port]/repository`) for another. `build` uses a configured remote anyway; `plan` and `check` only with this flag' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand index" -l locked -d 'Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand index" -l offline -d 'Never touch the network: use only what the lock and local caches hold'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand index" -s v -l verbose -d 'More output; repeat for more'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand index" -s q -l quiet -d 'Less output'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand index" -s h -l help -d 'Print help'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand push" -l config -d 'Path of the config file [default: wheelbuild.toml in this or a parent directory]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand push" -l store -d 'Store directory [default: store.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand push" -l cache-dir -d 'Cache directory, for git mirrors and build caches [default: cache.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand push" -l color -d 'When to use colors' -r -f -a "auto\t''
always\t''
never\t''"
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand push" -l remote -d 'Use the shared build cache: `--remote` for the configured one, `--remote=URL` (`registry[:port]/repository`) for another. `build` uses a configured remote anyway; `plan` and `check` only with this flag' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand push" -l locked -d 'Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand push" -l offline -d 'Never touch the network: use only what the lock and local caches hold'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand push" -s v -l verbose -d 'More output; repeat for more'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand push" -s q -l quiet -d 'Less output'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand push" -s h -l help -d 'Print help'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand pull" -l config -d 'Path of the config file [default: wheelbuild.toml in this or a parent directory]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand pull" -l store -d 'Store directory [default: store.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand pull" -l cache-dir -d 'Cache directory, for git mirrors and build caches [default: cache.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand pull" -l color -d 'When to use colors' -r -f -a "auto\t''
always\t''
never\t''"
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand pull" -l remote -d 'Use the shared build cache: `--remote` for the configured one, `--remote=URL` (`registry[:port]/repository`) for another. `build` uses a configured remote anyway; `plan` and `check` only with this flag' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand pull" -l locked -d 'Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand pull" -l offline -d 'Never touch the network: use only what the lock and local caches hold'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand pull" -s v -l verbose -d 'More output; repeat for more'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand pull" -s q -l quiet -d 'Less output'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand pull" -s h -l help -d 'Print help'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand key; and not __fish_seen_subcommand_from generate help" -l config -d 'Path of the config file [default: wheelbuild.toml in this or a parent directory]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand key; and not __fish_seen_subcommand_from generate help" -l store -d 'Store directory [default: store.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand key; and not __fish_seen_subcommand_from generate help" -l cache-dir -d 'Cache directory, for git mirrors and build caches [default: cache.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand key; and not __fish_seen_subcommand_from generate help" -l color -d 'When to use colors' -r -f -a "auto\t''
always\t''
never\t''"
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand key; and not __fish_seen_subcommand_from generate help" -l remote -d 'Use the shared build cache: `--remote` for the configured one, `--remote=URL` (`registry[:port]/repository`) for another. `build` uses a configured remote anyway; `plan` and `check` only with this flag' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand key; and not __fish_seen_subcommand_from generate help" -l locked -d 'Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand key; and not __fish_seen_subcommand_from generate help" -l offline -d 'Never touch the network: use only what the lock and local caches hold'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand key; and not __fish_seen_subcommand_from generate help" -s v -l verbose -d 'More output; repeat for more'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand key; and not __fish_seen_subcommand_from generate help" -s q -l quiet -d 'Less output'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand key; and not __fish_seen_subcommand_from generate help" -s h -l help -d 'Print help'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand key; and not __fish_seen_subcommand_from generate help" -f -a "generate" -d 'Make an ed25519 key pair: DIR/NAME.secret (mode 0600) and DIR/NAME.public; prints the public key for `[remote] trusted-keys`'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand key; and not __fish_seen_subcommand_from generate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand key; and __fish_seen_subcommand_from generate" -l dir -d 'Where to write the files' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand key; and __fish_seen_subcommand_from generate" -l config -d 'Path of the config file [default: wheelbuild.toml in this or a parent directory]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand key; and __fish_seen_subcommand_from generate" -l store -d 'Store directory [default: store.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand key; and __fish_seen_subcommand_from generate" -l cache-dir -d 'Cache directory, for git mirrors and build caches [default: cache.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand key; and __fish_seen_subcommand_from generate" -l color -d 'When to use colors' -r -f -a "auto\t''
always\t''
never\t''"
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand key; and __fish_seen_subcommand_from generate" -l remote -d 'Use the shared build cache: `--remote` for the configured one, `--remote=URL` (`registry[:port]/repository`) for another. `build` uses a configured remote anyway; `plan` and `check` only with this flag' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand key; and __fish_seen_subcommand_from generate" -l locked -d 'Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand key; and __fish_seen_subcommand_from generate" -l offline -d 'Never touch the network: use only what the lock and local caches hold'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand key; and __fish_seen_subcommand_from generate" -s v -l verbose -d 'More output; repeat for more'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand key; and __fish_seen_subcommand_from generate" -s q -l quiet -d 'Less output'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand key; and __fish_seen_subcommand_from generate" -s h -l help -d 'Print help'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "generate" -d 'Make an ed25519 key pair: DIR/NAME.secret (mode 0600) and DIR/NAME.public; prints the public key for `[remote] trusted-keys`'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand completions" -l config -d 'Path of the config file [default: wheelbuild.toml in this or a parent directory]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand completions" -l store -d 'Store directory [default: store.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand completions" -l cache-dir -d 'Cache directory, for git mirrors and build caches [default: cache.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand completions" -l color -d 'When to use colors' -r -f -a "auto\t''
always\t''
never\t''"
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand completions" -l remote -d 'Use the shared build cache: `--remote` for the configured one, `--remote=URL` (`registry[:port]/repository`) for another. `build` uses a configured remote anyway; `plan` and `check` only with this flag' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand completions" -l locked -d 'Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand completions" -l offline -d 'Never touch the network: use only what the lock and local caches hold'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand completions" -s v -l verbose -d 'More output; repeat for more'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand completions" -s q -l quiet -d 'Less output'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand completions" -s h -l help -d 'Print help'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand man" -l config -d 'Path of the config file [default: wheelbuild.toml in this or a parent directory]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand man" -l store -d 'Store directory [default: store.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand man" -l cache-dir -d 'Cache directory, for git mirrors and build caches [default: cache.dir of the config]' -r -F
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand man" -l color -d 'When to use colors' -r -f -a "auto\t''
always\t''
never\t''"
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand man" -l remote -d 'Use the shared build cache: `--remote` for the configured one, `--remote=URL` (`registry[:port]/repository`) for another. `build` uses a configured remote anyway; `plan` and `check` only with this flag' -r
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand man" -l list -d 'List the commands that have a page, one per line'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand man" -l locked -d 'Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand man" -l offline -d 'Never touch the network: use only what the lock and local caches hold'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand man" -s v -l verbose -d 'More output; repeat for more'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand man" -s q -l quiet -d 'Less output'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand man" -s h -l help -d 'Print help'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand help; and not __fish_seen_subcommand_from init lock plan check audit build verify gc index push pull key completions man help" -f -a "init" -d 'Write a commented wheelbuild.toml for a repository, from what it declares (build requirements, CUDA/HIP code, requires-python, torch, [tool.cibuildwheel])'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand help; and not __fish_seen_subcommand_from init lock plan check audit build verify gc index push pull key completions man help" -f -a "lock" -d 'Resolve image tags to digests and git refs to commits, into wheelbuild.lock'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand help; and not __fish_seen_subcommand_from init lock plan check audit build verify gc index push pull key completions man help" -f -a "plan" -d 'Show every target with its key and whether it must be built, and why'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand help; and not __fish_seen_subcommand_from init lock plan check audit build verify gc index push pull key completions man help" -f -a "check" -d 'CI cache check: exit 0 when every target is in the store, 10 when some would build'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand help; and not __fish_seen_subcommand_from init lock plan check audit build verify gc index push pull key completions man help" -f -a "audit" -d 'Report inputs that are not pinned, mutable, or moved upstream since locking'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand help; and not __fish_seen_subcommand_from init lock plan check audit build verify gc index push pull key completions man help" -f -a "build" -d 'Build every target whose key is not in the store, in digest-pinned containers; put the wheels of the others back into the wheelhouse when they are missing there'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand help; and not __fish_seen_subcommand_from init lock plan check audit build verify gc index push pull key completions man help" -f -a "verify" -d 'Rebuild stored targets in fresh containers, with empty compiler caches, and compare their wheels byte for byte with the store'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand help; and not __fish_seen_subcommand_from init lock plan check audit build verify gc index push pull key completions man help" -f -a "gc" -d 'Remove store entries and environment images no target of the config uses'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand help; and not __fish_seen_subcommand_from init lock plan check audit build verify gc index push pull key completions man help" -f -a "index" -d 'Write the simple package index of each accelerator variant over the wheelhouse (`<output.dir>/index/<accel>/simple/`, for `pip install --index-url`)'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand help; and not __fish_seen_subcommand_from init lock plan check audit build verify gc index push pull key completions man help" -f -a "push" -d 'Push store entries to the remote cache (signed with `[remote] sign-with`)'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand help; and not __fish_seen_subcommand_from init lock plan check audit build verify gc index push pull key completions man help" -f -a "pull" -d 'Pull entries a trusted key signed from the remote cache into the store'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand help; and not __fish_seen_subcommand_from init lock plan check audit build verify gc index push pull key completions man help" -f -a "key" -d 'Signing keys for the remote cache'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand help; and not __fish_seen_subcommand_from init lock plan check audit build verify gc index push pull key completions man help" -f -a "completions" -d 'Print the shell completion script for SHELL, e.g. `wheelbuild completions bash > /etc/bash_completion.d/wheelbuild`'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand help; and not __fish_seen_subcommand_from init lock plan check audit build verify gc index push pull key completions man help" -f -a "man" -d 'Print a man page in roff: wheelbuild(1), or with COMMAND wheelbuild-COMMAND(1)'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand help; and not __fish_seen_subcommand_from init lock plan check audit build verify gc index push pull key completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wheelbuild -n "__fish_wheelbuild_using_subcommand help; and __fish_seen_subcommand_from key" -f -a "generate" -d 'Make an ed25519 key pair: DIR/NAME.secret (mode 0600) and DIR/NAME.public; prints the public key for `[remote] trusted-keys`'
