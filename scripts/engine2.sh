#!/usr/bin/env bash
# A second Docker engine on this machine that stands in for another machine (tests of
# `DOCKER_HOST` pointing at an engine whose filesystem is not this one's).
#
#   scripts/engine2.sh start ID [PORT...]
#                                  start it, forwarding loopback TCP PORTs (registries,
#                                  package indexes; default 5000) into its namespace;
#                                  prints the DOCKER_HOST to use
#   scripts/engine2.sh stop ID     stop it and remove everything `start` made
#   scripts/engine2.sh sweep       stop the engines of test processes that are gone
#
# ID is the owning test process's pid (`sweep` stops an engine whose owner is dead: the
# pid is gone or names a process started at another time).
# The engine gets:
#   * its own network namespace `wb-engine2-ID` (never the main daemon's: a second dockerd
#     in the same namespace takes over `docker0` and breaks every later container of the
#     main engine), joined to this one by a veth pair `wbe2hID`/`wbe2cID` on a private
#     /30 of 10.213.0.0/16;
#   * its own mount namespace, with tmpfs over /tmp, /var/tmp, /root, /home, /work and
#     /var/cache/wheelbuild*, so this machine's checkouts, caches, test directories and
#     fixtures are not there (and the main daemon's container mounts released);
#   * its own data root /var/lib/wb-engine2-ID, exec root /run/wb-engine2-ID, pid file,
#     and socket unix:///run/wb-engine2-ID.sock;
#   * 127.0.0.1:PORT inside its namespace forwarded (socat) over the veth pair to
#     127.0.0.1:PORT here (the loopback registry of scripts/fixtures.sh, 5000, or a
#     test's), the only traffic that leaves it.
# ENGINE2_HIDE: more directories (':'-separated) to hide from it (a test's TMPDIR).
# ENGINE2_TLS_DIR: also listen on tcp://<its veth address>:2376 with TLS client
#   verification (`--tlsverify`): a CA, the server's certificate (for that address) and a
#   client certificate are made with openssl; the client's ca.pem, cert.pem and key.pem
#   are written to this directory, and `start` also prints the tcp:// host.
# ENGINE2_SSH_DIR: also run an sshd on <its veth address>:22 in its network namespace
#   (key auth only, root, `DOCKER_HOST` set to its socket for `docker system dial-stdio`);
#   a host key and a client key are made with ssh-keygen, and this directory gets the
#   client's side: id_ed25519, known_hosts (the host key, nothing else trusted), an
#   ssh_config using both, and bin/ssh, which runs ssh with that ssh_config (put it first
#   on PATH instead of editing ~/.ssh/config); `start` also prints the ssh:// host.
# Only loopback and the private veth addresses are used.
set -euo pipefail

DOCKERD="${DOCKERD:-dockerd}"

die() { printf 'engine2: %s\n' "$*" >&2; exit 1; }

names() {
  id=$1
  case "$id" in '' | *[!0-9]*) die "ID must be a pid, got '$id'" ;; esac
  ns=wb-engine2-$id
  host_if=wbe2h$id
  ns_if=wbe2c$id
  root=/var/lib/wb-engine2-$id
  run=/run/wb-engine2-$id
  sock=/run/wb-engine2-$id.sock
}

# The start time of process $1 (field 22 of /proc/PID/stat; pids are reused), or nothing.
started() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  stat=${stat##*) }
  # shellcheck disable=SC2086
  set -- $stat
  echo "${20}"
}

# A free /30 of 10.213.0.0/16, derived from the id, skipping addresses in use.
pick_net() {
  local n i
  for i in $(seq 0 63); do
    n=$(((id + i * 97) % 16384))
    host_ip=10.213.$((n / 64)).$((n % 64 * 4 + 1))
    ns_ip=10.213.$((n / 64)).$((n % 64 * 4 + 2))
    if ! ip -o -4 addr show | grep -qE " (${host_ip}|${ns_ip})/"; then return 0; fi
  done
  die "no free /30 in 10.213.0.0/16"
}

