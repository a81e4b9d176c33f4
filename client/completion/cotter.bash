# bash completion for cotter(1)                                  -*- shell-script -*-
# SPDX-License-Identifier: GPL-3.0-or-later

_cotter_pins()
{
	local -a pins=(tang sss tpm2 null) dirs
	local p f
	# External pins: every clevis-encrypt-NAME on PATH.
	IFS=: read -r -a dirs <<<"$PATH"
	for p in "${dirs[@]}"; do
		for f in "$p"/clevis-encrypt-*; do
			[ -x "$f" ] && pins+=("${f##*/clevis-encrypt-}")
		done
	done
	printf '%s\n' "${pins[@]}" | sort -u
}

# _cotter_offer CUR WORDS: the words that complete CUR (compgen -W), as the reply.
_cotter_offer()
{
	mapfile -t COMPREPLY < <(compgen -W "$2" -- "$1")
}

_cotter()
{
	# Plain COMP_WORDS, so that bash-completion's helpers are not required.
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local -a words=("${COMP_WORDS[@]}")
	local cword=$COMP_CWORD

	if [ "$cword" -eq 1 ]; then
		_cotter_offer "$cur" 'encrypt decrypt luks --help --version'
		return
	fi
	case ${words[1]} in
	encrypt)
		case $cword in
		2) _cotter_offer "$cur" "$(_cotter_pins)" ;;
		3)
			case ${words[2]} in
			tang) _cotter_offer "$cur" "'{\"url\":\"http://' '{\"url\":\"https://'" ;;
			sss) _cotter_offer "$cur" "'{\"t\":1,\"pins\":{'" ;;
			null) _cotter_offer "$cur" "'{}' '{\"fail\":true}'" ;;
			tpm2) _cotter_offer "$cur" "'{}' '{\"pcr_ids\":\"7\"}'" ;;
			esac
			;;
		4) _cotter_offer "$cur" '-y' ;;
		esac
		;;
	decrypt)
		_cotter_offer "$cur" '--help'
		;;
	luks)
		if [ "$cword" -eq 2 ]; then
			_cotter_offer "$cur" 'bind unbind list unlock pass regen report edit'
		else
			case $prev in
			-d | -k | -c) mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
			*)
				local opts='-d -s -h'
				case ${words[2]} in
				bind) opts='-d -s -k -t -e -y -f -h' ;;
				unbind) opts='-d -s -f -h' ;;
				list) opts='-d -s -p --json -h' ;;
				unlock) opts='-d -n -t -o --test --dry-run -h' ;;
				regen) opts='-d -s -k -q -y -h' ;;
				report) opts='-d -s -q -r -y --json -h' ;;
				edit) opts='-d -s -c -k -f -y -h' ;;
				esac
				_cotter_offer "$cur" "$opts"
				;;
			esac
		fi
		;;
	esac
} &&
	complete -F _cotter cotter
