#!/bin/sh
# Install Cotter's plays and roles into an OSISM configuration repository, in one step:
#   deploy/osism/install.sh /path/to/configuration-repository
# Copies environments/custom/playbook-{tang,clevis,tang-rotate,tang-purge,tang-backup,
# tang-restore}.yml and environments/custom/roles/cotter_{common,server,client}/ (real files,
# no symlinks), so that `osism apply tang`, `osism apply clevis`, ... run them. Files of an
# earlier install are replaced; nothing else in the repository is touched. Then commit them.
set -eu
cfg=${1:?usage: install.sh CONFIGURATION_REPOSITORY}
src=$(cd "$(dirname "$0")" && pwd)/environments/custom
[ -d "$cfg/environments" ] ||
	{ echo "install.sh: $cfg has no environments/ directory: not an OSISM configuration repository" >&2; exit 1; }
dst=$cfg/environments/custom
mkdir -p "$dst/roles"
for f in "$src"/playbook-*.yml; do
	cp -L "$f" "$dst/"
	echo "installed environments/custom/$(basename "$f")"
done
for r in "$src"/roles/*; do
	n=$(basename "$r")
	rm -rf "$dst/roles/$n.new"
	cp -RL "$r" "$dst/roles/$n.new"
	rm -rf "$dst/roles/$n"
	mv "$dst/roles/$n.new" "$dst/roles/$n"
	echo "installed environments/custom/roles/$n/"
done
