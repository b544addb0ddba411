#!/usr/bin/env bash
# Installs subsidyd for systemd (Deploy/README.md, "Install"):
#   bash Deploy/install.sh [--destdir DIR] [--prefix /usr] [--bin-dir DIR]
#     --destdir DIR   stage everything under DIR (packaging, or a test); default: / (the machine)
#     --prefix P      where binaries, units and documentation go; default /usr
#     --bin-dir DIR   take subsidyd and subsidyctl from DIR instead of building a release
# Then, on the machine (not with --destdir): systemd-sysusers, systemd-tmpfiles --create,
# systemctl daemon-reload — printed at the end rather than run, so a staged install changes
# nothing on the build machine.
#
# /etc/subsidyd/subsidyd.toml and the policy file are the operator's: an existing one is never
# overwritten; the shipped version is put beside it as *.dist to compare.
set -euo pipefail
cd "$(dirname "$0")/.."
destdir=""
prefix=/usr
bin_dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --destdir) destdir=${2:?--destdir needs a directory}; shift 2 ;;
    --prefix) prefix=${2:?--prefix needs a path}; shift 2 ;;
    --bin-dir) bin_dir=${2:?--bin-dir needs a directory}; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
done
case "$prefix" in /*) ;; *) echo "install.sh: --prefix must be absolute (got $prefix)" >&2; exit 2 ;; esac
if [ -n "$destdir" ]; then
  mkdir -p "$destdir"
  destdir=$(cd "$destdir" && pwd)
fi

if [ -z "$bin_dir" ]; then
  echo "== swift build -c release"
  swift build -c release 2>&1 | { grep -Ev '^\[[0-9]+/[0-9]+\]' || true; }
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "install.sh: swift build failed" >&2; exit 1; }
  bin_dir=$(swift build -c release --show-bin-path)
fi
for program in subsidyd subsidyctl; do
  [ -x "$bin_dir/$program" ] || { echo "install.sh: $bin_dir/$program: not found (build first, or pass --bin-dir)" >&2; exit 1; }
done

root="$destdir"
bindir="$root$prefix/bin"
unitdir="$root$prefix/lib/systemd/system"
sysusersdir="$root$prefix/lib/sysusers.d"
tmpfilesdir="$root$prefix/lib/tmpfiles.d"
docdir="$root$prefix/share/doc/subsidyd"
mandir="$root$prefix/share/man"
confdir="$root/etc/subsidyd"

echo "== installing under ${destdir:-/} (prefix $prefix)"
install -d -m 0755 "$bindir" "$unitdir" "$sysusersdir" "$tmpfilesdir" "$docdir" "$mandir/man1" "$mandir/man8" \
  "$root$prefix/share/bash-completion/completions" "$root$prefix/share/zsh/vendor-completions" \
  "$root$prefix/share/fish/vendor_completions.d" "$confdir"
install -m 0755 "$bin_dir/subsidyd" "$bin_dir/subsidyctl" "$bindir/"

# Units name the binaries under /usr/bin; another prefix is written into them.
for unit in subsidyd.service subsidyd-backup.service subsidyd-backup.timer; do
  [ -f "Deploy/systemd/$unit" ] || continue
  sed "s|/usr/bin/|$prefix/bin/|g; s|/usr/share/doc/|$prefix/share/doc/|g" "Deploy/systemd/$unit" >"$unitdir/$unit"
  chmod 0644 "$unitdir/$unit"
done
install -m 0644 Deploy/systemd/subsidyd.sysusers "$sysusersdir/subsidyd.conf"
install -m 0644 Deploy/systemd/subsidyd.tmpfiles "$tmpfilesdir/subsidyd.conf"

# The configuration as shipped, with the policy read from /etc (so a revised policy is a file
# edit and `systemctl reload subsidyd`, not a rebuild).
install_config() {  # source, target name, content on stdin
  local target="$confdir/$1"
  if [ -e "$target" ]; then
    cat >"$target.dist"
    chmod 0644 "$target.dist"
    echo "   kept $target (the shipped version is $target.dist)"
  else
    cat >"$target"
    chmod 0644 "$target"
  fi
}
sed 's|^# policy = "/etc/subsidyd/policy.d"|policy = "/etc/subsidyd/policy.d"|' Deploy/subsidyd.toml | install_config subsidyd.toml
# Every programme file: the daemon serves each one in the directory (a new programme is a new file
# and a reload).
install -d -m 0755 "$confdir/policy.d"
for programme in Deploy/policy/*.toml; do
  install_config "policy.d/$(basename "$programme")" <"$programme"
done

# Completions come from the binaries themselves (ArgumentParser), so they match the build.
for shell in bash zsh fish; do
  case "$shell" in
    bash) target="$root$prefix/share/bash-completion/completions/%s" ;;
    zsh) target="$root$prefix/share/zsh/vendor-completions/_%s" ;;
    fish) target="$root$prefix/share/fish/vendor_completions.d/%s.fish" ;;
  esac
  for program in subsidyd subsidyctl; do
    # shellcheck disable=SC2059
    "$bin_dir/$program" --generate-completion-script "$shell" >"$(printf "$target" "$program")"
  done
done
gzip -9n -c Deploy/man/subsidyd.8 >"$mandir/man8/subsidyd.8.gz"
gzip -9n -c Deploy/man/subsidyctl.1 >"$mandir/man1/subsidyctl.1.gz"
chmod 0644 "$mandir/man8/subsidyd.8.gz" "$mandir/man1/subsidyctl.1.gz"
install -m 0644 Deploy/README.md "$docdir/README.md"
install -m 0644 Deploy/policy/EXAMPLES.md "$docdir/POLICY-EXAMPLES.md"
install -m 0644 Protos/README.md "$docdir/PROTOCOL.md"

echo "== installed $("$bindir/subsidyd" --version)"
if [ -z "$destdir" ]; then
  echo "Next: systemd-sysusers && systemd-tmpfiles --create subsidyd.conf && systemctl daemon-reload"
  echo "      subsidyd --check-config && systemctl enable --now subsidyd"
fi