start() {
  names "$1"
  for tool in "$DOCKERD" socat unshare nsenter ip findmnt; do
    command -v "$tool" >/dev/null || die "'$tool' is missing (apt-get install docker.io socat util-linux iproute2)"
  done
  if [[ -n ${ENGINE2_SSH_DIR:-} ]]; then
    [ -x /usr/sbin/sshd ] || die "'/usr/sbin/sshd' is missing (apt-get install openssh-server)"
    for tool in ssh ssh-keygen; do
      command -v "$tool" >/dev/null || die "'$tool' is missing (apt-get install openssh-client)"
    done
  fi
  [ "$(id -u)" = 0 ] || die "needs root (network and mount namespaces)"
  [ -e "/run/netns/$ns" ] && stop "$id"
  mkdir -p "$run" "$root"
  started "$id" >"$run/owner"
  pick_net
  echo "$host_ip $ns_ip" >"$run/net"
  ip netns add "$ns"
  ip link add "$host_if" type veth peer name "$ns_if"
  ip link set "$ns_if" netns "$ns"
  ip addr add "$host_ip/30" dev "$host_if"
  ip link set "$host_if" up
  ip netns exec "$ns" ip link set lo up
  ip netns exec "$ns" ip addr add "$ns_ip/30" dev "$ns_if"
  ip netns exec "$ns" ip link set "$ns_if" up

  # Each port: ns 127.0.0.1:PORT -> veth -> host_ip:PORT -> here 127.0.0.1:PORT.
  local port
  [ $# -gt 1 ] || set -- "$1" 5000
  shift
  for port in "$@"; do
    case "$port" in '' | *[!0-9]*) die "PORT must be a number, got '$port'" ;; esac
    socat "TCP-LISTEN:$port,bind=$host_ip,fork,reuseaddr" "TCP:127.0.0.1:$port" \
      >>"$run/socat.log" 2>&1 </dev/null &
    echo $! >>"$run/socat.pids"
    ip netns exec "$ns" socat "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr" \
      "TCP:$host_ip:$port" >>"$run/socat.log" 2>&1 </dev/null &
    echo $! >>"$run/socat.pids"
  done

  # Its own bridge (not `docker0`: no name of the main daemon's is ever touched).
  ip netns exec "$ns" ip link add wbe2br type bridge
  ip netns exec "$ns" ip addr add 10.214.0.1/24 dev wbe2br
  ip netns exec "$ns" ip link set wbe2br up
  echo '{}' >"$run/daemon.json"
  local tls_args=()
  if [[ -n ${ENGINE2_TLS_DIR:-} ]]; then
    make_tls "$run/tls" "$ENGINE2_TLS_DIR" "$ns_ip"
    tls_args=(--tlsverify --tlscacert "$run/tls/ca.pem" --tlscert "$run/tls/server-cert.pem"
      --tlskey "$run/tls/server-key.pem" -H "tcp://$ns_ip:2376")
  fi
  mkdir -p "$run/cgroup"
  # The mount namespace: /sys of the engine's network namespace (cgroups kept), this
  # machine's files hidden, and the main daemon's mounts released (a copy held here would
  # keep its containers' mounts and network namespaces alive).
  # shellcheck disable=SC2016
  nsenter --net="/run/netns/$ns" unshare --mount --propagation private sh -c '
    set -e
    run=$1; hide=$2; shift 2
    mount --rbind /sys/fs/cgroup "$run/cgroup"
    umount -l /sys
    mount -t sysfs sysfs /sys
    mount --rbind "$run/cgroup" /sys/fs/cgroup
    umount -l "$run/cgroup"
    findmnt -rn -o TARGET | grep -E "^/(var/lib/docker|run/docker|run/containerd|run/netns)(/|$)" \
      | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    IFS=:
    for d in /tmp /var/tmp /root /home /work /var/cache/wheelbuild* $hide; do
      if [ -d "$d" ]; then mount -t tmpfs -o mode=0755 tmpfs "$d"; fi
    done
    unset IFS
    chmod 1777 /tmp /var/tmp
    exec "$@"' engine2 "$run" "${ENGINE2_HIDE:-}" "$DOCKERD" \
    --config-file "$run/daemon.json" \
    --data-root "$root" --exec-root "$run/exec" --pidfile "$run/dockerd.pid" \
    -H "unix://$sock" "${tls_args[@]}" --bridge wbe2br --iptables=false --ip-masq=false \
    --storage-driver overlay2 \
    >"$run/dockerd.log" 2>&1 </dev/null &
  echo $! >"$run/launcher.pid"
  for _ in $(seq 1 120); do
    if DOCKER_HOST="unix://$sock" /usr/bin/docker version >/dev/null 2>&1; then
      echo "unix://$sock"
      if [[ -n ${ENGINE2_TLS_DIR:-} ]]; then echo "tcp://$ns_ip:2376"; fi
      if [[ -n ${ENGINE2_SSH_DIR:-} ]]; then
        start_sshd "$run/ssh" "$ENGINE2_SSH_DIR" "$ns_ip" || { stop "$id"; die "sshd did not start"; }
        echo "ssh://root@$ns_ip"
      fi
      return 0
    fi
    if ! kill -0 "$(cat "$run/launcher.pid")" 2>/dev/null; then break; fi
    sleep 0.5
  done
  tail -n 30 "$run/dockerd.log" >&2 || true
  stop "$id"
  die "the second dockerd did not answer on $sock"
}

