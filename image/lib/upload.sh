# shellcheck shell=bash
# cotter-image upload IMAGE NAME [options]: openstack image create with the properties of the
# manual flow (overridable) and Cotter's, then a check that Glance holds the same bytes.

upload_usage() {
	cat <<EOF
usage: cotter-image upload IMAGE NAME [--cloud CLOUD] [--manifest FILE] [--visibility VIS]
                           [--property KEY=VALUE]... [--no-property KEY]... [--dry-run]

Uploads IMAGE to Glance as NAME with "openstack image create" and checks that Glance's
checksum and size match the file. The image's manifest (IMAGE.manifest.json) gives the
properties that say it is Cotter-encrypted and which Tang servers it needs, and the sha256 the
file must still have. --cloud picks a cloud of clouds.yaml (otherwise the OS_* environment);
--property adds or replaces a property, --no-property drops one; --visibility (default shared,
as the manual flow's --shared); --dry-run prints the command without running it.
EOF
}

cmd_upload() {
	local image='' name='' cloud='' manifest='' vis=shared dry=0 a
	local -A props=()
	local order=() drop=()
	while [ $# -gt 0 ]; do
		a=$1
		shift
		case $a in
		-h | --help) upload_usage; exit 0 ;;
		--cloud | --manifest | --visibility | --property | --no-property)
			[ $# -gt 0 ] || usage_error "$a needs a value"
			case $a in
			--cloud) cloud=$1 ;;
			--manifest) manifest=$1 ;;
			--visibility) vis=$1 ;;
			--property)
				[[ $1 =~ ^[A-Za-z0-9_:.-]+=.*$ ]] || usage_error "--property wants KEY=VALUE, not '$1'"
				props[${1%%=*}]=${1#*=}
				order+=("${1%%=*}")
				;;
			--no-property) drop+=("$1") ;;
			esac
			shift
			;;
		--cloud=* | --manifest=* | --visibility=* | --property=* | --no-property=*)
			set -- "${a%%=*}" "${a#*=}" "$@" ;;
		--dry-run) dry=1 ;;
		-*) usage_error "unknown option $a" ;;
		*)
			if [ -z "$image" ]; then image=$a
			elif [ -z "$name" ]; then name=$a
			else usage_error "unexpected argument '$a'"; fi
			;;
		esac
	done
	{ [ -n "$image" ] && [ -n "$name" ]; } || usage_error "upload needs IMAGE and NAME"
	[ -f "$image" ] || die "no such image file '$image'"
	[ -n "$manifest" ] || manifest=$image.manifest.json
	[ -f "$manifest" ] || die "no manifest '$manifest' (cotter-image build writes IMAGE.manifest.json; or give --manifest)"
	case $vis in public | private | shared | community) ;; *) usage_error "--visibility: public, private, shared or community" ;; esac
	need_tool python3 python3
	[ "$dry" = 1 ] || need_tool openstack python3-openstackclient

	# The image must still be the one the manifest describes.
	say "checking $image against its manifest"
	local size sha256 md5 sha512 msize msha fmt
	read -r size sha256 md5 sha512 < <(python3 "$LIBDIR/imagehelper.py" hashes "$image") || die "cannot read $image"
	read -r msize msha fmt < <(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); i=m["image"]; print(i["bytes"], i["sha256"], i["format"])' "$manifest") ||
		die "'$manifest' is not a cotter-image manifest"
	{ [ "$size" = "$msize" ] && [ "$sha256" = "$msha" ]; } ||
		die "$image does not match its manifest (sha256 $sha256, manifest says $msha): not uploading"

	# The manual flow's properties, then Cotter's (from the manifest); --property overrides.
	local -A base=() k
	local border=()
	while IFS='=' read -r k a; do
		[ -n "$k" ] || continue
		base[$k]=$a
		border+=("$k")
	done < <(python3 -c '
import json, sys
m = json.load(open(sys.argv[1])); b = m["binding"]
props = [("architecture", "x86_64"), ("hw_disk_bus", "scsi"), ("hw_rng_model", "virtio"),
         ("hw_scsi_model", "virtio-scsi"), ("hypervisor_type", "kvm"),
         ("os_distro", "debian"), ("os_type", "linux"),
         ("cotter_encrypted", "luks2"), ("cotter_first_boot", "rekey"),
         ("cotter_tang_servers", " ".join(t["url"] for t in b["tang"])),
         ("cotter_tang_thumbprints", " ".join(t["thp"] for t in b["tang"])),
         ("cotter_tang_threshold", str(b["threshold"])),
         ("cotter_tpm2", "yes" if b["tpm2_at_first_boot"] else "no"),
         ("cotter_image_sha256", m["image"]["sha256"])]
if b["tpm2_at_first_boot"]:
    props.append(("hw_tpm_version", "2.0"))
for k, v in props:
    print("%s=%s" % (k, v))' "$manifest")
	for k in "${order[@]}"; do
		[ -n "${base[$k]+x}" ] || border+=("$k")
		base[$k]=${props[$k]}
	done
	for k in "${drop[@]}"; do unset "base[$k]"; done
	local os=(openstack) cmd
	[ -z "$cloud" ] || os+=(--os-cloud "$cloud")
	cmd=("${os[@]}" image create --container-format bare --disk-format "$fmt" "--$vis")
	for k in "${border[@]}"; do
		[ -n "${base[$k]+x}" ] || continue
		cmd+=(--property "$k=${base[$k]}")
	done
	cmd+=(--file "$image" --progress -f value -c id "$name")
	if [ "$dry" = 1 ]; then
		printf '%q ' "${cmd[@]}"
		echo
		return 0
	fi

	say "uploading $image ($((size >> 20)) MiB) as '$name'"
	local id out
	out=$(mktemp)
	PARTIAL+=("$out")
	trap cleanup EXIT
	"${cmd[@]}" >"$out" || die "openstack image create failed"
	id=$(tr -d '\r' <"$out" | grep -E '^[0-9a-f-]{36}$' | tail -n1)
	[ -n "$id" ] || die "openstack image create printed no image id: $(tail -n1 "$out")"
	# image create prints the record before the data is in; the uploaded record is what counts.
	say "checking what Glance holds for image $id"
	"${os[@]}" image show -f json "$id" >"$out" || die "openstack image show $id failed"
	local verdict
	verdict=$(python3 -c '
import json, sys
s = json.load(open(sys.argv[1])); size, md5, sha512 = int(sys.argv[2]), sys.argv[3], sys.argv[4]
# the client shows os_hash_* at the top or among the properties, depending on its version
get = lambda k: s.get(k, s.get("properties", {}).get(k))
bad, checked = [], ["checksum (md5)", "size"]
if get("status") != "active": bad.append("status %s" % get("status"))
if get("checksum") != md5: bad.append("checksum %s, expected %s" % (get("checksum"), md5))
if get("size") is None or int(get("size")) != size: bad.append("size %s, expected %d" % (get("size"), size))
if get("os_hash_algo") == "sha512":
    checked.append("sha512")
    if get("os_hash_value") != sha512: bad.append("sha512 %s, expected %s" % (get("os_hash_value"), sha512))
elif get("os_hash_algo"):
    checked.append("not %s (Glance'"'"'s os_hash_algo)" % get("os_hash_algo"))
print("BAD " + "; ".join(bad) if bad else "OK " + ", ".join(checked))' "$out" "$size" "$md5" "$sha512")
	if [ "${verdict%% *}" != OK ]; then
		"${os[@]}" image delete "$id" >/dev/null 2>&1 && say "deleted image $id"
		die "Glance's image $id is not the file: ${verdict#BAD }"
	fi
	say "uploaded: image $id ('$name'); Glance's ${verdict#OK } match the file's"
	echo "$id"
}
