# bash completion for cotter(1)                                  -*- shell-script -*-
# SPDX-License-Identifier: GPL-3.0-or-later

_cotter_pins()
{
	local pins="tang sss tpm2 null" p f
	local -a dirs
	# External pins: every clevis-encrypt-NAME on PATH.
	IFS=: read -r -a dirs <<<"$PATH"
	for p in "${dirs[@]}"; do
		for f in "$p"/clevis-encrypt-*; do
			[ -x "$f" ] && pins+=" ${f##*/clevis-encrypt-}"
		done
	done
	printf '%s\n' $pins | sort -u
}

_cotter()
{
	# Plain COMP_WORDS, so that bash-completion's helpers are not required.
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local -a words=("${COMP_WORDS[@]}")
	local cword=$COMP_CWORD

	if [ "$cword" -eq 1 ]; then
		COMPREPLY=($(compgen -W 'encrypt decrypt luks --help --version' -- "$cur"))
		return
	fi
	case ${words[1]} in
	encrypt)
		case $cword in
		2) COMPREPLY=($(compgen -W "$(_cotter_pins)" -- "$cur")) ;;
		3)
			case ${words[2]} in
			tang) COMPREPLY=($(compgen -W "'{\"url\":\"http://' '{\"url\":\"https://'" -- "$cur")) ;;
			sss) COMPREPLY=($(compgen -W "'{\"t\":1,\"pins\":{'" -- "$cur")) ;;
			null) COMPREPLY=($(compgen -W "'{}' '{\"fail\":true}'" -- "$cur")) ;;
			tpm2) COMPREPLY=($(compgen -W "'{}' '{\"pcr_ids\":\"7\"}'" -- "$cur")) ;;
			esac
			;;
		4) COMPREPLY=($(compgen -W '-y' -- "$cur")) ;;
		esac
		;;
	decrypt)
		COMPREPLY=($(compgen -W '--help' -- "$cur"))
		;;
	luks)
		if [ "$cword" -eq 2 ]; then
			COMPREPLY=($(compgen -W 'bind unbind list unlock pass regen report edit' -- "$cur"))
		else
			case $prev in
			-d | -k | -c) COMPREPLY=($(compgen -f -- "$cur")) ;;
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
				COMPREPLY=($(compgen -W "$opts" -- "$cur"))
				;;
			esac
		fi
		;;
	esac
} &&
	complete -F _cotter cotter
