#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# check_docs.sh [REPO_ROOT]
#
# Fail when Documentation/userspace-api/iocp.rst and the ABI drift apart:
#  - every #define IOCP_* of uapi/linux/iocp.h is mentioned in the rst;
#  - every ioctl of the header has a ".. c:macro:: IOCP_IOC_..." entry, and
#    every IOCP_IOC_* / c:macro name / IOCP_* constant / struct block the rst
#    has exists in the header;
#  - every struct of the header has a literal block "struct NAME { ... };" in
#    the rst with the same fields (names, types, order), and each field is
#    documented as ``field`` in a section that mentions the struct;
#  - every errno the module returns (-EXXX in module/*.[ch]) is mentioned;
#  - the library functions of lib/iocp.h and of the rst match;
#  - the ioctl table of the rst gives each ioctl its definition in the header;
#  - the fdinfo keys ("iocp-NAME:" in module/*.c) and the ``iocp-NAME:``
#    keys of the rst are the same, in the same order: the order of the file
#    with the .show_fdinfo method, with the keys of the helpers it calls
#    (functions "*show_fdinfo" of other files) where it calls them;
#  - the ABI of file associations is among what the checks above see (the
#    ioctls, struct iocp_assoc_args, max_assoc, associations, the
#    constants), and its fdinfo keys are documented, module or not;
#  - the ".. c:macro:: IOCP_IOC_..." entry of each ioctl names every errno
#    of that ioctl (the table ioctl_errnos below, which must list only
#    errnos the module returns);
#  - the ABI of ops is among what the checks above see (IOCP_IOC_SUBMIT,
#    IOCP_IOC_CANCEL, struct iocp_op, iocp_submit_args, iocp_cancel_args,
#    max_ops, ops, the constants), and its fdinfo keys are documented;
#  - the entries of IOCP_IOC_SUBMIT and IOCP_IOC_CANCEL name every errno
#    that the ops code (module/op.c, module/io.c) returns, the submit entry
#    every IOCP_OP_* opcode and status and IOCP_OPF_* flag, the cancel
#    entry every IOCP_CANCEL_* flag;
#  - the man pages: every function of lib/iocp.h and lib/iocp/win32.h
#    (static inline ones included) has its page man/man3/NAME.3, and every
#    man3 page is that of such a function; every page (.so links resolved)
#    formats without a warning with groff -man -ww and lints clean with
#    mandoc -T lint -W warning; every page has the sections NAME, SYNOPSIS,
#    DESCRIPTION, RETURN VALUE (functions that return a value) and SEE
#    ALSO, and the SYNOPSIS prototype of its function is the header's;
#    iocp(7) refers to the page of every function of lib/iocp.h.
# Runs on the host, needs only bash, grep, sed and awk, and groff and
# mandoc for the lint of the man pages (skipped without them). Output is
# KTAP.

set -u
export LC_ALL=C

root=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
hdr=$root/uapi/linux/iocp.h
lib=$root/lib/iocp.h
rst=$root/Documentation/userspace-api/iocp.rst

echo "TAP version 13"
for f in "$hdr" "$rst"; do
	if [ ! -r "$f" ]; then
		echo "1..0"
		echo "Bail out! cannot read ${f#"$root"/}"
		exit 1
	fi
done

# C source with comments removed (string literals are not special-cased).
nocomment() {
	awk '{
		s = $0; out = ""
		while (length(s)) {
			if (inc) {
				i = index(s, "*/")
				if (!i) { s = ""; break }
				s = substr(s, i + 2); inc = 0; continue
			}
			i = index(s, "/*"); j = index(s, "//")
			if (j && (!i || j < i)) { out = out substr(s, 1, j - 1); break }
			if (i) { out = out substr(s, 1, i - 1) " "; s = substr(s, i + 2); inc = 1; continue }
			out = out s; s = ""
		}
		print out
	}' "$@"
}

