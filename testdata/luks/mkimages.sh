#!/bin/sh
# Builds the small LUKS test images of package luksdrive with cryptsetup.
# UUIDs are fixed so tests can name the images; salts and volume keys are
# random, so tests compare against cryptsetup on the same image rather
# than against constants. KDF costs are the cheapest cryptsetup accepts,
# so a host test opens every image in milliseconds.
#
# Usage: testdata/luks/mkimages.sh   (from anywhere; needs cryptsetup >= 2.4)
# Writes NAME.img.gz (and keyfile.bin, luks2-detached.hdr.gz) next to
# this script. Tests gunzip them into a temporary directory.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

uuid() { printf 'e5d1a9c0-0000-4000-8000-%012d' "$1"; }
cheap2="--pbkdf-force-iterations 4 --pbkdf-memory 32"
l2="--type luks2 --luks2-metadata-size 16k --luks2-keyslots-size 1m"
# LUKS2 data starts right after two 16 KiB headers and the 1 MiB keyslot area.
l2off=$(( (2*16384 + 1048576) / 512 ))

# fmt NAME SIZE_KIB PASSPHRASE cryptsetup-luksFormat-options...
fmt() {
	name=$1 size=$2 pass=$3; shift 3
	rm -f "$tmp/$name.img"
	truncate -s "${size}K" "$tmp/$name.img"
	printf '%s' "$pass" | cryptsetup luksFormat -q --key-file - "$@" "$tmp/$name.img" 2>/dev/null
}

# add NAME EXISTING_PASS NEW_PASS cryptsetup-luksAddKey-options...
add() {
	name=$1 old=$2 new=$3; shift 3
	printf '%s' "$new" >"$tmp/new"
	printf '%s' "$old" | cryptsetup luksAddKey -q --key-file - "$@" "$tmp/$name.img" "$tmp/new"
}

head -c 4096 /dev/urandom >keyfile.bin
chmod 600 keyfile.bin

fmt luks2-argon2id 1120 extdrive-argon2id $l2 --offset $l2off --uuid "$(uuid 1)" \
	--cipher aes-xts-plain64 --key-size 512 --sector-size 512 --pbkdf argon2id $cheap2 --pbkdf-parallel 1
fmt luks2-argon2i 1120 extdrive-argon2i $l2 --offset $l2off --uuid "$(uuid 2)" \
	--cipher aes-xts-plain64 --key-size 256 --sector-size 4096 --pbkdf argon2i $cheap2 --pbkdf-parallel 2
fmt luks2-pbkdf2-sha1 1120 extdrive-sha1 $l2 --offset $l2off --uuid "$(uuid 3)" \
	--cipher aes-xts-plain64 --key-size 256 --sector-size 512 --pbkdf pbkdf2 --hash sha1 --pbkdf-force-iterations 1000
fmt luks2-pbkdf2-sha256 1120 extdrive-sha256 $l2 --offset $l2off --uuid "$(uuid 4)" \
	--cipher aes-cbc-essiv:sha256 --key-size 256 --sector-size 4096 --pbkdf pbkdf2 --hash sha256 --pbkdf-force-iterations 1000
fmt luks2-pbkdf2-sha512 1120 extdrive-sha512 $l2 --offset $l2off --uuid "$(uuid 5)" \
	--cipher aes-xts-plain64 --key-size 256 --sector-size 512 --pbkdf pbkdf2 --hash sha512 --pbkdf-force-iterations 1000
# sha3-256 for AF and digest: left to luks.go (Unlock's fallback).
fmt luks2-sha3 1120 extdrive-sha3 $l2 --offset $l2off --uuid "$(uuid 9)" \
	--cipher aes-xts-plain64 --key-size 256 --sector-size 512 --hash sha3-256 --pbkdf argon2id $cheap2 --pbkdf-parallel 1

# Four keyslots: passphrases in 0-2, the key file in 3 with an
# extdrive-keyfile token; slot 1 preferred, slot 2 ignored unless named.
fmt luks2-4slots 1120 slot0-pass $l2 --offset $l2off --uuid "$(uuid 6)" \
	--cipher aes-xts-plain64 --key-size 256 --sector-size 512 --pbkdf argon2id $cheap2 --pbkdf-parallel 1
add luks2-4slots slot0-pass slot1-pass --key-slot 1 --pbkdf argon2id $cheap2 --pbkdf-parallel 1
add luks2-4slots slot0-pass slot2-pass --key-slot 2 --pbkdf argon2id $cheap2 --pbkdf-parallel 1
printf '%s' slot0-pass | cryptsetup luksAddKey -q --key-file - --key-slot 3 --pbkdf argon2id $cheap2 --pbkdf-parallel 1 \
	"$tmp/luks2-4slots.img" keyfile.bin
