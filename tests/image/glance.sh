# shellcheck shell=bash
# The upload test (item 5) of tests/image/check.sh (sourced): a real glance-api (Debian's, Zed)
# without Keystone (noauth pipeline, SQLite, file store), started in the test's namespace with its
# own configuration, and `cotter-image upload --cloud` through clouds.yaml.

glance_start() {
	local g=$OUT/glance
	rm -rf "$g" && mkdir -p "$g/images" "$g/lock"
	cat >"$g/glance-api.conf" <<EOF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $GLANCE_PORT
workers = 0
log_file = $g/glance-api.log
[database]
connection = sqlite:///$g/glance.sqlite
[glance_store]
stores = file
default_store = file
filesystem_store_datadir = $g/images
[paste_deploy]
flavor =
config_file = $g/glance-api-paste.ini
[oslo_concurrency]
lock_path = $g/lock
EOF
	# Debian's paste file, its pipeline without Keystone: every request an admin context.
	cat >"$g/glance-api-paste.ini" <<EOF
[pipeline:glance-api]
pipeline = healthcheck versionnegotiation unauthenticated-context rootapp
[composite:rootapp]
paste.composite_factory = glance.api:root_app_factory
/: apiversions
/v2: apiv2app
[app:apiversions]
paste.app_factory = glance.api.versions:create_resource
[app:apiv2app]
paste.app_factory = glance.api.v2.router:API.factory
[filter:healthcheck]
paste.filter_factory = oslo_middleware:Healthcheck.factory
backends = disable_by_file
disable_by_file_path = $g/healthcheck_disable
[filter:versionnegotiation]
paste.filter_factory = glance.api.middleware.version_negotiation:VersionNegotiationFilter.factory
[filter:unauthenticated-context]
paste.filter_factory = glance.api.middleware.context:UnauthenticatedContextMiddleware.factory
EOF
	cat >"$g/clouds.yaml" <<EOF
clouds:
  cotter-test:
    auth_type: none
    auth:
      endpoint: http://127.0.0.1:$GLANCE_PORT
EOF
	in_ns glance-manage --config-file "$g/glance-api.conf" db_sync >"$g/db_sync.log" 2>&1 ||
		nok "glance-manage db_sync failed (log: $g/db_sync.log)" || return 1
	ip netns exec "$NS" glance-api --config-file "$g/glance-api.conf" >"$g/stdout.log" 2>&1 &
	echo $! >"$OUT/glance.pid"
	# 2-4 s on an idle machine; a minute and more on a loaded one (Python's imports)
	local t0=$SECONDS
	while [ $((SECONDS - t0)) -lt 180 ]; do
		in_ns curl -fsS -o /dev/null "http://127.0.0.1:$GLANCE_PORT/healthcheck" 2>/dev/null && return 0
		kill -0 "$(cat "$OUT/glance.pid")" 2>/dev/null || { nok "glance-api exited (log: $g/glance-api.log)"; return 1; }
		sleep 0.5
	done
	nok "glance-api did not answer in 180 s (log: $g/glance-api.log)"
}

# In the namespace, against the test's Glance: its clouds.yaml, its own cache directory.
in_glance() {
	ip netns exec "$NS" env OS_CLIENT_CONFIG_FILE="$OUT/glance/clouds.yaml" XDG_CACHE_HOME="$OUT/glance/cache" "$@"
}

t_upload() {
	needs build || return 1
	glance_start || return 1
	ok "glance-api $(dpkg-query -W -f '${Version}' glance-api 2>/dev/null) up in the namespace (noauth, sqlite, file store)"
	# A file that is not what its manifest says is refused before anything is sent.
	cp "$IMAGE" "$OUT/copy.qcow2" && cp "$IMAGE.manifest.json" "$OUT/copy.qcow2.manifest.json"
	printf 'x' | dd of="$OUT/copy.qcow2" bs=1 seek=1000000 conv=notrunc status=none
	expect_error 1 "does not match its manifest" in_glance "$COTTER_IMAGE" upload "$OUT/copy.qcow2" corrupt --cloud cotter-test || return 1
	rm -f "$OUT/copy.qcow2" "$OUT/copy.qcow2.manifest.json"
	# The upload: the manual flow's properties, one overridden and one dropped, and Cotter's.
	in_glance "$COTTER_IMAGE" upload "$IMAGE" cotter-image-test --cloud cotter-test \
		--property hw_rng_model=none --no-property os_type --property site=test >"$OUT/upload.out" 2>"$OUT/upload.err" ||
		nok "cotter-image upload failed: $(tail -n1 "$OUT/upload.err")" || return 1
	local id
	id=$(tail -n1 "$OUT/upload.out")
	grep -q "Glance's checksum (md5), size, sha512 match the file's" "$OUT/upload.err" || nok "upload did not report the checksum check: $(tail -n1 "$OUT/upload.err")" || return 1
	in_glance openstack --os-cloud cotter-test image show -f json "$id" >"$OUT/image-show.json" ||
		nok "openstack image show $id failed" || return 1
	local s=$OUT/image-show.json m=$IMAGE.manifest.json
	[ "$(jget "$s" 'j["status"]')" = active ] || nok "image status $(jget "$s" 'j["status"]')" || return 1
	[ "$(jget "$s" 'j["checksum"]')" = "$(md5sum "$IMAGE" | cut -c1-32)" ] || nok "Glance's checksum is not the file's md5" || return 1
	[ "$(jget "$s" 'j.get("os_hash_value", j["properties"].get("os_hash_value"))')" = "$(sha512sum "$IMAGE" | cut -c1-128)" ] || nok "Glance's sha512 is not the file's" || return 1
	[ "$(jget "$s" 'j["disk_format"]+" "+j["container_format"]+" "+j["visibility"]+" "+j["name"]')" = "qcow2 bare shared cotter-image-test" ] ||
		nok "formats, visibility or name: $(jget "$s" 'j["disk_format"]+" "+j["container_format"]+" "+j["visibility"]')" || return 1
	local want
	want="{'architecture': 'x86_64', 'hw_disk_bus': 'scsi', 'hw_rng_model': 'none', 'hw_scsi_model': 'virtio-scsi', 'hypervisor_type': 'kvm', 'os_distro': 'debian', 'cotter_encrypted': 'luks2', 'cotter_first_boot': 'rekey', 'cotter_tang_servers': '$URL_A $URL_B', 'cotter_tang_thumbprints': '$THP_A $THP_B', 'cotter_tang_threshold': '1', 'cotter_tpm2': 'yes', 'cotter_image_sha256': '$(jget "$m" 'j["image"]["sha256"]')', 'hw_tpm_version': '2.0', 'site': 'test', 'os_type': None}"
	python3 -c '
import json, sys
p = json.load(open(sys.argv[1]))["properties"]; want = eval(sys.argv[2])
bad = ["%s=%r (want %r)" % (k, p.get(k), v) for k, v in want.items() if p.get(k) != v]
print("; ".join(bad)); sys.exit(1 if bad else 0)' "$s" "$want" >"$OUT/props.diff" ||
		nok "properties: $(cat "$OUT/props.diff")" || return 1
	ok "image $id active: checksum and sha512 match the file; properties as asked (hw_rng_model overridden, os_type dropped, Cotter's)"
	kill "$(cat "$OUT/glance.pid")" 2>/dev/null
	rm -f "$OUT/glance.pid"
}