# "struct field declaration" lines for every "struct NAME {" ... "};" block,
# declaration normalised to "type name[N]".
struct_fields() {
	awk '
	!depth && match($0, /struct[ \t]+[A-Za-z_][A-Za-z0-9_]*[ \t]*\{/) {
		s = substr($0, RSTART, RLENGTH)
		sub(/^struct[ \t]+/, "", s); sub(/[ \t]*\{$/, "", s)
		name = s; depth = 1; next
	}
	depth {
		line = $0
		if (line ~ /\{/) depth++
		if (line ~ /\}/) { depth--; if (!depth) next }
		if (line ~ /;/ && line !~ /[{}]/) {
			sub(/;.*/, "", line)
			gsub(/[ \t]+/, " ", line); sub(/^ /, "", line); sub(/ $/, "", line)
			sub(/ *\[ */, "[", line); sub(/ *\] */, "]", line)
			n = line; sub(/\[.*/, "", n); sub(/.*[ *]/, "", n)
			print name, n, line
		}
	}' "$@"
}

# Split the rst into sections (at headings and at ".. c:macro::" entries)
# and print "section-number<TAB>line" for every line.
rst_sections() {
	awk '
	{ lines[NR] = $0 }
	END {
		sec = 0
		for (i = 1; i <= NR; i++) {
			if (lines[i] ~ /^\.\. c:macro::/) sec++
			else if (i < NR && lines[i] ~ /[^ \t]/ &&
				 lines[i + 1] ~ /^([=~^"#*+-])\1\1+[ \t]*$/ &&
				 lines[i] !~ /^([=~^"#*+-])\1\1+[ \t]*$/) sec++
			print sec "\t" lines[i]
		}
	}' "$1"
}

# Words of $1 (one a line) that do not occur as a whole word in file $2.
missing_words() {
	local w
	for w in $1; do
		grep -qw -- "$w" "$2" || echo "$w"
	done
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

nocomment "$hdr" > "$tmp/hdr"
rst_sections "$rst" > "$tmp/sections"

declare -a names results diags
add() {	# add NAME STATUS(ok|not ok|skip) [DIAGNOSTICS...]
	local name=$1 status=$2
	shift 2
	names+=("$name")
	results+=("$status")
	diags+=("$(printf '%s\n' "$@" | sed '/^$/d')")
}
join() { tr '\n' ' ' | sed 's/ $//'; }

defines=$(sed -nE 's/^[ \t]*#[ \t]*define[ \t]+(IOCP_[A-Za-z0-9_]+).*/\1/p' "$tmp/hdr" | sort -u)
ioctls=$(sed -nE 's/^[ \t]*#[ \t]*define[ \t]+(IOCP_IOC_[A-Za-z0-9_]+)[ \t]+_IO(R|W|WR)?[ \t]*\(.*/\1/p' "$tmp/hdr" | sort -u)

# 1. every #define IOCP_* of the header is in the rst
miss=$(missing_words "$defines" "$rst" | join)
if [ -z "$defines" ]; then
	add header_defines_documented "not ok" "# no #define IOCP_* found in the header"
elif [ -n "$miss" ]; then
	add header_defines_documented "not ok" "# missing: $miss"
else
	add header_defines_documented ok
fi

# 2. every ioctl has a ".. c:macro::" entry
macros=$(sed -nE 's/^\.\. c:macro::[ \t]+([A-Za-z0-9_]+)[ \t]*$/\1/p' "$rst" | sort -u)
miss=$(comm -23 <(echo "$ioctls") <(echo "$macros") | join)
if [ -n "$miss" ]; then
	add ioctls_have_c_macro_entries "not ok" "# missing: $miss"
else
	add ioctls_have_c_macro_entries ok
fi

# 3. every IOCP_IOC_* and c:macro name of the rst exists in the header
used=$( (grep -oE 'IOCP_IOC_[A-Za-z0-9_]*[A-Za-z0-9]' "$rst"; echo "$macros") | sed '/^$/d' | sort -u)
unknown=$(comm -23 <(echo "$used") <(echo "$defines") | join)
if [ -n "$unknown" ]; then
	add rst_ioctls_exist "not ok" "# not in the header: $unknown"
else
	add rst_ioctls_exist ok
fi

# 4. every other IOCP_* constant of the rst exists in the uapi or lib header,
#    or is a build variable that Kbuild tests (names followed by "*" are
#    families, such as IOCP_CF_*; IOCP_IOC_* are check 3's)
known=$defines
[ -r "$lib" ] && known=$( (echo "$known"; nocomment "$lib" |
	sed -nE 's/^[ \t]*#[ \t]*define[ \t]+(IOCP_[A-Za-z0-9_]+).*/\1/p') | sort -u)
[ -r "$root/Kbuild" ] && known=$( (echo "$known"; grep -oE '\$\((IOCP_[A-Z0-9_]+)\)' "$root/Kbuild" |
	sed -E 's/^\$\((.*)\)$/\1/') | sort -u)
used=$(grep -oE 'IOCP_[A-Za-z0-9_]+\*?' "$rst" | grep -v -e '\*$' -e '^IOCP_IOC_' | sort -u)
unknown=$(comm -23 <(echo "$used") <(echo "$known") | join)
if [ -n "$unknown" ]; then
	add rst_constants_exist "not ok" "# not in the headers: $unknown"
else
	add rst_constants_exist ok
fi

# 5. each struct: literal block identical in fields, every field documented
struct_fields "$tmp/hdr" > "$tmp/hfields"
struct_fields "$rst" > "$tmp/rfields"
structs=$(awk '{ print $1 }' "$tmp/hfields" | awk '!seen[$0]++')
[ -n "$structs" ] || add structs_found "not ok" "# no struct found in the header"
for s in $structs; do
	d=()
	awk -v s="$s" '$1 == s { $1 = ""; sub(/^ /, ""); print }' "$tmp/hfields" > "$tmp/h.$s"
	awk -v s="$s" '$1 == s { $1 = ""; sub(/^ /, ""); print }' "$tmp/rfields" > "$tmp/r.$s"
	hf=$(awk '{ print $1 }' "$tmp/h.$s")
	if ! grep -qw -- "$s" "$rst"; then
		d+=("# struct $s not mentioned")
	fi
	if [ ! -s "$tmp/r.$s" ]; then
		d+=("# no literal block \"struct $s {\" ... \"};\"")
	else
		rf=$(awk '{ print $1 }' "$tmp/r.$s")
		m=$(comm -23 <(echo "$hf" | sort -u) <(echo "$rf" | sort -u) | join)
		x=$(comm -13 <(echo "$hf" | sort -u) <(echo "$rf" | sort -u) | join)
		[ -n "$m" ] && d+=("# missing in literal block: $m")
		[ -n "$x" ] && d+=("# in literal block, not in header: $x")
		if [ -z "$m$x" ] && ! cmp -s <(cut -d' ' -f2- "$tmp/h.$s") <(cut -d' ' -f2- "$tmp/r.$s"); then
			d+=("# literal block differs from header: $(cut -d' ' -f2- "$tmp/r.$s" | paste -sd, -)")
			d+=("#   header: $(cut -d' ' -f2- "$tmp/h.$s" | paste -sd, -)")
		fi
	fi
	# The sections that mention the struct, with the literal blocks.
	secs=$(awk -F'\t' -v s="$s" '
		{ line = $0; sub(/^[^\t]*\t/, "", line) }
		line ~ ("(^|[^A-Za-z0-9_])" s "([^A-Za-z0-9_]|$)") { print $1 }' \
		"$tmp/sections" | sort -u)
	awk -F'\t' -v secs=" $(echo "$secs" | join) " 'index(secs, " " $1 " ") { sub(/^[^\t]*\t/, ""); print }' \
		"$tmp/sections" > "$tmp/text.$s"
	m=""
	for f in $hf; do
		grep -qF -- "\`\`$f\`\`" "$tmp/text.$s" || m="$m $f"
	done
	[ -n "$m" ] && d+=("# fields not documented as \`\`field\`\` in a section about $s:$m")
	if [ ${#d[@]} -eq 0 ]; then
		add "struct_${s}_documented" ok
	else
		add "struct_${s}_documented" "not ok" "${d[@]}"
	fi
done

# 6. every struct declared in the rst exists in the header
unknown=$(comm -13 <(echo "$structs" | sort -u) \
	<(awk '{ print $1 }' "$tmp/rfields" | sort -u) | sed '/^$/d' | join)
if [ -n "$unknown" ]; then
	add rst_structs_exist "not ok" "# not in the header: $unknown"
else
	add rst_structs_exist ok
fi

# 7. every errno the module returns is documented
shopt -s nullglob
msrc=("$root"/module/*.c "$root"/module/*.h)
shopt -u nullglob
csrc=0
for f in "${msrc[@]}"; do [[ $f == *.c ]] && csrc=1; done
if [ $csrc -eq 0 ]; then
	add errnos_documented skip "module/*.c not present"
else
	errnos=$(nocomment "${msrc[@]}" | grep -oE '(^|[^A-Za-z0-9_])-E[A-Z][A-Z0-9_]*' |
		 sed -E 's/^.*-//' |
		 sed -E 's/^ERESTART[A-Z_]*$/EINTR/; s/^ENOIOCTLCMD$/ENOTTY/' | sort -u)
	miss=$(missing_words "$errnos" "$rst" | join)
	if [ -n "$miss" ]; then
		add errnos_documented "not ok" "# missing: $miss"
	else
		add errnos_documented ok "# errnos: $(echo "$errnos" | join)"
	fi
fi

# 8. library functions: documented, and none invented
if [ ! -r "$lib" ]; then
	add lib_functions_documented skip "lib/iocp.h not present"
	add rst_lib_functions_exist skip "lib/iocp.h not present"
else
	libfns=$(nocomment "$lib" | tr '\n' ' ' | sed 's/;/;\n/g; s/{/{\n/g' |
		 grep -oE '(^|[^A-Za-z0-9_])iocp_[a-z0-9_]+[ \t]*\(' |
		 sed -E 's/^[^i]*//; s/[ \t]*\($//' | sort -u)
	miss=$(missing_words "$libfns" "$rst" | join)
	if [ -n "$miss" ]; then
		add lib_functions_documented "not ok" "# missing: $miss"
	else
		add lib_functions_documented ok
	fi
	used=$(grep -oE '(^|[^A-Za-z0-9_])iocp_[a-z0-9_]+\(' "$rst" |
	       sed -E 's/^[^i]*//; s/\($//' | sort -u)
	unknown=$(comm -23 <(echo "$used") <(echo "$libfns") | sed '/^$/d' | join)
	if [ -n "$unknown" ]; then
		add rst_lib_functions_exist "not ok" "# not in lib/iocp.h: $unknown"
	else
		add rst_lib_functions_exist ok
	fi
fi

# 9. the ioctl table: a row "``NAME``" / "``DEFINITION``" for every ioctl,
#    with the definition of the header (blanks normalised)
sed -nE 's/^[ \t]*#[ \t]*define[ \t]+(IOCP_IOC_[A-Za-z0-9_]+)[ \t]+(_IO(R|W|WR)?[ \t]*\(.*\))[ \t]*$/\1 \2/p' "$tmp/hdr" |
	awk '{ n = $1; $1 = ""; d = $0; gsub(/[ \t]+/, " ", d); sub(/^ /, "", d)
	       gsub(/ ?\( ?/, "(", d); gsub(/ ?\) ?/, ")", d); gsub(/ ?, ?/, ", ", d)
	       print n "\t" d }' | sort > "$tmp/hdefs"
awk '
	match($0, /^[ \t]*\* - ``IOCP_IOC_[A-Za-z0-9_]+``[ \t]*$/) {
		n = $0; sub(/^[^`]*``/, "", n); sub(/``.*/, "", n); next
	}
	n && match($0, /^[ \t]*- ``_IO(R|W|WR)?[ \t]*\(.*\)``[ \t]*$/) {
		d = $0; sub(/^[^`]*``/, "", d); sub(/``[ \t]*$/, "", d)
		gsub(/[ \t]+/, " ", d)
		gsub(/ ?\( ?/, "(", d); gsub(/ ?\) ?/, ")", d); gsub(/ ?, ?/, ", ", d)
		print n "\t" d
	}
	{ n = "" }' "$rst" | sort > "$tmp/rdefs"
miss=$(comm -23 "$tmp/hdefs" "$tmp/rdefs" | cut -f1 | join)
wrong=$(comm -13 "$tmp/hdefs" "$tmp/rdefs" | tr '\t' ' ' | paste -sd';' -)
if [ ! -s "$tmp/hdefs" ]; then
	add ioctl_table_matches_header "not ok" "# no ioctl definition found in the header"
elif [ -n "$miss$wrong" ]; then
	add ioctl_table_matches_header "not ok" \
		"${miss:+# no matching table row: $miss}" "${wrong:+# not in the header: $wrong}"
else
	add ioctl_table_matches_header ok
fi

# The fdinfo keys the module prints, in output order: those of the file with
# the .show_fdinfo method, with the keys of each helper it calls (a function
# named *show_fdinfo defined in another file: all that file's keys) spliced
# in at the call, then the keys of any other file.
module_fdinfo_keys() {
	local f primary='' name
	local -a cfiles=()

	for f in "${msrc[@]}"; do [[ $f == *.c ]] && cfiles+=("$f"); done
	for f in "${cfiles[@]}"; do
		if nocomment "$f" | grep -q '\.show_fdinfo[[:space:]]*='; then
			primary=$f
			break
		fi
	done
	: >"$tmp/helpers"
	for f in "${cfiles[@]}"; do
		[ "$f" = "$primary" ] && continue
		nocomment "$f" > "$tmp/src"
		grep -qE '"iocp-[a-z0-9-]+:' "$tmp/src" || continue
		name=$(grep -oE '^[A-Za-z_][A-Za-z0-9_ *]*[ *][a-z0-9_]*show_fdinfo[[:space:]]*\(' "$tmp/src" |
		       sed -E 's/[[:space:]]*\($//; s/.*[ *]//' | head -n 1)
		printf '%s\t%s\n' "${name:-?}" "$(grep -oE '"iocp-[a-z0-9-]+:' "$tmp/src" |
			sed 's/^"//' | awk '!seen[$0]++' | tr '\n' ' ')"
	done > "$tmp/helpers"
	{
		if [ -n "$primary" ]; then
			nocomment "$primary" | awk -F'\t' -v helpers="$tmp/helpers" '
				BEGIN { while ((getline l < helpers) > 0) { split(l, a, "\t"); keys[a[1]] = a[2] } }
				{
					line = $0
					while (match(line, /"iocp-[a-z0-9-]+:|[A-Za-z_][A-Za-z0-9_]*[ \t]*\(/)) {
						tok = substr(line, RSTART, RLENGTH)
						line = substr(line, RSTART + RLENGTH)
						if (tok ~ /^"/) { print substr(tok, 2); continue }
						sub(/[ \t]*\($/, "", tok)
						if (tok in keys && !(tok in done)) {
							n = split(keys[tok], k, " ")
							for (i = 1; i <= n; i++) print k[i]
							done[tok] = 1
						}
					}
				}
				END { for (h in keys) if (!(h in done)) { n = split(keys[h], k, " "); for (i = 1; i <= n; i++) print k[i] } }'
		else
			cut -f2 "$tmp/helpers" | tr ' ' '\n'
		fi
	} | sed '/^$/d' | awk '!seen[$0]++'
}

# 10. fdinfo keys: those the module prints, as ``iocp-NAME:`` in the rst,
#     same set and same order
if [ $csrc -eq 0 ]; then
	add fdinfo_keys_documented skip "module/*.c not present"
else
	mkeys=$(module_fdinfo_keys)
	rkeys=$(grep -oE "\`\`iocp-[a-z0-9-]+:\`\`" "$rst" | tr -d '`' | awk '!seen[$0]++')
	miss=$(comm -23 <(echo "$mkeys" | sort) <(echo "$rkeys" | sort) | sed '/^$/d' | join)
	unknown=$(comm -13 <(echo "$mkeys" | sort) <(echo "$rkeys" | sort) | sed '/^$/d' | join)
	if [ -z "$mkeys" ]; then
		add fdinfo_keys_documented "not ok" "# no \"iocp-NAME:\" key found in module/*.c"
	elif [ -n "$miss$unknown" ]; then
		add fdinfo_keys_documented "not ok" \
			"${miss:+# missing: $miss}" "${unknown:+# not printed by the module: $unknown}"
	elif [ "$mkeys" != "$rkeys" ]; then
		add fdinfo_keys_documented "not ok" "# order differs: module: $(echo "$mkeys" | join)" \
			"#   rst: $(echo "$rkeys" | join)"
	else
		add fdinfo_keys_documented ok
	fi
fi

# 11. the ABI of file associations is seen by the checks above: its ioctls,
#     constants and struct fields are among those parsed from the header
want_defines="IOCP_IOC_ASSOCIATE IOCP_IOC_MODIFY IOCP_IOC_DISSOCIATE IOCP_POLLIN
	IOCP_POLLPRI IOCP_POLLOUT IOCP_POLLERR IOCP_POLLHUP IOCP_POLLRDHUP
	IOCP_ASSOC_ONESHOT IOCP_CF_READINESS IOCP_MAX_NEST IOCP_DEFAULT_MAX_ASSOC
	IOCP_MAX_ASSOC_LIMIT"
want_fields="iocp_assoc_args.key iocp_assoc_args.fd iocp_assoc_args.events
	iocp_assoc_args.flags iocp_assoc_args.reserved iocp_config.max_assoc
	iocp_stats.associations"
miss=$(comm -23 <(echo $want_defines | tr ' ' '\n' | sort -u) <(echo "$defines") | join)
missf=$(comm -23 <(echo $want_fields | tr ' ' '\n' | sort -u) \
	<(awk '{ print $1 "." $2 }' "$tmp/hfields" | sort -u) | join)
if [ -n "$miss$missf" ]; then
	add association_abi_checked "not ok" "${miss:+# not defined in the header: $miss}" \
		"${missf:+# fields not found in the header: $missf}"
else
	add association_abi_checked ok
fi

# 12. the fdinfo keys of associations are documented (also without module
#     sources to compare with)
miss=""
for k in iocp-associations: iocp-max-assoc: iocp-assoc:; do
	grep -qF -- "\`\`$k\`\`" "$rst" || miss="$miss $k"
done
if [ -n "$miss" ]; then
	add fdinfo_association_keys_documented "not ok" "# missing:$miss"
else
	add fdinfo_association_keys_documented ok
fi

# The text of the ".. c:macro:: $1" entry, up to the next entry or heading;
# empty if there is none.
macro_section() {
	local sec
	sec=$(awk -F'\t' -v n="$1" '
		{ line = $0; sub(/^[^\t]*\t/, "", line) }
		line ~ ("^\\.\\.[ \t]+c:macro::[ \t]+" n "[ \t]*$") { print $1; exit }' "$tmp/sections")
	[ -n "$sec" ] || return 0
	awk -F'\t' -v s="$sec" '$1 == s { sub(/^[^\t]*\t/, ""); print }' "$tmp/sections"
}

# 13. the errnos of each ioctl, named in its ".. c:macro::" entry. EFAULT
#     of the ioctls without argument, and ENOTTY, are stated once for all.
ioctl_errnos="
IOCP_IOC_SET_CONFIG EFAULT EINVAL ESHUTDOWN
IOCP_IOC_GET_CONFIG EFAULT
IOCP_IOC_POST EFAULT EINVAL EAGAIN ENOMEM ESHUTDOWN
IOCP_IOC_DEQUEUE EFAULT EINVAL ETIMEDOUT EINTR ESHUTDOWN ENOMEM
IOCP_IOC_GET_STATS EFAULT
IOCP_IOC_DISASSOCIATE ENOENT
IOCP_IOC_ASSOCIATE EFAULT EINVAL EBADF EPERM ESHUTDOWN ELOOP EEXIST ENOSPC ENOMEM
IOCP_IOC_MODIFY EFAULT EINVAL EBADF ESHUTDOWN ENOENT EPERM ENOMEM
IOCP_IOC_DISSOCIATE EFAULT EINVAL EBADF ENOENT
IOCP_IOC_SUBMIT EFAULT EINVAL
IOCP_IOC_CANCEL EFAULT EINVAL EBADF ENOENT
"
d=()
while read -r name errs; do
	[ -n "$name" ] || continue
	if ! grep -qw -- "$name" <<<"$ioctls"; then
		d+=("# $name: not an ioctl of the header")
		continue
	fi
	sec=$(awk -F'\t' -v n="$name" '
		{ line = $0; sub(/^[^\t]*\t/, "", line) }
		line ~ ("^\\.\\. c:macro::[ \t]+" n "[ \t]*$") { print $1; exit }' "$tmp/sections")
	if [ -z "$sec" ]; then
		d+=("# $name: no c:macro entry")
		continue
	fi
	awk -F'\t' -v s="$sec" '$1 == s { sub(/^[^\t]*\t/, ""); print }' "$tmp/sections" > "$tmp/sec"
	m=$(missing_words "$errs" "$tmp/sec" | join)
	[ -n "$m" ] && d+=("# $name: not in its entry: $m")
	if [ $csrc -ne 0 ]; then
		x=$(comm -23 <(echo $errs | tr ' ' '\n' | sort -u) <(echo "$errnos") | join)
		[ -n "$x" ] && d+=("# $name: the table lists errnos the module never returns: $x")
	fi
done <<<"$ioctl_errnos"
miss=$(comm -23 <(echo "$ioctls") <(awk 'NF { print $1 }' <<<"$ioctl_errnos" | sort -u) |
       grep -vx IOCP_IOC_SHUTDOWN | join)
[ -n "$miss" ] && d+=("# ioctls missing from the table of this check: $miss")
if [ ${#d[@]} -eq 0 ]; then
	add ioctl_errnos_documented ok
else
	add ioctl_errnos_documented "not ok" "${d[@]}"
fi

# 14. the ABI of ops is seen by the checks above
want_defines="IOCP_IOC_SUBMIT IOCP_IOC_CANCEL IOCP_CF_OP IOCP_OP_NOP IOCP_OP_READ
	IOCP_OP_WRITE IOCP_OP_READV IOCP_OP_WRITEV IOCP_OP_RECV IOCP_OP_SEND
	IOCP_OP_RECVMSG IOCP_OP_SENDMSG IOCP_OP_ACCEPT IOCP_OP_CONNECT IOCP_OP_POLL
	IOCP_OP_PENDING IOCP_OP_QUEUED IOCP_OP_DONE IOCP_OP_FAILED
	IOCP_OPF_SKIP_ON_SUCCESS IOCP_ASSOC_SKIP_ON_SUCCESS IOCP_OFFSET_CURRENT
	IOCP_CANCEL_USER_DATA IOCP_CANCEL_FD IOCP_CANCEL_ALL IOCP_DEFAULT_MAX_OPS
	IOCP_MAX_OPS_LIMIT"
want_fields="iocp_op.user_data iocp_op.addr iocp_op.addr2 iocp_op.offset
	iocp_op.result iocp_op.len iocp_op.opcode iocp_op.fd iocp_op.flags
	iocp_op.op_flags iocp_op.status iocp_submit_args.ops
	iocp_submit_args.count iocp_submit_args.flags iocp_cancel_args.user_data
	iocp_cancel_args.fd iocp_cancel_args.flags iocp_cancel_args.count
	iocp_cancel_args.reserved iocp_config.max_ops iocp_stats.ops"
miss=$(comm -23 <(echo $want_defines | tr ' ' '\n' | sort -u) <(echo "$defines") | join)
missf=$(comm -23 <(echo $want_fields | tr ' ' '\n' | sort -u) \
	<(awk '{ print $1 "." $2 }' "$tmp/hfields" | sort -u) | join)
if [ -n "$miss$missf" ]; then
	add ops_abi_checked "not ok" "${miss:+# not defined in the header: $miss}" \
		"${missf:+# fields not found in the header: $missf}"
else
	add ops_abi_checked ok
fi

# 15. the fdinfo keys of ops are documented (also without module sources)
miss=""
for k in iocp-ops: iocp-max-ops:; do
	grep -qF -- "\`\`$k\`\`" "$rst" || miss="$miss $k"
done
if [ -n "$miss" ]; then
	add fdinfo_ops_keys_documented "not ok" "# missing:$miss"
else
	add fdinfo_ops_keys_documented ok
fi

# 16. every errno of the ops code is named in the entries of
#     IOCP_IOC_SUBMIT and IOCP_IOC_CANCEL (results of ops included)
osrc=()
for f in "$root"/module/op.c "$root"/module/io.c "$root"/module/op.h; do
	[ -r "$f" ] && osrc+=("$f")
done
if [ ${#osrc[@]} -eq 0 ]; then
	add op_errnos_documented skip "module/op.c, module/io.c not present"
else
	{ macro_section IOCP_IOC_SUBMIT; macro_section IOCP_IOC_CANCEL; } > "$tmp/opsec"
	operrs=$(nocomment "${osrc[@]}" | grep -oE '(^|[^A-Za-z0-9_])-E[A-Z][A-Z0-9_]*' |
		 sed -E 's/^.*-//' |
		 sed -E 's/^ERESTART[A-Z_]*$/EINTR/; s/^ENOIOCTLCMD$/ENOTTY/' | sort -u)
	miss=$(missing_words "$operrs" "$tmp/opsec" | join)
	if [ ! -s "$tmp/opsec" ]; then
		add op_errnos_documented "not ok" "# no c:macro entry for IOCP_IOC_SUBMIT or IOCP_IOC_CANCEL"
	elif [ -n "$miss" ]; then
		add op_errnos_documented "not ok" "# not in the entries of IOCP_IOC_SUBMIT, IOCP_IOC_CANCEL: $miss"
	else
		add op_errnos_documented ok
	fi
fi

# 17. the submit entry names every opcode, status and op flag; the cancel
#     entry every cancel flag
d=()
macro_section IOCP_IOC_SUBMIT > "$tmp/submit"
macro_section IOCP_IOC_CANCEL > "$tmp/cancel"
m=$(missing_words "$(grep -E '^IOCP_OPF?_' <<<"$defines")" "$tmp/submit" | join)
[ -n "$m" ] && d+=("# not in the IOCP_IOC_SUBMIT entry: $m")
m=$(missing_words "$(grep -E '^IOCP_CANCEL_' <<<"$defines")" "$tmp/cancel" | join)
[ -n "$m" ] && d+=("# not in the IOCP_IOC_CANCEL entry: $m")
if [ ${#d[@]} -eq 0 ]; then
	add op_constants_in_entries ok
else
	add op_constants_in_entries "not ok" "${d[@]}"
fi

# ---- man pages: man/man3/<function>.3 and man/man7/*.7 ----------------------

mandir=$root/man
win=$root/lib/iocp/win32.h
hdrs=()
for f in "$lib" "$win"; do [ -r "$f" ] && hdrs+=("$f"); done

# awk functions: norm() normalises a C declaration (blanks, "static",
# "inline", "extern" and the words of the -v drop list removed, no blank
# around * ( ) , [ ]), so that "int  f( char *p )" is "int f(char*p)".
awk_norm='
function norm(s,   n, i, t, out) {
	if (!normed) {
		n = split(drop " static inline extern __inline __inline__", t, " ")
		for (i = 1; i <= n; i++) dropw[t[i]] = 1
		normed = 1
	}
	gsub(/[*(),\[\]]/, " & ", s)
	n = split(s, t, /[ \t\n]+/)
	out = ""
	for (i = 1; i <= n; i++)
		if (t[i] != "" && !(t[i] in dropw)) out = out (out == "" ? "" : " ") t[i]
	gsub(/ ?\* ?/, "*", out); gsub(/ ?\( ?/, "(", out); gsub(/ ?\) ?/, ")", out)
	gsub(/ ?, ?/, ",", out); gsub(/ ?\[ ?/, "[", out); gsub(/ ?\] ?/, "]", out)
	return out
}'

# Macros of the headers $@ defined as nothing (WINAPI, PASCAL, ...): left
# out of the declarations compared.
empty_macros() {
	nocomment "$@" | sed -nE 's/^[ \t]*#[ \t]*define[ \t]+([A-Za-z_][A-Za-z0-9_]*)[ \t]*$/\1/p' |
		sort -u | tr '\n' ' '
}

# "name<TAB>return type<TAB>declaration" for every function that the headers
# $@ declare or define (static inline ones included), the declaration
# normalised by norm(). Preprocessor lines and __cplusplus blocks are
# skipped; function bodies, struct bodies and typedefs are not functions.
c_functions() {
	nocomment "$@" | awk '
		/^[ \t]*#[ \t]*if(n?def)?[ \t].*__cplusplus/ { cpp = 1; lvl = 1; next }
		cpp {
			if ($0 ~ /^[ \t]*#[ \t]*if/) lvl++
			else if ($0 ~ /^[ \t]*#[ \t]*endif/ && !--lvl) cpp = 0
			next
		}
		pp { pp = ($0 ~ /\\$/); next }
		/^[ \t]*#/ { pp = ($0 ~ /\\$/); next }
		{ print }' |
	awk -v drop="$(empty_macros "$@")" "$awk_norm"'
		function emit(s,   p, name, ret) {
			p = norm(s)
			if (p ~ /^typedef[ (]/) return
			if (!match(p, /[A-Za-z_][A-Za-z0-9_]*\(/)) return
			name = substr(p, RSTART, RLENGTH - 1)
			ret = substr(p, 1, RSTART - 1); sub(/ $/, "", ret)
			if (ret !~ /[A-Za-z_]/ || ret ~ /[(=]/) return
			print name "\t" ret "\t" p
		}
		{ text = text $0 "\n" }
		END {
			n = length(text); stmt = ""; depth = 0
			for (i = 1; i <= n; i++) {
				c = substr(text, i, 1)
				if (depth) {
					if (c == "{") depth++
					else if (c == "}") depth--
					continue
				}
				if (c == "{") { emit(stmt); stmt = ""; depth = 1; continue }
				if (c == ";") { emit(stmt); stmt = ""; continue }
				stmt = stmt c
			}
		}'
}

# The page that man/$1 stands for: itself, or the target of its ".so"
# (followed up to 4 times); empty if a target is missing.
resolve_page() {
	local f=$mandir/$1 so i
	for i in 1 2 3 4 5; do
		[ -r "$f" ] || return 0
		so=$(grep -vE '^\.\\"|^[ \t]*$' "$f" | sed -nE '1{/^\.so[ \t]+/{s/^\.so[ \t]+//; s/[ \t]+$//; p}}')
		if [ -z "$so" ] || [ "$(grep -vcE '^\.\\"|^[ \t]*$' "$f")" -ne 1 ]; then
			echo "$f"
			return 0
		fi
		f=$mandir/$so
	done
}

# The text of the ".SH $2" section of page $1, roff requests left out and
# the arguments of font macros joined as roff prints them (".BI "int f(" x
# ");"" is "int f(x);"), font and dash escapes resolved.
man_section() {
	awk -v want="$2" '
		/^\.SH/ {
			s = $0; sub(/^\.SH[ \t]*/, "", s); gsub(/"/, "", s)
			gsub(/[ \t]+/, " ", s); sub(/ $/, "", s)
			insec = (s == want); next
		}
		!insec || /^\.\\"/ { next }
		/^\.[A-Za-z]/ {
			m = $0; sub(/[ \t].*/, "", m); sub(/^\./, "", m)
			if (m !~ /^(B|I|SM|SB|BI|IB|BR|RB|IR|RI)$/) next
			line = $0; sub(/^\.[A-Za-z]+[ \t]*/, "", line)
			sep = (length(m) == 2 && m != "SM" && m != "SB") ? "" : " "
			out = ""; first = 1
			while (1) {
				sub(/^[ \t]+/, "", line)
				if (line == "") break
				if (substr(line, 1, 1) == "\"") {
					line = substr(line, 2); i = index(line, "\"")
					if (!i) { arg = line; line = "" }
					else { arg = substr(line, 1, i - 1); line = substr(line, i + 1) }
				} else {
					match(line, /^[^ \t]+/); arg = substr(line, 1, RLENGTH)
					line = substr(line, RLENGTH + 1)
				}
				out = out (first ? "" : sep) arg; first = 0
			}
			$0 = out
		}
		{
			gsub(/\\f(\[[^]]*\]|\(..|.)/, ""); gsub(/\\-/, "-"); gsub(/\\&/, "")
			gsub(/\\\(em/, "-"); gsub(/\\e/, "\\"); print
		}' "$1"
}

# "name<TAB>declaration" for each prototype of the SYNOPSIS of page $1,
# normalised as the headers' declarations are.
man_prototypes() {
	man_section "$1" SYNOPSIS | grep -v '#[ \t]*include' | tr '\n' ' ' | tr ';' '\n' |
	awk -v drop="$empty_macros_all" "$awk_norm"'
		{
			p = norm($0)
			if (!match(p, /[A-Za-z_][A-Za-z0-9_]*\(/)) next
			name = substr(p, RSTART, RLENGTH - 1)
			print name "\t" p
		}'
}

# The names of the NAME section of page $1 (before "\-").
man_names() {
	man_section "$1" NAME | tr '\n' ' ' | sed -E 's/ - .*//; s/[, \t]+/\n/g' | sed '/^$/d'
}

# The .SH headings of page $1, one a line, blanks normalised.
man_headings() {
	sed -nE '/^\.SH/{s/^\.SH[ \t]*//; s/"//g; s/[ \t]+/ /g; s/ $//; p}' "$1"
}

: > "$tmp/cfuncs"
: > "$tmp/hdrs"
empty_macros_all=
if [ ${#hdrs[@]} -gt 0 ]; then
	c_functions "${hdrs[@]}" | awk -F'\t' '$1 !~ /^_/' | sort -u > "$tmp/cfuncs"
	empty_macros_all=$(empty_macros "${hdrs[@]}")
	nocomment "${hdrs[@]}" > "$tmp/hdrs"
fi
libfuncs=$([ -r "$lib" ] && c_functions "$lib" | cut -f1 | grep -v '^_' | sort -u)
winfuncs=$([ -r "$win" ] && c_functions "$win" | cut -f1 | grep -v '^_' | sort -u)
# Names a page may also document: function-like macros, and macros that
# name a function (WSASocket for WSASocketA / WSASocketW).
macronames=$( (sed -nE 's/^[ \t]*#[ \t]*define[ \t]+([A-Za-z_][A-Za-z0-9_]*)\(.*/\1/p' "$tmp/hdrs"
	sed -nE 's/^[ \t]*#[ \t]*define[ \t]+([A-Za-z_][A-Za-z0-9_]*)[ \t]+([A-Za-z_][A-Za-z0-9_]*)[ \t]*$/\1 \2/p' "$tmp/hdrs" |
		while read -r a b; do grep -qx -- "$b" <(cut -f1 "$tmp/cfuncs") && echo "$a"; done) | sort -u)
shopt -s nullglob
man3=("$mandir"/man3/*.3)
manall=("$mandir"/man[1-9]/*.[1-9])
shopt -u nullglob

# 18. every public function of lib/iocp.h and lib/iocp/win32.h (static
#     inline ones included) has its page man/man3/NAME.3
if [ ${#hdrs[@]} -eq 0 ]; then
	add man3_page_per_function skip "lib/iocp.h, lib/iocp/win32.h not present"
else
	d=()
	if [ -r "$lib" ] && [ -z "$libfuncs" ]; then
		d+=("# no function found in lib/iocp.h")
	fi
	m=$(for n in $libfuncs; do [ -f "$mandir/man3/$n.3" ] || echo "$n"; done | join)
	[ -n "$m" ] && d+=("# no page for (lib/iocp.h): $m")
	m=$(for n in $winfuncs; do [ -f "$mandir/man3/$n.3" ] || echo "$n"; done | join)
	[ -n "$m" ] && d+=("# no page for (lib/iocp/win32.h): $m")
	if [ ${#d[@]} -eq 0 ]; then
		add man3_page_per_function ok
	else
		add man3_page_per_function "not ok" "${d[@]}"
	fi
fi

# 19. every page man/man3/NAME.3 names a function of those headers (or a
#     function-like macro, or a macro naming a function): no stale page
if [ ${#man3[@]} -eq 0 ]; then
	add man3_pages_name_functions "not ok" "# no page in man/man3"
else
	x=$(for f in "${man3[@]}"; do
		n=$(basename "$f" .3)
		grep -qx -- "$n" <( (cut -f1 "$tmp/cfuncs"; echo "$macronames") ) || echo "$n.3"
	done | join)
	if [ -n "$x" ]; then
		add man3_pages_name_functions "not ok" "# not a function of lib/iocp.h or lib/iocp/win32.h: $x"
	else
		add man3_pages_name_functions ok
	fi
fi

# 20. every page (.so links resolved) formats without a warning:
#     groff -man -ww -z, run in man/ so that ".so man3/X.3" resolves
if ! command -v groff >/dev/null; then
	add man_pages_groff_clean skip "groff not installed"
elif [ ${#manall[@]} -eq 0 ]; then
	add man_pages_groff_clean "not ok" "# no page in man/"
else
	d=()
	for f in "${manall[@]}"; do
		rel=${f#"$mandir"/}
		out=$(cd "$mandir" && groff -man -ww -z "$rel" 2>&1 | head -n 3)
		[ -n "$out" ] && d+=("$(sed "s|^|# $rel: |" <<<"$out")")
	done
	if [ ${#d[@]} -eq 0 ]; then
		add man_pages_groff_clean ok
	else
		add man_pages_groff_clean "not ok" "${d[@]}"
	fi
fi

# 21. every page (.so links resolved) lints clean with mandoc: no message
#     above style level, but for the warning that every .so link page gets
if ! command -v mandoc >/dev/null; then
	add man_pages_mandoc_clean skip "mandoc not installed"
elif [ ${#manall[@]} -eq 0 ]; then
	add man_pages_mandoc_clean "not ok" "# no page in man/"
else
	d=()
	for f in "${manall[@]}"; do
		rel=${f#"$mandir"/}
		out=$(cd "$mandir" && mandoc -T lint -W warning "$rel" 2>&1 |
		      grep -v ': WARNING: \.so is fragile, better use ln(1): so ' | head -n 3)
		[ -n "$out" ] && d+=("$(sed 's/^/# /' <<<"$out")")
	done
	if [ ${#d[@]} -eq 0 ]; then
		add man_pages_mandoc_clean ok
	else
		add man_pages_mandoc_clean "not ok" "${d[@]}"
	fi
fi

# 22. every page has the sections NAME, SYNOPSIS (man3), DESCRIPTION,
#     RETURN VALUE (a man3 page of a function that returns a value) and
#     SEE ALSO, and the NAME of a man3 page names its function (.so links:
#     the page they point to)
if [ ${#manall[@]} -eq 0 ]; then
	add man_pages_sections "not ok" "# no page in man/"
else
	d=()
	for f in "${manall[@]}"; do
		rel=${f#"$mandir"/}
		n=$(basename "$f"); n=${n%.*}
		p=$(resolve_page "$rel")
		if [ -z "$p" ]; then
			d+=("# $rel: .so target missing")
			continue
		fi
		want="NAME DESCRIPTION SEE_ALSO"
		if [[ $rel == man3/* ]]; then
			want="NAME SYNOPSIS DESCRIPTION SEE_ALSO"
			ret=$(awk -F'\t' -v n="$n" '$1 == n { print $2; exit }' "$tmp/cfuncs")
			[ -n "$ret" ] && [ "$ret" != void ] && want="$want RETURN_VALUE"
			man_names "$p" | grep -qx -- "$n" || d+=("# $rel: NAME does not name $n")
		fi
		man_headings "$p" | tr ' ' _ > "$tmp/headings"
		m=$(missing_words "$want" "$tmp/headings" | tr _ ' ' | paste -sd, -)
		[ -n "$m" ] && d+=("# $rel: no section $m")
	done
	if [ ${#d[@]} -eq 0 ]; then
		add man_pages_sections ok
	else
		add man_pages_sections "not ok" "${d[@]}"
	fi
fi

# 23. the SYNOPSIS of each man3 page of a function has its prototype, as
#     the header declares it (blanks, static inline and empty macros such
#     as WINAPI aside), and every prototype of a SYNOPSIS that names a
#     function of the headers is that function's
if [ ${#man3[@]} -eq 0 ]; then
	add man3_synopsis_matches_header "not ok" "# no page in man/man3"
else
	d=()
	for f in "${man3[@]}"; do
		rel=${f#"$mandir"/}
		n=$(basename "$f" .3)
		p=$(resolve_page "$rel")
		[ -n "$p" ] || continue		# check 22's
		man_prototypes "$p" > "$tmp/protos"
		decl=$(awk -F'\t' -v n="$n" '$1 == n { print $3; exit }' "$tmp/cfuncs")
		if [ -n "$decl" ] && ! awk -F'\t' -v n="$n" '$1 == n { f = 1 } END { exit !f }' "$tmp/protos"; then
			d+=("# $rel: no prototype of $n in SYNOPSIS")
		fi
		[ "$p" = "$f" ] || continue	# the prototypes of the page it points to are that page's
		while IFS=$'\t' read -r pn proto; do
			hd=$(awk -F'\t' -v n="$pn" '$1 == n { print $3; exit }' "$tmp/cfuncs")
			[ -n "$hd" ] || continue
			[ "$proto" = "$hd" ] || d+=("# $rel: SYNOPSIS: $proto" "#   header: $hd")
		done < "$tmp/protos"
	done
	if [ ${#d[@]} -eq 0 ]; then
		add man3_synopsis_matches_header ok
	else
		add man3_synopsis_matches_header "not ok" "${d[@]}"
	fi
fi

# 24. iocp(7) refers to the page of every function of lib/iocp.h, as
#     "NAME(3)" or ".BR NAME (3)"
if [ ! -r "$mandir/man7/iocp.7" ]; then
	add iocp7_mentions_lib_pages "not ok" "# man/man7/iocp.7 not present"
else
	sed -E 's/\\f(\[[^]]*\]|\(..|.)//g; s/\\&//g' "$mandir/man7/iocp.7" > "$tmp/iocp7"
	m=$(for n in $libfuncs; do
		grep -qE "(^|[^A-Za-z0-9_])$n ?\(3\)" "$tmp/iocp7" || echo "$n"
	done | join)
	if [ -n "$m" ]; then
		add iocp7_mentions_lib_pages "not ok" "# not mentioned: $m"
	else
		add iocp7_mentions_lib_pages ok
	fi
fi

echo "1..${#names[@]}"
fail=0
for i in "${!names[@]}"; do
	n=$((i + 1))
	case ${results[$i]} in
	ok)	echo "ok $n ${names[$i]}" ;;
	skip)	echo "ok $n ${names[$i]} # SKIP ${diags[$i]}"; continue ;;
	*)	echo "not ok $n ${names[$i]}"; fail=1 ;;
	esac
	[ -n "${diags[$i]}" ] && echo "${diags[$i]}"
done
exit $fail
