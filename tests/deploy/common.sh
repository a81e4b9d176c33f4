# shellcheck shell=bash disable=SC2034  # (its settings are for the scripts that source it)
# Settings shared by the deployment tests (sourced). Builds on tests/vm/common.sh (read-only):
# its cache (COTTER_VM_CACHE, default /var/cache/cotter-vm), hashing and logging helpers.
. "$(dirname "${BASH_SOURCE[0]}")/../vm/common.sh"
DEPLOY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DCACHE=$CACHE/deploy
# The test network inside the run's namespace (TEST-NET-2: never routed anywhere).
NET=198.51.100
# name MAC-suffix address-suffix: the guests of a run
GUESTS="tang1:11 tang2:12 client1:21"
# Test fixtures (made here, kept in the cache, never in the repository).
FIXTURE_LUKS_PASSPHRASE=cotter-deploy-test-fixture-luks-passphrase
OPERATOR=dragon # OSISM's operator user

dlog() { printf '[deploy %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
# The SSH key Ansible logs in with, as the operator user (a fixture made once in the cache).
deploy_ssh_key() {
	local k=$DCACHE/ssh/cotter-deploy-test-fixture-ed25519
	if [ ! -s "$k" ]; then
		mkdir -p "$DCACHE/ssh"
		chmod 700 "$DCACHE/ssh"
		if ! ssh-keygen -q -t ed25519 -N '' -C cotter-deploy-test-fixture -f "$k.tmp$$" >/dev/null; then
			die "ssh-keygen failed (apt-get install openssh-client)"
		fi
		if ! mv "$k.tmp$$.pub" "$k.pub" || ! mv "$k.tmp$$" "$k"; then
			die "could not move the SSH key into $DCACHE/ssh"
		fi
	fi
	echo "$k"
}
mac_of() { printf '52:54:00:51:00:%s' "$1"; }