cryptsetup config --key-slot 1 --priority prefer "$tmp/luks2-4slots.img"
cryptsetup config --key-slot 2 --priority ignore "$tmp/luks2-4slots.img"
printf '{"type":"extdrive-keyfile","keyslots":["3"],"key_file":"/extdrive/test.key","key_device":"LABEL=KEYSTICK"}' |
	cryptsetup token import --token-id 0 "$tmp/luks2-4slots.img"

# The same volume key opens with bytes 100-163 of the key file
# (--keyfile-offset 100 --keyfile-size 64).
fmt luks2-keyfile-offset 1120 unused-pass $l2 --offset $l2off --uuid "$(uuid 7)" \
	--cipher aes-xts-plain64 --key-size 256 --sector-size 512 --pbkdf pbkdf2 --hash sha256 --pbkdf-force-iterations 1000
printf '%s' unused-pass | cryptsetup luksAddKey -q --key-file - --key-slot 1 --new-keyfile-offset 100 --new-keyfile-size 64 \
	--pbkdf pbkdf2 --pbkdf-force-iterations 1000 "$tmp/luks2-keyfile-offset.img" keyfile.bin
cryptsetup luksKillSlot -q "$tmp/luks2-keyfile-offset.img" 0 </dev/null

# Detached header: the data file has no header at all.
rm -f "$tmp/luks2-detached.hdr"
truncate -s 64K "$tmp/luks2-detached.img"
printf '%s' extdrive-detached | cryptsetup luksFormat -q --key-file - $l2 --uuid "$(uuid 8)" \
	--header "$tmp/luks2-detached.hdr" --cipher aes-xts-plain64 --key-size 256 --sector-size 512 \
	--pbkdf pbkdf2 --pbkdf-force-iterations 1000 "$tmp/luks2-detached.img" 2>/dev/null

# LUKS1, as cryptsetup 1.x made them: cbc-essiv:sha256 with sha1 was the
# default before 1.6; xts-plain64 with sha256 after.
l1="--type luks1 --pbkdf-force-iterations 1000 --align-payload 8"
fmt luks1-cbc-essiv 1100 extdrive-essiv $l1 --uuid "$(uuid 11)" --cipher aes-cbc-essiv:sha256 --key-size 256 --hash sha1
fmt luks1-xts 2200 extdrive-xts $l1 --uuid "$(uuid 12)" --cipher aes-xts-plain64 --key-size 512 --hash sha256
fmt luks1-cbc-plain 1100 extdrive-plain $l1 --uuid "$(uuid 13)" --cipher aes-cbc-plain64 --key-size 128 --hash sha512
add luks1-cbc-plain extdrive-plain second-pass --key-slot 5 --pbkdf-force-iterations 1000

# Not LUKS: an ext4 image for ErrNotLUKS.
rm -f "$tmp/ext4.img"
truncate -s 1M "$tmp/ext4.img"
mkfs.ext4 -q -O ^has_journal -U "$(uuid 20)" -L notluks "$tmp/ext4.img"

# slim FILE: cryptsetup fills unused keyslot space with random bytes,
# which do not compress; zero everything in the keyslot area except the
# active keyslots, which is what cryptsetup reads.
slim() {
	img=$1
	dump=$(cryptsetup luksDump "$img" 2>/dev/null) || return 0
	if printf '%s\n' "$dump" | grep -q '^Version:[[:space:]]*1$'; then
		kb=$(printf '%s\n' "$dump" | sed -n 's/^MK bits:[[:space:]]*//p')
		len=$(( (kb / 8 * 4000 + 511) / 512 * 512 ))
		start=4096
		end=$(( $(printf '%s\n' "$dump" | sed -n 's/^Payload offset:[[:space:]]*//p') * 512 ))
		[ "$end" -gt 0 ] || end=$(( 2 << 20 ))
		areas=$(printf '%s\n' "$dump" | sed -n 's/^[[:space:]]*Key material offset:[[:space:]]*//p' |
			while read -r s; do echo "$((s * 512)) $len"; done)
	else
		start=32768 end=$((32768 + 1048576))
		areas=$(printf '%s\n' "$dump" | sed -n 's/^[[:space:]]*Area offset:\([0-9]*\).*/\1/p; s/^[[:space:]]*Area length:\([0-9]*\).*/\1/p' | paste - -)
	fi
	printf '%s\n' "$areas" | while read -r off len; do
		[ -n "$off" ] && dd if="$img" of="$tmp/area.$off" bs=512 skip=$((off / 512)) count=$((len / 512)) status=none
	done
	dd if=/dev/zero of="$img" bs=512 seek=$((start / 512)) count=$(((end - start) / 512)) conv=notrunc status=none
	printf '%s\n' "$areas" | while read -r off len; do
		[ -n "$off" ] && dd if="$tmp/area.$off" of="$img" bs=512 seek=$((off / 512)) conv=notrunc status=none
		rm -f "$tmp/area.$off"
	done
}

for f in "$tmp"/*.img "$tmp"/*.hdr; do
	slim "$f"
	gzip -9 -n -c "$f" >"$(basename "$f").gz"
done
ls -l