# make_tls SERVER_DIR CLIENT_DIR IP: a CA, a server certificate for IP (in SERVER_DIR),
# and a client certificate (ca.pem, cert.pem, key.pem in CLIENT_DIR), EC P-256, 2 days.
make_tls() {
  local sdir=$1 cdir=$2 ip=$3
  mkdir -p "$sdir" "$cdir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=wb-engine2-ca -keyout "$sdir/ca-key.pem" -out "$sdir/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$ip" \
    -keyout "$sdir/server-key.pem" -out "$sdir/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$ip" >"$sdir/server.ext"
  openssl x509 -req -in "$sdir/server.csr" -CA "$sdir/ca.pem" -CAkey "$sdir/ca-key.pem" \
    -CAcreateserial -days 2 -extfile "$sdir/server.ext" -out "$sdir/server-cert.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=wheelbuild \
    -keyout "$cdir/key.pem" -out "$sdir/client.csr" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' >"$sdir/client.ext"
  openssl x509 -req -in "$sdir/client.csr" -CA "$sdir/ca.pem" -CAkey "$sdir/ca-key.pem" \
    -CAcreateserial -days 2 -extfile "$sdir/client.ext" -out "$cdir/cert.pem" 2>/dev/null
  cp "$sdir/ca.pem" "$cdir/ca.pem"
}

# start_sshd SERVER_DIR CLIENT_DIR IP: an sshd on IP:22 in the engine's network namespace
# (killed with it by `stop`), and the client's key, known_hosts, ssh_config and bin/ssh.
start_sshd() {
  local sdir=$1 cdir=$2 ip=$3
  mkdir -p "$sdir" "$cdir/bin" /run/sshd
  rm -f "$sdir/host_key" "$cdir/id_ed25519"
  ssh-keygen -q -t ed25519 -N '' -C wb-engine2-host -f "$sdir/host_key"
  ssh-keygen -q -t ed25519 -N '' -C wheelbuild -f "$cdir/id_ed25519"
  cp "$cdir/id_ed25519.pub" "$sdir/authorized_keys"
  printf '%s\n' "ListenAddress $ip:22" "HostKey $sdir/host_key" "PidFile $sdir/sshd.pid" \
    "AuthorizedKeysFile $sdir/authorized_keys" "PermitRootLogin prohibit-password" \
    "PasswordAuthentication no" "KbdInteractiveAuthentication no" "UsePAM no" \
    "StrictModes no" "SetEnv DOCKER_HOST=unix://$sock" >"$sdir/sshd_config"
  echo "$ip $(cut -d' ' -f1,2 "$sdir/host_key.pub")" >"$cdir/known_hosts"
  printf '%s\n' "Host $ip" "  IdentityFile $cdir/id_ed25519" "  IdentitiesOnly yes" \
    "  UserKnownHostsFile $cdir/known_hosts" "  GlobalKnownHostsFile /dev/null" \
    "  StrictHostKeyChecking yes" "  ConnectTimeout 10" >"$cdir/ssh_config"
  # shellcheck disable=SC2016
  printf '#!/bin/sh\nexec /usr/bin/ssh -F %s "$@"\n' "$cdir/ssh_config" >"$cdir/bin/ssh"
  chmod 755 "$cdir/bin/ssh"
  ip netns exec "$ns" /usr/sbin/sshd -f "$sdir/sshd_config" -E "$sdir/sshd.log" || return 1
  for _ in $(seq 1 40); do
    if ssh -F "$cdir/ssh_config" -o BatchMode=yes "root@$ip" true 2>>"$sdir/client.log"; then return 0; fi
    sleep 0.25
  done
  cat "$sdir/sshd.log" "$sdir/client.log" >&2 || true
  return 1
}

stop() {
  names "$1"
  local pid p
  # dockerd stops its containers and its containerd when asked to end.
  for f in "$run/dockerd.pid" "$run/launcher.pid"; do
    if [ -f "$f" ] && pid=$(cat "$f") && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    fi
  done
  # Whatever is left in its network namespace (shims, the forwarder).
  if [ -e "/run/netns/$ns" ]; then
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
  fi
  if [ -f "$run/socat.pids" ]; then
    while read -r p; do kill -KILL "$p" 2>/dev/null || true; done <"$run/socat.pids"
  fi
  sleep 0.2
  ip link del "$host_if" 2>/dev/null || true
  if [ -e "/run/netns/$ns" ]; then ip netns del "$ns" 2>/dev/null || true; fi
  # Mounts of the data root live in the engine's own mount namespace, gone with it.
  rm -rf "$root" 2>/dev/null || { sleep 1; rm -rf "$root"; }
  rm -rf "$run" "$sock"
}

sweep() {
  local d id
  for d in /run/wb-engine2-*/; do
    [ -d "$d" ] || continue
    id=${d%/}; id=${id##*/wb-engine2-}
    case "$id" in '' | *[!0-9]*) continue ;; esac
    # Its owner is gone, or the pid now names another process (an engine without an
    # owner file, from an older script: only when the pid is gone).
    if [ -f "$d/owner" ]; then
      if [ "$(started "$id")" != "$(cat "$d/owner")" ]; then stop "$id"; fi
    elif ! kill -0 "$id" 2>/dev/null; then
      stop "$id"
    fi
  done
}

case "${1:-}" in
  start) shift; [ $# -gt 0 ] || die "usage: $0 start ID [PORT...]"; start "$@" ;;
  stop) stop "${2:-}" ;;
  sweep) sweep ;;
  *) die "usage: $0 start ID | stop ID | sweep" ;;
esac
