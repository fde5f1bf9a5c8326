#compdef wheelbuild

autoload -U is-at-least

_wheelbuild() {
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
'--config=[Path of the config file \[default\: wheelbuild.toml in this or a parent directory\]]:PATH:_files' \
'--store=[Store directory \[default\: store.dir of the config\]]:DIR:_files' \
'--cache-dir=[Cache directory, for git mirrors and build caches \[default\: cache.dir of the config\]]:DIR:_files' \
'--color=[When to use colors]:WHEN:(auto always never)' \
'--remote=[Use the shared build cache\: \`--remote\` for the configured one, \`--remote=URL\` (\`registry\[\:port\]/repository\`) for another. \`build\` uses a configured remote anyway; \`plan\` and \`check\` only with this flag]::URL:_default' \
'--locked[Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline]' \
'--offline[Never touch the network\: use only what the lock and local caches hold]' \
'(-q --quiet)*-v[More output; repeat for more]' \
'(-q --quiet)*--verbose[More output; repeat for more]' \
'*-q[Less output]' \
'*--quiet[Less output]' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
":: :_wheelbuild_commands" \
"*::: :->wheelbuild" \
&& ret=0
    case $state in
    (wheelbuild)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:wheelbuild-command-$line[1]:"
        case $line[1] in
            (init)
_arguments "${_arguments_options[@]}" : \
'*--python=[Python versions of the matrix (repeatable) \[default\: those of the default table that the project allows\]]:VERSION:_default' \
'*--cuda=[Accelerator variants of the matrix (repeatable)\: \`cpu\`, \`cudaX.Y\`, \`rocmX.Y\` \[default\: from the GPU code found\]]:VARIANT:_default' \
'--image=[One image template for every cell, e.g. \`registry.internal/base\:py{python}-{variant}\` \[default\: the default image table\]]:TEMPLATE:_default' \
'--config=[Path of the config file \[default\: wheelbuild.toml in this or a parent directory\]]:PATH:_files' \
'--store=[Store directory \[default\: store.dir of the config\]]:DIR:_files' \
'--cache-dir=[Cache directory, for git mirrors and build caches \[default\: cache.dir of the config\]]:DIR:_files' \
'--color=[When to use colors]:WHEN:(auto always never)' \
'--remote=[Use the shared build cache\: \`--remote\` for the configured one, \`--remote=URL\` (\`registry\[\:port\]/repository\`) for another. \`build\` uses a configured remote anyway; \`plan\` and \`check\` only with this flag]::URL:_default' \
'--locked[Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline]' \
'--offline[Never touch the network\: use only what the lock and local caches hold]' \
'(-q --quiet)*-v[More output; repeat for more]' \
'(-q --quiet)*--verbose[More output; repeat for more]' \
'*-q[Less output]' \
'*--quiet[Less output]' \
'-h[Print help]' \
'--help[Print help]' \
'::source -- The project\: a directory, or a git URL \[default\: the current directory\]:_default' \
&& ret=0
;;
(lock)
_arguments "${_arguments_options[@]}" : \
'(--update-all)*--update=[Re-resolve only these projects (their git ref) or images (reference or repository). A pip package name re-resolves every environment that installs it]:NAME:_default' \
'--config=[Path of the config file \[default\: wheelbuild.toml in this or a parent directory\]]:PATH:_files' \
'--store=[Store directory \[default\: store.dir of the config\]]:DIR:_files' \
'--cache-dir=[Cache directory, for git mirrors and build caches \[default\: cache.dir of the config\]]:DIR:_files' \
'--color=[When to use colors]:WHEN:(auto always never)' \
'--remote=[Use the shared build cache\: \`--remote\` for the configured one, \`--remote=URL\` (\`registry\[\:port\]/repository\`) for another. \`build\` uses a configured remote anyway; \`plan\` and \`check\` only with this flag]::URL:_default' \
'--update-all[Re-resolve every input]' \
'--update-env[Re-resolve every environment (pip and apt packages) in its pinned image]' \
'--locked[Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline]' \
'--offline[Never touch the network\: use only what the lock and local caches hold]' \
'(-q --quiet)*-v[More output; repeat for more]' \
'(-q --quiet)*--verbose[More output; repeat for more]' \
'*-q[Less output]' \
'*--quiet[Less output]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(plan)
_arguments "${_arguments_options[@]}" : \
'--format=[Output format. The JSON is documented in the README and versioned]:FORMAT:(table json)' \
'--shard=[Only the targets to build that fall in part I of N (CI fan-out; see \`build --shard\`)]:I/N:_default' \
'--matrix-shards=[In the JSON, a GitHub Actions matrix of one entry per shard of N (\`{"shard"\: "2/4", "targets"\: 5}\`) instead of one per target]:N:_default' \
'--config=[Path of the config file \[default\: wheelbuild.toml in this or a parent directory\]]:PATH:_files' \
'--store=[Store directory \[default\: store.dir of the config\]]:DIR:_files' \
'--cache-dir=[Cache directory, for git mirrors and build caches \[default\: cache.dir of the config\]]:DIR:_files' \
'--color=[When to use colors]:WHEN:(auto always never)' \
'--remote=[Use the shared build cache\: \`--remote\` for the configured one, \`--remote=URL\` (\`registry\[\:port\]/repository\`) for another. \`build\` uses a configured remote anyway; \`plan\` and \`check\` only with this flag]::URL:_default' \
'--locked[Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline]' \
'--offline[Never touch the network\: use only what the lock and local caches hold]' \
'(-q --quiet)*-v[More output; repeat for more]' \
'(-q --quiet)*--verbose[More output; repeat for more]' \
'*-q[Less output]' \
'*--quiet[Less output]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(check)
_arguments "${_arguments_options[@]}" : \
'--format=[Output format. The JSON is documented in the README and versioned]:FORMAT:(table json)' \
'--shard=[Only the targets to build that fall in part I of N (CI fan-out; see \`build --shard\`)]:I/N:_default' \
'--matrix-shards=[In the JSON, a GitHub Actions matrix of one entry per shard of N (\`{"shard"\: "2/4", "targets"\: 5}\`) instead of one per target]:N:_default' \
'--config=[Path of the config file \[default\: wheelbuild.toml in this or a parent directory\]]:PATH:_files' \
'--store=[Store directory \[default\: store.dir of the config\]]:DIR:_files' \
'--cache-dir=[Cache directory, for git mirrors and build caches \[default\: cache.dir of the config\]]:DIR:_files' \
'--color=[When to use colors]:WHEN:(auto always never)' \
'--remote=[Use the shared build cache\: \`--remote\` for the configured one, \`--remote=URL\` (\`registry\[\:port\]/repository\`) for another. \`build\` uses a configured remote anyway; \`plan\` and \`check\` only with this flag]::URL:_default' \
'--locked[Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline]' \
'--offline[Never touch the network\: use only what the lock and local caches hold]' \
'(-q --quiet)*-v[More output; repeat for more]' \
'(-q --quiet)*--verbose[More output; repeat for more]' \
'*-q[Less output]' \
'*--quiet[Less output]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(audit)
_arguments "${_arguments_options[@]}" : \
'--format=[]:FORMAT:(table json)' \
'*--allow=[Accept findings of this kind (repeatable), e.g. \`--allow mutable-ref\`]:KIND:_default' \
'--config=[Path of the config file \[default\: wheelbuild.toml in this or a parent directory\]]:PATH:_files' \
'--store=[Store directory \[default\: store.dir of the config\]]:DIR:_files' \
'--cache-dir=[Cache directory, for git mirrors and build caches \[default\: cache.dir of the config\]]:DIR:_files' \
'--color=[When to use colors]:WHEN:(auto always never)' \
'--remote=[Use the shared build cache\: \`--remote\` for the configured one, \`--remote=URL\` (\`registry\[\:port\]/repository\`) for another. \`build\` uses a configured remote anyway; \`plan\` and \`check\` only with this flag]::URL:_default' \
'--locked[Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline]' \
'--offline[Never touch the network\: use only what the lock and local caches hold]' \
'(-q --quiet)*-v[More output; repeat for more]' \
'(-q --quiet)*--verbose[More output; repeat for more]' \
'*-q[Less output]' \
'*--quiet[Less output]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(build)
_arguments "${_arguments_options[@]}" : \
'-j+[Targets built at once on each engine \[default\: the engine'\''s \`jobs\`, else from its cores and memory\]]:N:_default' \
'--jobs=[Targets built at once on each engine \[default\: the engine'\''s \`jobs\`, else from its cores and memory\]]:N:_default' \
'*--engine=[Build only on these \`\[\[engine\]\]\`s (repeatable)]:NAME:_default' \
'*--only=[Only these projects or target ids (repeatable)]:PROJECT|TARGET:_default' \
'(--only)--shard=[Build only the targets to build that fall in part I of N\: every runner of a CI matrix computes the same split (use \`--remote\` so that they agree on what is cached)]:I/N:_default' \
'--config=[Path of the config file \[default\: wheelbuild.toml in this or a parent directory\]]:PATH:_files' \
'--store=[Store directory \[default\: store.dir of the config\]]:DIR:_files' \
'--cache-dir=[Cache directory, for git mirrors and build caches \[default\: cache.dir of the config\]]:DIR:_files' \
'--color=[When to use colors]:WHEN:(auto always never)' \
'--remote=[Use the shared build cache\: \`--remote\` for the configured one, \`--remote=URL\` (\`registry\[\:port\]/repository\`) for another. \`build\` uses a configured remote anyway; \`plan\` and \`check\` only with this flag]::URL:_default' \
'--keep-going[Keep building the other targets after one fails]' \
'--dry-run[Show what would be built (as \`plan\`), build nothing]' \
'--rebuild-env[Rebuild the apt/pip environment images even when they exist (ATLAS'\'' NO_CACHE=1)]' \
'--retest[Run every test again, even one whose outcome is stored for its test key]' \
'--lock[Update wheelbuild.lock first when it does not match the config (else that is an error)]' \
'--push[Push what this run builds to the remote cache (as \`\[remote\] push = true\`)]' \
'--locked[Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline]' \
'--offline[Never touch the network\: use only what the lock and local caches hold]' \
'(-q --quiet)*-v[More output; repeat for more]' \
'(-q --quiet)*--verbose[More output; repeat for more]' \
'*-q[Less output]' \
'*--quiet[Less output]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(verify)
_arguments "${_arguments_options[@]}" : \
'-j+[Targets rebuilt at once \[default\: from the daemon'\''s cores and memory\]]:N:_default' \
'--jobs=[Targets rebuilt at once \[default\: from the daemon'\''s cores and memory\]]:N:_default' \
'--keep=[Keep the rebuilt wheels in DIR/<target id>/ (to inspect what differs)]:DIR:_files' \
'--format=[]:FORMAT:(table json)' \
'--config=[Path of the config file \[default\: wheelbuild.toml in this or a parent directory\]]:PATH:_files' \
'--store=[Store directory \[default\: store.dir of the config\]]:DIR:_files' \
'--cache-dir=[Cache directory, for git mirrors and build caches \[default\: cache.dir of the config\]]:DIR:_files' \
'--color=[When to use colors]:WHEN:(auto always never)' \
'--remote=[Use the shared build cache\: \`--remote\` for the configured one, \`--remote=URL\` (\`registry\[\:port\]/repository\`) for another. \`build\` uses a configured remote anyway; \`plan\` and \`check\` only with this flag]::URL:_default' \
'--locked[Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline]' \
'--offline[Never touch the network\: use only what the lock and local caches hold]' \
'(-q --quiet)*-v[More output; repeat for more]' \
'(-q --quiet)*--verbose[More output; repeat for more]' \
'*-q[Less output]' \
'*--quiet[Less output]' \
'-h[Print help]' \
'--help[Print help]' \
'*::targets -- Target ids or project names \[default\: every target in the store\]:_default' \
&& ret=0
;;
(gc)
_arguments "${_arguments_options[@]}" : \
'--keep-days=[Keep unused entries and images younger than this many days]:N:_default' \
'--config=[Path of the config file \[default\: wheelbuild.toml in this or a parent directory\]]:PATH:_files' \
'--store=[Store directory \[default\: store.dir of the config\]]:DIR:_files' \
'--cache-dir=[Cache directory, for git mirrors and build caches \[default\: cache.dir of the config\]]:DIR:_files' \
'--color=[When to use colors]:WHEN:(auto always never)' \
'--remote=[Use the shared build cache\: \`--remote\` for the configured one, \`--remote=URL\` (\`registry\[\:port\]/repository\`) for another. \`build\` uses a configured remote anyway; \`plan\` and \`check\` only with this flag]::URL:_default' \
'--dry-run[Say what would be removed, remove nothing]' \
'--prune-caches[Also remove the engine'\''s cache volumes (ccache, pip) of channels and variants this config does not build (other projects on the engine may use them)]' \
'--locked[Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline]' \
'--offline[Never touch the network\: use only what the lock and local caches hold]' \
'(-q --quiet)*-v[More output; repeat for more]' \
'(-q --quiet)*--verbose[More output; repeat for more]' \
'*-q[Less output]' \
'*--quiet[Less output]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(index)
_arguments "${_arguments_options[@]}" : \
'--config=[Path of the config file \[default\: wheelbuild.toml in this or a parent directory\]]:PATH:_files' \
'--store=[Store directory \[default\: store.dir of the config\]]:DIR:_files' \
'--cache-dir=[Cache directory, for git mirrors and build caches \[default\: cache.dir of the config\]]:DIR:_files' \
'--color=[When to use colors]:WHEN:(auto always never)' \
'--remote=[Use the shared build cache\: \`--remote\` for the configured one, \`--remote=URL\` (\`registry\[\:port\]/repository\`) for another. \`build\` uses a configured remote anyway; \`plan\` and \`check\` only with this flag]::URL:_default' \
'--locked[Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline]' \
'--offline[Never touch the network\: use only what the lock and local caches hold]' \
'(-q --quiet)*-v[More output; repeat for more]' \
'(-q --quiet)*--verbose[More output; repeat for more]' \
'*-q[Less output]' \
'*--quiet[Less output]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(push)
_arguments "${_arguments_options[@]}" : \
'--config=[Path of the config file \[default\: wheelbuild.toml in this or a parent directory\]]:PATH:_files' \
'--store=[Store directory \[default\: store.dir of the config\]]:DIR:_files' \
'--cache-dir=[Cache directory, for git mirrors and build caches \[default\: cache.dir of the config\]]:DIR:_files' \
'--color=[When to use colors]:WHEN:(auto always never)' \
'--remote=[Use the shared build cache\: \`--remote\` for the configured one, \`--remote=URL\` (\`registry\[\:port\]/repository\`) for another. \`build\` uses a configured remote anyway; \`plan\` and \`check\` only with this flag]::URL:_default' \
'--locked[Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline]' \
'--offline[Never touch the network\: use only what the lock and local caches hold]' \
'(-q --quiet)*-v[More output; repeat for more]' \
'(-q --quiet)*--verbose[More output; repeat for more]' \
'*-q[Less output]' \
'*--quiet[Less output]' \
'-h[Print help]' \
'--help[Print help]' \
'*::targets -- Target ids or project names \[default\: every target of the config\]:_default' \
&& ret=0
;;
(pull)
_arguments "${_arguments_options[@]}" : \
'--config=[Path of the config file \[default\: wheelbuild.toml in this or a parent directory\]]:PATH:_files' \
'--store=[Store directory \[default\: store.dir of the config\]]:DIR:_files' \
'--cache-dir=[Cache directory, for git mirrors and build caches \[default\: cache.dir of the config\]]:DIR:_files' \
'--color=[When to use colors]:WHEN:(auto always never)' \
'--remote=[Use the shared build cache\: \`--remote\` for the configured one, \`--remote=URL\` (\`registry\[\:port\]/repository\`) for another. \`build\` uses a configured remote anyway; \`plan\` and \`check\` only with this flag]::URL:_default' \
'--locked[Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline]' \
'--offline[Never touch the network\: use only what the lock and local caches hold]' \
'(-q --quiet)*-v[More output; repeat for more]' \
'(-q --quiet)*--verbose[More output; repeat for more]' \
'*-q[Less output]' \
'*--quiet[Less output]' \
'-h[Print help]' \
'--help[Print help]' \
'*::targets -- Target ids or project names \[default\: every target of the config\]:_default' \
&& ret=0
;;
(key)
_arguments "${_arguments_options[@]}" : \
'--config=[Path of the config file \[default\: wheelbuild.toml in this or a parent directory\]]:PATH:_files' \
'--store=[Store directory \[default\: store.dir of the config\]]:DIR:_files' \
'--cache-dir=[Cache directory, for git mirrors and build caches \[default\: cache.dir of the config\]]:DIR:_files' \
'--color=[When to use colors]:WHEN:(auto always never)' \
'--remote=[Use the shared build cache\: \`--remote\` for the configured one, \`--remote=URL\` (\`registry\[\:port\]/repository\`) for another. \`build\` uses a configured remote anyway; \`plan\` and \`check\` only with this flag]::URL:_default' \
'--locked[Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline]' \
'--offline[Never touch the network\: use only what the lock and local caches hold]' \
'(-q --quiet)*-v[More output; repeat for more]' \
'(-q --quiet)*--verbose[More output; repeat for more]' \
'*-q[Less output]' \
'*--quiet[Less output]' \
'-h[Print help]' \
'--help[Print help]' \
":: :_wheelbuild__subcmd__key_commands" \
"*::: :->key" \
&& ret=0

    case $state in
    (key)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:wheelbuild-key-command-$line[1]:"
        case $line[1] in
            (generate)
_arguments "${_arguments_options[@]}" : \
'--dir=[Where to write the files]:DIR:_files' \
'--config=[Path of the config file \[default\: wheelbuild.toml in this or a parent directory\]]:PATH:_files' \
'--store=[Store directory \[default\: store.dir of the config\]]:DIR:_files' \
'--cache-dir=[Cache directory, for git mirrors and build caches \[default\: cache.dir of the config\]]:DIR:_files' \
'--color=[When to use colors]:WHEN:(auto always never)' \
'--remote=[Use the shared build cache\: \`--remote\` for the configured one, \`--remote=URL\` (\`registry\[\:port\]/repository\`) for another. \`build\` uses a configured remote anyway; \`plan\` and \`check\` only with this flag]::URL:_default' \
'--locked[Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline]' \
'--offline[Never touch the network\: use only what the lock and local caches hold]' \
'(-q --quiet)*-v[More output; repeat for more]' \
'(-q --quiet)*--verbose[More output; repeat for more]' \
'*-q[Less output]' \
'*--quiet[Less output]' \
'-h[Print help]' \
'--help[Print help]' \
':name:_default' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_wheelbuild__subcmd__key__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:wheelbuild-key-help-command-$line[1]:"
        case $line[1] in
            (generate)
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
;;
(completions)
_arguments "${_arguments_options[@]}" : \
'--config=[Path of the config file \[default\: wheelbuild.toml in this or a parent directory\]]:PATH:_files' \
'--store=[Store directory \[default\: store.dir of the config\]]:DIR:_files' \
'--cache-dir=[Cache directory, for git mirrors and build caches \[default\: cache.dir of the config\]]:DIR:_files' \
'--color=[When to use colors]:WHEN:(auto always never)' \
'--remote=[Use the shared build cache\: \`--remote\` for the configured one, \`--remote=URL\` (\`registry\[\:port\]/repository\`) for another. \`build\` uses a configured remote anyway; \`plan\` and \`check\` only with this flag]::URL:_default' \
'--locked[Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline]' \
'--offline[Never touch the network\: use only what the lock and local caches hold]' \
'(-q --quiet)*-v[More output; repeat for more]' \
'(-q --quiet)*--verbose[More output; repeat for more]' \
'*-q[Less output]' \
'*--quiet[Less output]' \
'-h[Print help]' \
'--help[Print help]' \
':shell:(bash elvish fish powershell zsh)' \
&& ret=0
;;
(man)
_arguments "${_arguments_options[@]}" : \
'--config=[Path of the config file \[default\: wheelbuild.toml in this or a parent directory\]]:PATH:_files' \
'--store=[Store directory \[default\: store.dir of the config\]]:DIR:_files' \
'--cache-dir=[Cache directory, for git mirrors and build caches \[default\: cache.dir of the config\]]:DIR:_files' \
'--color=[When to use colors]:WHEN:(auto always never)' \
'--remote=[Use the shared build cache\: \`--remote\` for the configured one, \`--remote=URL\` (\`registry\[\:port\]/repository\`) for another. \`build\` uses a configured remote anyway; \`plan\` and \`check\` only with this flag]::URL:_default' \
'()--list[List the commands that have a page, one per line]' \
'--locked[Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it. Checked offline]' \
'--offline[Never touch the network\: use only what the lock and local caches hold]' \
'(-q --quiet)*-v[More output; repeat for more]' \
'(-q --quiet)*--verbose[More output; repeat for more]' \
'*-q[Less output]' \
'*--quiet[Less output]' \
'-h[Print help]' \
'--help[Print help]' \
'::command:_default' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_wheelbuild__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:wheelbuild-help-command-$line[1]:"
        case $line[1] in
            (init)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(lock)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(plan)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(check)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(audit)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(build)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(verify)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(gc)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(index)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(push)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(pull)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(key)
_arguments "${_arguments_options[@]}" : \
":: :_wheelbuild__subcmd__help__subcmd__key_commands" \
"*::: :->key" \
&& ret=0

    case $state in
    (key)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:wheelbuild-help-key-command-$line[1]:"
        case $line[1] in
            (generate)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(completions)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(man)
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

(( $+functions[_wheelbuild_commands] )) ||
_wheelbuild_commands() {
    local commands; commands=(
'init:Write a commented wheelbuild.toml for a repository, from what it declares (build requirements, CUDA/HIP code, requires-python, torch, \[tool.cibuildwheel\])' \
'lock:Resolve image tags to digests and git refs to commits, into wheelbuild.lock' \
'plan:Show every target with its key and whether it must be built, and why' \
'check:CI cache check\: exit 0 when every target is in the store, 10 when some would build' \
'audit:Report inputs that are not pinned, mutable, or moved upstream since locking' \
'build:Build every target whose key is not in the store, in digest-pinned containers; put the wheels of the others back into the wheelhouse when they are missing there' \
'verify:Rebuild stored targets in fresh containers, with empty compiler caches, and compare their wheels byte for byte with the store' \
'gc:Remove store entries and environment images no target of the config uses' \
'index:Write the simple package index of each accelerator variant over the wheelhouse (\`<output.dir>/index/<accel>/simple/\`, for \`pip install --index-url\`)' \
'push:Push store entries to the remote cache (signed with \`\[remote\] sign-with\`)' \
'pull:Pull entries a trusted key signed from the remote cache into the store' \
'key:Signing keys for the remote cache' \
'completions:Print the shell completion script for SHELL, e.g. \`wheelbuild completions bash > /etc/bash_completion.d/wheelbuild\`' \
'man:Print a man page in roff\: wheelbuild(1), or with COMMAND wheelbuild-COMMAND(1)' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'wheelbuild commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__audit_commands] )) ||
_wheelbuild__subcmd__audit_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild audit commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__build_commands] )) ||
_wheelbuild__subcmd__build_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild build commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__check_commands] )) ||
_wheelbuild__subcmd__check_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild check commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__completions_commands] )) ||
_wheelbuild__subcmd__completions_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild completions commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__gc_commands] )) ||
_wheelbuild__subcmd__gc_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild gc commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__help_commands] )) ||
_wheelbuild__subcmd__help_commands() {
    local commands; commands=(
'init:Write a commented wheelbuild.toml for a repository, from what it declares (build requirements, CUDA/HIP code, requires-python, torch, \[tool.cibuildwheel\])' \
'lock:Resolve image tags to digests and git refs to commits, into wheelbuild.lock' \
'plan:Show every target with its key and whether it must be built, and why' \
'check:CI cache check\: exit 0 when every target is in the store, 10 when some would build' \
'audit:Report inputs that are not pinned, mutable, or moved upstream since locking' \
'build:Build every target whose key is not in the store, in digest-pinned containers; put the wheels of the others back into the wheelhouse when they are missing there' \
'verify:Rebuild stored targets in fresh containers, with empty compiler caches, and compare their wheels byte for byte with the store' \
'gc:Remove store entries and environment images no target of the config uses' \
'index:Write the simple package index of each accelerator variant over the wheelhouse (\`<output.dir>/index/<accel>/simple/\`, for \`pip install --index-url\`)' \
'push:Push store entries to the remote cache (signed with \`\[remote\] sign-with\`)' \
'pull:Pull entries a trusted key signed from the remote cache into the store' \
'key:Signing keys for the remote cache' \
'completions:Print the shell completion script for SHELL, e.g. \`wheelbuild completions bash > /etc/bash_completion.d/wheelbuild\`' \
'man:Print a man page in roff\: wheelbuild(1), or with COMMAND wheelbuild-COMMAND(1)' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'wheelbuild help commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__help__subcmd__audit_commands] )) ||
_wheelbuild__subcmd__help__subcmd__audit_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild help audit commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__help__subcmd__build_commands] )) ||
_wheelbuild__subcmd__help__subcmd__build_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild help build commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__help__subcmd__check_commands] )) ||
_wheelbuild__subcmd__help__subcmd__check_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild help check commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__help__subcmd__completions_commands] )) ||
_wheelbuild__subcmd__help__subcmd__completions_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild help completions commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__help__subcmd__gc_commands] )) ||
_wheelbuild__subcmd__help__subcmd__gc_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild help gc commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__help__subcmd__help_commands] )) ||
_wheelbuild__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild help help commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__help__subcmd__index_commands] )) ||
_wheelbuild__subcmd__help__subcmd__index_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild help index commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__help__subcmd__init_commands] )) ||
_wheelbuild__subcmd__help__subcmd__init_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild help init commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__help__subcmd__key_commands] )) ||
_wheelbuild__subcmd__help__subcmd__key_commands() {
    local commands; commands=(
'generate:Make an ed25519 key pair\: DIR/NAME.secret (mode 0600) and DIR/NAME.public; prints the public key for \`\[remote\] trusted-keys\`' \
    )
    _describe -t commands 'wheelbuild help key commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__help__subcmd__key__subcmd__generate_commands] )) ||
_wheelbuild__subcmd__help__subcmd__key__subcmd__generate_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild help key generate commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__help__subcmd__lock_commands] )) ||
_wheelbuild__subcmd__help__subcmd__lock_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild help lock commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__help__subcmd__man_commands] )) ||
_wheelbuild__subcmd__help__subcmd__man_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild help man commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__help__subcmd__plan_commands] )) ||
_wheelbuild__subcmd__help__subcmd__plan_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild help plan commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__help__subcmd__pull_commands] )) ||
_wheelbuild__subcmd__help__subcmd__pull_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild help pull commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__help__subcmd__push_commands] )) ||
_wheelbuild__subcmd__help__subcmd__push_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild help push commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__help__subcmd__verify_commands] )) ||
_wheelbuild__subcmd__help__subcmd__verify_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild help verify commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__index_commands] )) ||
_wheelbuild__subcmd__index_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild index commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__init_commands] )) ||
_wheelbuild__subcmd__init_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild init commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__key_commands] )) ||
_wheelbuild__subcmd__key_commands() {
    local commands; commands=(
'generate:Make an ed25519 key pair\: DIR/NAME.secret (mode 0600) and DIR/NAME.public; prints the public key for \`\[remote\] trusted-keys\`' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'wheelbuild key commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__key__subcmd__generate_commands] )) ||
_wheelbuild__subcmd__key__subcmd__generate_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild key generate commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__key__subcmd__help_commands] )) ||
_wheelbuild__subcmd__key__subcmd__help_commands() {
    local commands; commands=(
'generate:Make an ed25519 key pair\: DIR/NAME.secret (mode 0600) and DIR/NAME.public; prints the public key for \`\[remote\] trusted-keys\`' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'wheelbuild key help commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__key__subcmd__help__subcmd__generate_commands] )) ||
_wheelbuild__subcmd__key__subcmd__help__subcmd__generate_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild key help generate commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__key__subcmd__help__subcmd__help_commands] )) ||
_wheelbuild__subcmd__key__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild key help help commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__lock_commands] )) ||
_wheelbuild__subcmd__lock_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild lock commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__man_commands] )) ||
_wheelbuild__subcmd__man_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild man commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__plan_commands] )) ||
_wheelbuild__subcmd__plan_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild plan commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__pull_commands] )) ||
_wheelbuild__subcmd__pull_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild pull commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__push_commands] )) ||
_wheelbuild__subcmd__push_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild push commands' commands "$@"
}
(( $+functions[_wheelbuild__subcmd__verify_commands] )) ||
_wheelbuild__subcmd__verify_commands() {
    local commands; commands=()
    _describe -t commands 'wheelbuild verify commands' commands "$@"
}

if [ "$funcstack[1]" = "_wheelbuild" ]; then
    _wheelbuild "$@"
else
    compdef _wheelbuild wheelbuild
fi
