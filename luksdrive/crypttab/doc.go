// Package crypttab reads /etc/crypttab and /etc/fstab as crypttab(5) and
// fstab(5) define them, and maps each crypttab line (with the fstab line
// that mounts its mapping) onto an extdrive drive entry, so that users who
// already unlock their backup drives with crypttab/fstab/scripts can move
// to extdrive without retyping UUIDs and key paths.
//
// Parsing never stops at a bad line: every line is either an entry or a
// *SyntaxError naming the line, so an import can report each one.
package crypttab
