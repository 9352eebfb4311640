// Package probe identifies filesystems, LUKS headers and partition tables
// by reading their superblocks, the way blkid -p does, without udev.
//
// Minimal systems (an initramfs, a container, a box whose udev rules were
// never installed) have no /dev/disk/by-uuid links, yet users name their
// drives by UUID or label. Every probe here is a pure function over an
// io.ReaderAt, so it works on block devices and image files alike and is
// tested against images made by the real mkfs tools, with blkid as the
// reference.
//
// Supported: LUKS1, LUKS2, ext2/3/4, vfat (FAT12/16/32), exFAT, btrfs and
// XFS, plus GPT and MBR partition tables (PARTUUID and PARTLABEL).
package probe
